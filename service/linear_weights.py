"""Standardised linear weights in a small versioned JSON file: the learned abstention decision
(service/abstention_model.py) and the passage chooser (service/passage_choice.py) both ship one.

Why one reader: both files are written by a training script and read at start-up, and a stale or damaged
file must be refused by name rather than silently mis-decide or mis-rank — the same checks for both (format,
feature list, one value per feature, positive scales), so neither can drift from the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weights_json(fmt: int, features: Sequence[str], mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
                 intercept: float) -> dict:
    """The shared fields of a weights file (the model adds its own after them)."""
    return {"format": fmt, "features": list(features), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": coef.tolist(), "intercept": intercept}


def check_format(data: dict, fmt: int, features: Sequence[str], what: str, command: str) -> None:
    """ValueError naming `what` and the `command` that retrains it unless the file is of `fmt` and
    `features` — the check every shipped model file (linear weights, the re-ranker's trees) starts with."""
    if data.get("format") != fmt or tuple(data.get("features", ())) != tuple(features):
        raise ValueError(f"{what} weights are of another format or feature list; retrain them with "
                         f"`{command}`")


def read_weights(data: dict, fmt: int, features: Sequence[str], what: str,
                 command: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coef, intercept) of a weights file, after checking it is of `fmt` and `features`, with
    one value per feature and positive scales; ValueError naming `what` and the `command` that retrains it."""
    check_format(data, fmt, features, what, command)
    mean, scale, coef = (np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
    if any(a.shape != (len(features),) for a in (mean, scale, coef)) or not np.all(scale > 0):
        raise ValueError(f"{what} weights: mean, scale and coef need one value per feature, scale > 0")
    return mean, scale, coef, float(data["intercept"])
