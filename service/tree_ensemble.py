"""A boosted ensemble of binary decision trees, evaluated with numpy alone.

Why by hand: the re-ranker's trees are fitted with scikit-learn's histogram gradient boosting at training time
(`evals/train_rerank.py`), but the service should not load a pickle (a code-executing, version-bound format)
nor need scikit-learn at run time to walk a few hundred small trees. The trees are stored as plain arrays in
JSON (which feature, which threshold, which children, the leaf values) and evaluated here for all trees and
all rows at once, one tree level per step, so scoring ten candidates costs a handful of numpy operations.

Semantics are scikit-learn's numeric splits: a row goes left when its value is <= the node's threshold, and
a missing value (NaN) goes the side the node recorded; the raw score is the baseline plus every tree's leaf
value (the learning rate is already applied to the leaves). `tests/test_tree_ensemble.py` checks the result
against scikit-learn's own `decision_function`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

NODE_FIELDS = ("feature", "threshold", "left", "right", "leaf", "value", "missing_left")


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees padded to one node count: arrays of shape (trees, nodes); node 0 is each tree's root."""

    feature: np.ndarray  # int64: the feature a split reads (unused at leaves)
    threshold: np.ndarray  # float64: go left when value <= threshold
    left: np.ndarray  # int64: child indices within the same tree
    right: np.ndarray
    leaf: np.ndarray  # bool
    value: np.ndarray  # float64: a leaf's contribution to the raw score
    missing_left: np.ndarray  # bool: where a NaN goes
    size: np.ndarray  # int64 (trees,): each tree's real node count (the rest is padding)
    baseline: float
    n_features: int
    max_depth: int  # the longest root-to-leaf path: how many steps evaluation takes

    @cached_property
    def _flat(self) -> tuple[np.ndarray, ...]:
        """The node arrays flattened, children as flat ids (tree × width + node): each evaluation step is
        then a 1-D gather. Computed once per ensemble."""
        n_trees, width = self.feature.shape
        base = np.repeat(np.arange(n_trees) * width, width)
        return (self.feature.ravel(), self.threshold.ravel(), self.leaf.ravel(), self.missing_left.ravel(),
                self.left.ravel() + base, self.right.ravel() + base, self.value.ravel())

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(rows,) raw scores (log-odds for a classifier) of `x`, shape (rows, n_features)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected (rows, {self.n_features}) features, got {x.shape}")
        feature, threshold, leaf, missing_left, left, right, value = self._flat
        n_trees, width = self.feature.shape
        rows = x.shape[0]
        node = np.repeat(np.arange(n_trees) * width, rows)  # every (tree, row) at its tree's root
        cell = np.tile(np.arange(rows) * self.n_features, n_trees)  # where each row's features start
        flat_x = x.ravel()
        for _ in range(self.max_depth):
            at_leaf = leaf[node]
            if at_leaf.all():
                break
            values = flat_x[cell + feature[node]]
            go_left = np.where(np.isnan(values), missing_left[node], values <= threshold[node])
            node = np.where(at_leaf, node, np.where(go_left, left[node], right[node]))
        return self.baseline + value[node].reshape(n_trees, rows).sum(axis=0)

    def to_json(self) -> dict[str, Any]:
        """Per tree, its nodes' fields as lists (padding dropped): readable, diffable, no pickle."""
        trees = []
        for t in range(self.feature.shape[0]):
            n = int(self.size[t])
            trees.append({
                "feature": self.feature[t, :n].tolist(), "threshold": self.threshold[t, :n].tolist(),
                "left": self.left[t, :n].tolist(), "right": self.right[t, :n].tolist(),
                "leaf": [int(v) for v in self.leaf[t, :n]], "value": self.value[t, :n].tolist(),
                "missing_left": [int(v) for v in self.missing_left[t, :n]],
            })  # fmt: skip
        return {"baseline": self.baseline, "n_features": self.n_features, "trees": trees}

    @classmethod
    def from_trees(cls, trees: list[dict[str, list]], baseline: float, n_features: int) -> TreeEnsemble:
        """Validate and pad. Raises ValueError naming the tree when a node list is malformed: a child out of
        range, a split on a feature that does not exist, a tree whose nodes do not all hang off its root
        exactly once (a cycle or an orphan would make evaluation wrong or endless)."""
        if not trees:
            raise ValueError("tree ensemble: no trees")
        if n_features < 1:
            raise ValueError("tree ensemble: n_features must be positive")
        width = max(len(t.get("feature", [])) for t in trees)
        arrays = {name: np.zeros((len(trees), width), dtype=dtype) for name, dtype in (
            ("feature", np.int64), ("threshold", np.float64), ("left", np.int64), ("right", np.int64),
            ("leaf", bool), ("value", np.float64), ("missing_left", bool))}
        arrays["leaf"][:] = True  # padding is an unreachable leaf worth nothing
        depth = 0
        size = np.zeros(len(trees), dtype=np.int64)
        for t, tree in enumerate(trees):
            if set(tree) != set(NODE_FIELDS):
                raise ValueError(f"tree {t}: fields {sorted(tree)}, expected {sorted(NODE_FIELDS)}")
            n = len(tree["feature"])
            if n == 0 or any(len(tree[f]) != n for f in NODE_FIELDS):
                raise ValueError(f"tree {t}: node lists of different lengths or empty")
            for name in NODE_FIELDS:
                arrays[name][t, :n] = tree[name]
            size[t] = n
            depth = max(depth, _check_tree(t, arrays, n, n_features))
        return cls(**arrays, size=size, baseline=float(baseline), n_features=int(n_features),
                   max_depth=depth)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeEnsemble:
        try:
            return cls.from_trees(list(data["trees"]), float(data["baseline"]), int(data["n_features"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"tree ensemble: malformed ({exc})") from exc


def _check_tree(t: int, arrays: dict[str, np.ndarray], n: int, n_features: int) -> int:
    """The depth of tree `t` after checking that its first `n` nodes form one tree rooted at node 0."""
    seen = np.zeros(n, dtype=bool)
    stack, depth = [(0, 0)], 0
    while stack:
        node, d = stack.pop()
        if seen[node]:
            raise ValueError(f"tree {t}: node {node} is reached twice")
        seen[node] = True
        depth = max(depth, d)
        if arrays["leaf"][t, node]:
            continue
        if not 0 <= arrays["feature"][t, node] < n_features:
            raise ValueError(f"tree {t}: node {node} splits on feature {arrays['feature'][t, node]}")
        if not np.isfinite(arrays["threshold"][t, node]):
            raise ValueError(f"tree {t}: node {node} has a non-finite threshold")
        for child in (arrays["left"][t, node], arrays["right"][t, node]):
            if not 0 < child < n:
                raise ValueError(f"tree {t}: node {node} has a child {child} outside the tree")
            stack.append((int(child), d + 1))
    if not seen.all():
        raise ValueError(f"tree {t}: nodes {np.flatnonzero(~seen).tolist()} hang off no parent")
    if not np.isfinite(arrays["value"][t, :n][arrays["leaf"][t, :n]]).all():
        raise ValueError(f"tree {t}: a leaf value is not finite")
    return depth
