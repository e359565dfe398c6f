"""Which retrieved passage answers: a small learned scorer over signals computed at query time.

Why learned: the composer quotes one main passage, and on the tuning authors most misses where a top passage
held every key fact were the wrong main passage. A hand-weighted rule (best unit + 0.25 × fused score) and
grids over a few more terms fitted the authors they were tuned on and not the next ones (docs/answering.md,
third round). Here a linear scorer is fitted on question–passage pairs (a passage is a positive when it holds
all of a question's key facts), chosen by leave-one-author-out over the tuning authors, and shipped as a
small versioned JSON (`service/data/passage_choice.json`, written by `python -m evals.train_passage_choice`).
Since the fifth session the fit is listwise (a softmax over each question's candidates) rather than a
pointwise logistic regression: only the order within a question matters to the composer. The service needs
only numpy to apply it; with no weights file the composer keeps its rule.

Features of one candidate passage (FEATURES, in this order), each comparable across passages of a question:
the composer's best unit relevance, the best standalone-sentence cosine, the best contextual-sentence
cosine, the passage cosine, the fused retrieval score (÷ the top hit's) and 1 / (1 + rank), the IDF-weighted
share of the question's content words in the passage and in its section path, and whether a unit holds the
kind of thing asked for; then (fifth session) the passage's place in retrieval's BM25 list for the question
(1 / (1 + BM25 rank) and BM25 score ÷ the top one, 0 when it is not in the list), log(1 + its words), its
number of units, whether its best unit holds the kind asked for and the share of its units that do, its
second-best unit's relevance and that of the unit after its best (the composer quotes it), the IDF-weighted
share of the question's words in its document title, and whether its best unit is a list. (Their gaps to
the best candidate's, as extra features, did worse in the folds.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from service.index import Snapshot
from service.linear_weights import read_weights, weights_json
from service.question_kind import QuestionKind, kind_bonus
from service.retrieval import Hit
from service.text import content_terms

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "passage_choice.json"
FORMAT = 2
FEATURES = ("best_unit", "best_solo", "best_context", "passage_cos", "fused", "rank", "coverage",
            "section_coverage", "kind",
            "bm25_rank", "bm25_score", "log_words", "n_units", "kind_best", "kind_share", "second_unit",
            "next_unit", "title_coverage", "list_best")  # fmt: skip


class ScoredUnit(Protocol):
    """What the features read of a composer unit (service/composer.py `Unit`)."""

    is_list: bool
    relevance: float
    position: int

    @property
    def text(self) -> str: ...


def _share(idf: dict[str, float], terms: frozenset[str] | set[str]) -> float:
    total = sum(idf.values()) or 1.0
    return sum(w for t, w in idf.items() if t in terms) / total


def passage_features(
    snapshot: Snapshot,
    hits: Sequence[Hit],
    candidates: Sequence[int],
    units: Sequence[Sequence[ScoredUnit]],
    best_units: Sequence[float],
    query_vec: np.ndarray,
    idf: dict[str, float],
    kind: QuestionKind,
    bm25: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(len(candidates), len(FEATURES)) float64: the features of each candidate hit index; `best_units` is
    the composer's value of each candidate (its best unit, a unit repeating the conversation discounted);
    `bm25` is BM25's ranked (rows, scores) for the question (retrieval's first list; None or empty: the
    BM25 features are 0). Every candidate must have at least one unit."""
    top_score = max((h.score for h in hits), default=1.0) or 1.0
    bm25_rows, bm25_scores = bm25 if bm25 is not None else (np.zeros(0, np.int64), np.zeros(0))
    bm25_rank = {int(r): i for i, r in enumerate(bm25_rows)}
    top_bm25 = float(bm25_scores[0]) if len(bm25_scores) and bm25_scores[0] > 0 else 0.0
    rows = []
    for h, best_unit in zip(candidates, best_units, strict=True):
        row = hits[h].row
        own = units[h]
        relevances = sorted((u.relevance for u in own), reverse=True)
        best = max(own, key=lambda u: u.relevance)
        after = [u.relevance for u in own if u.position == best.position + 1]
        title = frozenset(content_terms(str(snapshot.metas[row].get("title", ""))))
        in_bm25 = bm25_rank.get(row)
        sentence_rows = list(snapshot.sentences_of(row))
        solo = float((snapshot.relevance_vecs[sentence_rows] @ query_vec).max()) if sentence_rows else 0.0
        context = float((snapshot.sent_vecs[sentence_rows] @ query_vec).max()) if sentence_rows else 0.0
        section = frozenset(content_terms(str(snapshot.metas[row].get("section", ""))))
        words = frozenset(content_terms(snapshot.texts[row])) | section
        rows.append({
            "best_unit": best_unit if math.isfinite(best_unit) else 0.0,
            "best_solo": solo,
            "best_context": context,
            "passage_cos": float(np.asarray(snapshot.chunk_vecs[row], dtype=np.float32) @ query_vec),
            "fused": hits[h].score / top_score,
            "rank": 1.0 / (1.0 + h),
            "coverage": _share(idf, words),
            "section_coverage": _share(idf, section),
            "kind": float(any(kind_bonus(kind, u.text, u.is_list) > 0 for u in own)),
            "bm25_rank": 1.0 / (1.0 + in_bm25) if in_bm25 is not None else 0.0,
            "bm25_score": float(bm25_scores[in_bm25]) / top_bm25 if in_bm25 is not None and top_bm25 else 0.0,
            "log_words": math.log1p(len(snapshot.texts[row].split())),
            "n_units": float(len(own)),
            "kind_best": float(kind_bonus(kind, best.text, best.is_list) > 0),
            "kind_share": sum(kind_bonus(kind, u.text, u.is_list) > 0 for u in own) / len(own),
            "second_unit": relevances[1] if len(relevances) > 1 else relevances[0],
            "next_unit": after[0] if after else 0.0,
            "title_coverage": _share(idf, title),
            "list_best": float(best.is_list),
        })  # fmt: skip
    table = np.asarray([[r[name] for name in FEATURES] for r in rows], dtype=np.float64)
    return table.reshape(-1, len(FEATURES))


@dataclass(frozen=True)
class PassageChooser:
    """A linear scorer over standardised FEATURES: higher score, more likely the answering passage."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    candidates: int  # the main passage is chosen among this many top hits
    # The runner-up's best unit is quoted too when it scores within `second_margin` of the main passage and
    # has at most `second_words` words (0: never); both chosen by the training script's folds.
    second_margin: float = 0.0
    second_words: int = 0

    def scores(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self, **about: object) -> dict:
        return {**weights_json(FORMAT, FEATURES, self.mean, self.scale, self.coef, self.intercept),
                "candidates": self.candidates, "second_margin": self.second_margin,
                "second_words": self.second_words, **about}

    @classmethod
    def from_json(cls, data: dict) -> PassageChooser:
        """Refuses weights of another format or feature list (a stale file must not silently mis-rank)."""
        weights = read_weights(data, FORMAT, FEATURES, "passage-choice",
                               "python -m evals.train_passage_choice")
        return cls(*weights, int(data["candidates"]), float(data.get("second_margin", 0.0)),
                   int(data.get("second_words", 0)))


@lru_cache(maxsize=1)
def shipped_chooser() -> PassageChooser | None:
    """The chooser in service/data/passage_choice.json, or None when no weights are shipped."""
    if not WEIGHTS_PATH.exists():
        return None
    return PassageChooser.from_json(json.loads(WEIGHTS_PATH.read_text(encoding="utf-8")))
