"""Fit boosted trees with scikit-learn and export them to the service's numpy evaluator.

Why a module of its own: the re-ranker's trainer fits them (evals/train_rerank.py) and the tests check that
the exported trees score exactly as scikit-learn does; neither the fit settings nor the export (which reads
the fitted predictors' node arrays, scikit-learn's own layout) should be written twice. Training-time only:
the service reads the exported JSON with service/tree_ensemble.py.

Deterministic: a fixed random state, no early stopping (which would hold out a random validation share),
and histograms built per feature, so the same rows give the same trees; thresholds and leaf values are
rounded to ROUND decimals so that the 13th-digit noise of the embedder's sums cannot change the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.tree_ensemble import TreeEnsemble

ROUND = 10


@dataclass(frozen=True)
class TreeSettings:
    """One point of the grid the trainer compares by leave-one-author-out."""

    leaves: int = 31  # max_leaf_nodes
    min_leaf: int = 40  # min_samples_leaf
    rounds: int = 200  # max_iter
    learning_rate: float = 0.05
    l2: float = 1.0

    def label(self) -> str:
        return f"trees {self.leaves} leaves, min {self.min_leaf}, {self.rounds} x {self.learning_rate:g}"


def fit_trees(x: np.ndarray, y: np.ndarray, settings: TreeSettings) -> TreeEnsemble:
    """A binary classifier of `y` on `x`, exported: its raw score orders candidates."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_leaf_nodes=settings.leaves, min_samples_leaf=settings.min_leaf, max_iter=settings.rounds,
        learning_rate=settings.learning_rate, l2_regularization=settings.l2, early_stopping=False,
        random_state=0,
    ).fit(x, y)
    return export(model, x.shape[1])


def export(model, n_features: int, decimals: int | None = ROUND) -> TreeEnsemble:
    """A fitted HistGradientBoostingClassifier (binary, numeric features) as a TreeEnsemble."""
    predictors = [p[0] for p in model._predictors]  # one tree per round for a binary classifier
    baseline = float(np.ravel(model._baseline_prediction)[0])

    def r(values: np.ndarray) -> list[float]:
        v = np.asarray(values, dtype=np.float64)
        return (np.round(v, decimals) if decimals is not None else v).tolist()

    trees = []
    for p in predictors:
        nodes = p.nodes
        if np.any(nodes["is_categorical"]):
            raise ValueError("categorical splits are not exported: the re-ranking features are numeric")
        trees.append({
            "feature": nodes["feature_idx"].astype(int).tolist(), "threshold": r(nodes["num_threshold"]),
            "left": nodes["left"].astype(int).tolist(), "right": nodes["right"].astype(int).tolist(),
            "leaf": nodes["is_leaf"].astype(int).tolist(), "value": r(nodes["value"]),
            "missing_left": nodes["missing_go_to_left"].astype(int).tolist(),
        })  # fmt: skip
    return TreeEnsemble.from_trees(trees, round(baseline, decimals) if decimals is not None else baseline,
                                   n_features)
