"""The learned abstention decision: a logistic regression over the support signals, with its threshold.

Why a small versioned JSON and numpy: the decision runs on every question, so it must cost a dot product, and
its weights must be reviewable and reproducible. `python -m evals.train_abstention` fits them on the tuning
authors' in-scope and out-of-scope questions and picks the threshold by leave-one-author-out (the cost it
minimises and the fold figures are written into the file and docs/answering.md). With no weights file the
service keeps the hand-set rule (service/abstention.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from service.abstention_features import FEATURES
from service.linear_weights import read_weights, weights_json

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "abstention.json"
FORMAT = 1


@dataclass(frozen=True)
class AbstentionModel:
    """P(the content covers the question) = sigmoid(standardised signals · coef + intercept); answer when it
    reaches `threshold`."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def probability(self, features: np.ndarray) -> np.ndarray | float:
        """For one feature row a float, for a (n, features) table an array."""
        z = ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        return float(p) if np.ndim(p) == 0 else p

    def covers(self, features: np.ndarray) -> bool:
        return bool(self.probability(features) >= self.threshold)

    def to_json(self, **about: object) -> dict:
        return {**weights_json(FORMAT, FEATURES, self.mean, self.scale, self.coef, self.intercept),
                "threshold": self.threshold, **about}

    @classmethod
    def from_json(cls, data: dict) -> AbstentionModel:
        """Refuses weights of another format or feature list: a stale file must not silently mis-decide."""
        weights = read_weights(data, FORMAT, FEATURES, "abstention", "python -m evals.train_abstention")
        return cls(*weights, float(data["threshold"]))


@lru_cache(maxsize=1)
def shipped_model() -> AbstentionModel | None:
    """The model in service/data/abstention.json, or None when no weights are shipped (the rule decides)."""
    if not WEIGHTS_PATH.exists():
        return None
    return AbstentionModel.from_json(json.loads(WEIGHTS_PATH.read_text(encoding="utf-8")))
