"""Second layer: embedding similarity to curated positive and negative exemplars, a safety net for recall.

The rules (detector.py) decide almost everything. This layer only ever *adds* a flag the rules did not raise:
a question that reads like a curated emergency exemplar (cosine >= `threshold`) and clearly more like it than
like any curated non-emergency exemplar (by >= `margin`). It never removes a rule's flag, because a similarity
score is not evidence that a stated red flag is absent.

The exemplars (exemplars.jsonl) are written independently of the evaluation set. `threshold` and `margin` are
chosen by `calibrate()` on the calibration split only (no calibration negative may fire, plus a safety gap),
and the resulting constants are recorded here and in docs/guardrails.md.

Cost: one MiniLM encoding (4 ms on 2 idle CPU cores, 7-9 ms when they are shared), so it runs only in the
rules' uncertain band: red-flag statements were seen but all set aside (negated, past, framed as teaching or
as management of an established diagnosis, or an incomplete combination). Questions without any red-flag
statement ("when can she drive after VP?") never reach the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXEMPLARS_PATH = Path(__file__).with_name("exemplars.jsonl")

# Calibrated on the calibration split (see calibrate.py and docs/guardrails.md).
THRESHOLD = 0.64
MARGIN = 0.05



@dataclass(frozen=True)
class Exemplar:
    id: str
    text: str
    label: bool
    category: str | None


@dataclass(frozen=True)
class ExemplarMatch:
    """The nearest positive exemplar and how far it beat the nearest negative one."""

    exemplar: Exemplar
    similarity: float
    margin: float


def load_exemplars(path: Path = EXEMPLARS_PATH) -> list[Exemplar]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Exemplar(r["id"], r["text"], bool(r["label"]), r.get("category")) for r in rows]



class ExemplarMatcher:
    """Cosine similarity of one text against the positive and negative exemplar matrices."""

    def __init__(
        self, embedder, exemplars: list[Exemplar], threshold: float = THRESHOLD, margin: float = MARGIN
    ):
        self._embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self._pos = [e for e in exemplars if e.label]
        self._neg = [e for e in exemplars if not e.label]
        self._pos_m = embedder.encode([e.text for e in self._pos])
        self._neg_m = embedder.encode([e.text for e in self._neg])

    def scores(self, text: str) -> tuple[int, float, float]:
        """(index of the nearest positive, its cosine, the nearest negative's cosine)."""
        v = self._embedder.encode([text])[0]
        pos = self._pos_m @ v
        neg = self._neg_m @ v
        i = int(np.argmax(pos))
        return i, float(pos[i]), float(neg.max()) if len(neg) else -1.0

    def match(self, text: str) -> ExemplarMatch | None:
        i, sim, neg = self.scores(text)
        if sim >= self.threshold and sim - neg >= self.margin:
            return ExemplarMatch(self._pos[i], sim, sim - neg)
        return None
