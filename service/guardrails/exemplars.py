"""Second layer: embedding similarity to curated positive and negative exemplars, a safety net for recall.

The rules (detector.py) decide almost everything. This layer only ever *adds* a flag the rules did not raise:
a question that reads like a curated emergency exemplar (cosine >= `threshold`) and clearly more like it than
like any curated non-emergency exemplar (by >= `margin`). It never removes a rule's flag, because a similarity
score is not evidence that a stated red flag is absent.

The exemplars (exemplars.jsonl) are written independently of the evaluation set. `threshold` and `margin` are
chosen by `calibrate()` on the calibration split only (no calibration negative may fire, plus a safety gap),
and the resulting constants are recorded here and in docs/guardrails.md.

Cost: one MiniLM encoding (~4 ms on 2 CPU cores), so it runs only when the rules did not flag *and* the text
mentions a body system or symptom at all; "when can she drive after VP?" never reaches the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXEMPLARS_PATH = Path(__file__).with_name("exemplars.jsonl")

# Calibrated on the calibration split (see calibrate.py and docs/guardrails.md).
THRESHOLD = 0.66
MARGIN = 0.05

_WORTH_A_LOOK = re.compile(
    r"pain|breath|weak|numb|tingl|blood|bleed|chest|satur|oxygen|pressure|heart|puls|fit|seiz|collaps|faint|"
    r"respon|conscious|drows|confus|wak|swell|swoll|rash|hive|itch|fever|temp|rigor|sept|infect|urin|bladder|"
    r"bowel|leg|arm|face|speech|speak|word|vision|headache|kill|die|dead|life|tablet|pill|overdos|harm|"
    r"suicid|vomit|cough|blue|grey|gray|pale|sweat|clammy|cold|dizz|scream|agony|worse|sudden|unwell|"
    r"deteriorat|shock|stroke|embol|anaphyla|wheez|stridor|throat|tongue|lip",
)


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


def worth_a_look(normalised: str) -> bool:
    """Cheap gate: does the text mention anything bodily at all?"""
    return bool(_WORTH_A_LOOK.search(normalised))


class ExemplarMatcher:
    """Cosine similarity of one text against the positive and negative exemplar matrices."""

    def __init__(self, embedder, exemplars: list[Exemplar], threshold: float = THRESHOLD, margin: float = MARGIN):
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
