"""The numpy tree evaluator (service/tree_ensemble.py) against scikit-learn, and its refusals."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from evals.boosted_trees import TreeSettings, export, fit_trees
from service.tree_ensemble import TreeEnsemble


def _data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    y = ((x[:, 0] + x[:, 1] * x[:, 2] > 0) ^ (x[:, 4] > 1.5)).astype(int)  # an interaction and a step
    return x, y


def _fitted():
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _data(1500)
    x[::13, 3] = np.nan  # missing values: each node records where they go
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, early_stopping=False,
                                           random_state=0).fit(x, y)
    return model


def test_exported_trees_score_exactly_as_scikit_learn_including_missing_values() -> None:
    model = _fitted()
    trees = export(model, 6, decimals=None)
    x, _ = _data(400, seed=1)
    x[::7, 3] = np.nan
    x[::11, 0] = np.nan
    assert np.allclose(trees.raw(x), model.decision_function(x), rtol=0, atol=1e-12)
    assert trees.max_depth >= 2 and trees.feature.shape[0] == 40


def test_the_json_round_trip_keeps_every_score() -> None:
    trees = export(_fitted(), 6)
    again = TreeEnsemble.from_json(json.loads(json.dumps(trees.to_json())))
    x, _ = _data(200, seed=2)
    assert np.array_equal(again.raw(x), trees.raw(x))


def test_the_same_rows_give_the_same_trees() -> None:
    x, y = _data(800)
    settings = TreeSettings(leaves=7, min_leaf=20, rounds=20)
    assert fit_trees(x, y, settings).to_json() == fit_trees(x.copy(), y.copy(), settings).to_json()


def test_a_single_leaf_tree_scores_its_value() -> None:
    leaf = {"feature": [0], "threshold": [0.0], "left": [0], "right": [0], "leaf": [1], "value": [0.25],
            "missing_left": [0]}
    trees = TreeEnsemble.from_trees([leaf, leaf], baseline=-1.0, n_features=3)
    assert trees.raw(np.zeros((4, 3))).tolist() == [-0.5] * 4


def _stump() -> dict:
    return {"feature": [1, 0, 0], "threshold": [0.5, 0.0, 0.0], "left": [1, 0, 0], "right": [2, 0, 0],
            "leaf": [0, 1, 1], "value": [0.0, -1.0, 2.0], "missing_left": [1, 0, 0]}


def test_a_stump_sends_values_at_the_threshold_and_missing_values_left() -> None:
    trees = TreeEnsemble.from_trees([_stump()], baseline=0.0, n_features=2)
    x = np.array([[9.0, 0.5], [9.0, 0.6], [9.0, np.nan], [9.0, -3.0]])
    assert trees.raw(x).tolist() == [-1.0, 2.0, -1.0, -1.0]


def _add_orphan(tree: dict) -> None:
    """A fourth node, a leaf that no split points to."""
    for field, value in (("feature", 0), ("threshold", 0.0), ("left", 0), ("right", 0), ("leaf", 1),
                         ("value", 1.0), ("missing_left", 0)):
        tree[field].append(value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.update(left=[2, 0, 0]), "reached twice"),  # both children the same node
    (lambda t: t.update(right=[3, 0, 0]), "outside the tree"),
    (lambda t: t.update(left=[0, 0, 0]), "outside the tree"),  # back to the root: a cycle
    (lambda t: t.update(feature=[5, 0, 0]), "splits on feature 5"),
    (lambda t: t.update(threshold=[float("nan"), 0.0, 0.0]), "non-finite threshold"),
    (lambda t: t.update(value=[0.0, float("inf"), 2.0]), "leaf value"),
    (lambda t: t.update(leaf=[0, 1]), "different lengths"),
    (lambda t: t.pop("missing_left"), "fields"),
    (lambda t: _add_orphan(t), "hang off no parent"),
])  # fmt: skip
def test_malformed_trees_are_refused_by_name(change, message) -> None:
    tree = copy.deepcopy(_stump())
    change(tree)
    with pytest.raises(ValueError, match=message):
        TreeEnsemble.from_trees([_stump(), tree], baseline=0.0, n_features=2)


def test_wrong_input_width_and_malformed_json_are_errors() -> None:
    trees = TreeEnsemble.from_trees([_stump()], baseline=0.0, n_features=2)
    with pytest.raises(ValueError, match="expected"):
        trees.raw(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="malformed"):
        TreeEnsemble.from_json({"trees": [_stump()]})
    with pytest.raises(ValueError, match="no trees"):
        TreeEnsemble.from_trees([], baseline=0.0, n_features=2)
