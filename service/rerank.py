"""Learned re-ranking of the fused candidates: which of hybrid retrieval's top passages comes first.

Why: reciprocal rank fusion keeps only each retriever's ranks, so a passage dense retrieval finds clearly
closer than anything else counts no more than one it finds barely ahead, and one fixed dense weight cannot
suit every author's phrasing (held out, hybrid fell below dense alone on 8 of 19 authors at 2.0; lay
paraphrases defeat BM25, exact drug names and numbers defeat dense). A linear scorer over the candidates'
own signals — the scores behind the ranks, not only the ranks — is fitted listwise on the tuning authors'
questions (a candidate is a positive when it lies in one of the question's reference sections) and chosen
by leave-one-author-out (`python -m evals.train_rerank`, which writes `service/data/rerank.json` with its
fold figures). The service needs only numpy to apply it; without the weights file hybrid retrieval keeps
the plain fused order.

Features of one candidate (FEATURES, in this order), each comparable across the candidates of a question:
its fused score and 1 / (1 + fused rank); its cosine to the first query text and to the weighted mix of the
query texts (a follow-up's history texts included), and the mix's gap to the best candidate's; its BM25
score for the first query text and for the weighted query texts (÷ the best candidate's), whether any BM25
list holds it; the share of the first query text's content words in its document title and section path;
how many of the top ten candidates share its section and its document (÷ ten); log(1 + its words); its
rank by the mixed cosine and by the mixed BM25 score; and (format 2) its best sentence's cosine to the mixed
query vector (the standalone sentence vectors the composer ranks with) and that cosine's gap to the best
candidate's, and the IDF-weighted share of the first query text's content words found in it and its section
path; and (format 3) the heading share and that IDF-weighted share averaged over all the query texts with
their weights. Why format 3: for a follow-up ("what imaging shows that?") the first query text is the bare
question, so the heading and coverage signals rewarded any imaging section over the one about the fracture
the conversation is about; the joined and resolved texts carry the referent.

Two learners read these features (the trainer keeps whichever leave-one-author-out ranks better): the linear
scorer (`Reranker`) and, from the fifteenth session, boosted trees (`TreeReranker`) over the features and each
feature's gap to the question's best and mean candidate (`relative_features`), which can weigh one signal
differently depending on another (a heading match matters less when the dense cosine is already far ahead) —
the linear scorer cannot. The trees are evaluated by service/tree_ensemble.py (numpy, no scikit-learn).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from service.index import Snapshot
from service.linear_weights import check_format, read_weights, weights_json
from service.term_weights import idf_weights, passage_terms, weighted_share
from service.text import content_terms
from service.tree_ensemble import TreeEnsemble

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "rerank.json"
FORMAT = 3
FEATURES = ("fused", "rank", "dense_first", "dense_mix", "dense_gap", "bm25_first", "bm25_mix",
            "heading_overlap", "same_section", "same_doc", "log_words", "dense_rank", "bm25_rank",
            "bm25_any", "sentence_best", "sentence_gap", "coverage",
            "heading_mix", "coverage_mix")  # fmt: skip
NEIGHBOURS = 10  # the top candidates whose sections and documents are counted
TREES = "boosted trees"  # the `learner` of a tree re-ranker's weights file
COMMAND = "python -m evals.train_rerank"


def _rank_reciprocal(values: np.ndarray) -> np.ndarray:
    """1 / (1 + rank) of each value, the largest ranked 0 (ties keep their order)."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return 1.0 / (1.0 + ranks)


def candidate_features(
    snapshot: Snapshot,
    rows: Sequence[int] | np.ndarray,
    fused: Sequence[float] | np.ndarray,
    vectors: np.ndarray,
    weights: Sequence[float],
    bm25: Sequence[tuple[np.ndarray, np.ndarray]],
    texts: Sequence[str],
) -> np.ndarray:
    """(len(rows), len(FEATURES)) float64 for the candidates `rows` (best fused first) with their fused
    scores; `texts` are the query texts (the question as asked first), `vectors` their vectors (one row
    each) and `weights` their weights, and `bm25` BM25's ranked (rows, scores) per query text (empty in
    dense mode)."""
    if isinstance(texts, str):
        raise TypeError("texts: a sequence of query texts, not one string")
    n = len(rows)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    idx = np.asarray(rows, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    dense = np.asarray(vectors, dtype=np.float32) @ snapshot.chunk_vecs[idx].T  # (query texts, candidates)
    dense = dense.astype(np.float64)
    dense_mix = (dense * w).sum(0) / float(w.sum() or 1.0)
    lexical = np.zeros((max(1, len(bm25)), n))
    for i, (brows, bscores) in enumerate(bm25):
        at = dict(zip(brows.tolist(), bscores.tolist(), strict=True))
        lexical[i] = [at.get(int(r), 0.0) for r in idx]
    first = lexical[0] / (lexical[0].max() or 1.0)
    mix = (lexical * w[: len(lexical)]).sum(0) if bm25 else lexical[0]
    mix = mix / (mix.max() or 1.0)
    metas = [snapshot.metas[int(r)] for r in idx]
    sections = [str(m.get("section") or "") for m in metas]
    docs = [str(m.get("doc_id") or "") for m in metas]
    heading_terms = [set(content_terms(f"{s} {m.get('title') or ''}"))
                     for s, m in zip(sections, metas, strict=True)]
    held = [passage_terms(snapshot, int(r)) for r in idx]
    heading_per_text, coverage_per_text = [], []
    for text in texts:
        terms = set(content_terms(text))
        idf = idf_weights(snapshot, list(terms))
        heading_per_text.append([len(terms & h) / max(1, len(terms)) for h in heading_terms])
        coverage_per_text.append([weighted_share(idf, p) for p in held])
    text_w = np.asarray(weights, dtype=np.float64)[: len(texts)]
    text_w = text_w / (text_w.sum() or 1.0)
    heading = np.asarray(heading_per_text[0])
    coverage = np.asarray(coverage_per_text[0])
    heading_mix = text_w @ np.asarray(heading_per_text)
    coverage_mix = text_w @ np.asarray(coverage_per_text)
    top = min(n, NEIGHBOURS)
    same_section = [sum(s == x for x in sections[:top]) / top for s in sections]
    same_doc = [sum(d == x for x in docs[:top]) / top for d in docs]
    words = [np.log1p(len(snapshot.texts[int(r)].split())) for r in idx]
    mixed = (np.asarray(vectors, dtype=np.float64) * w).sum(0)
    mixed = (mixed / (np.linalg.norm(mixed) or 1.0)).astype(np.float32)
    sentence = np.zeros(n)
    for i, r in enumerate(idx):
        sentence_rows = list(snapshot.sentences_of(int(r)))
        if sentence_rows:
            sentence[i] = float(np.max(np.asarray(snapshot.relevance_vecs[sentence_rows]) @ mixed))
    table = np.stack([
        np.asarray(fused, dtype=np.float64), 1.0 / (1.0 + np.arange(n)), dense[0], dense_mix,
        dense_mix - dense_mix.max(), first, mix, heading, np.asarray(same_section),
        np.asarray(same_doc), np.asarray(words), _rank_reciprocal(dense_mix), _rank_reciprocal(mix),
        (lexical.max(0) > 0).astype(np.float64), sentence, sentence - sentence.max(), coverage,
        heading_mix, coverage_mix,
    ], axis=1)  # fmt: skip
    return table


@dataclass(frozen=True)
class Reranker:
    """A listwise linear scorer over standardised FEATURES; higher score, earlier in the list."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    depth: int  # how many of the fused candidates are re-ranked (the rest keep their fused order below)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef

    def order(self, features: np.ndarray) -> np.ndarray:
        """The candidates' indices, best first (ties keep the fused order)."""
        return np.argsort(-self.scores(features), kind="stable")

    def to_json(self, **about: object) -> dict:
        return {**weights_json(FORMAT, FEATURES, self.mean, self.scale, self.coef, 0.0),
                "depth": self.depth, **about}

    @classmethod
    def from_json(cls, data: dict) -> Reranker:
        """Refuses weights of another format or feature list (a stale file must not silently mis-rank)."""
        mean, scale, coef, _ = read_weights(data, FORMAT, FEATURES, "re-ranking", COMMAND)
        depth = int(data["depth"])
        if depth < 2:
            raise ValueError("re-ranking weights: depth must be at least 2")
        return cls(mean, scale, coef, depth)


def relative_features(features: np.ndarray) -> np.ndarray:
    """(candidates, 3 × FEATURES): each feature, its gap to the best candidate's value and to the mean of the
    question's candidates — what the trees read, so a split means the same in every question's list."""
    f = np.asarray(features, dtype=np.float64)
    if not len(f):
        return np.zeros((0, 3 * f.shape[1]))
    return np.hstack([f, f - f.max(axis=0, keepdims=True), f - f.mean(axis=0, keepdims=True)])


@dataclass(frozen=True)
class TreeReranker:
    """Boosted trees over `relative_features`; higher raw score, earlier in the list."""

    trees: TreeEnsemble
    depth: int

    def scores(self, features: np.ndarray) -> np.ndarray:
        return self.trees.raw(relative_features(features))

    def order(self, features: np.ndarray) -> np.ndarray:
        """The candidates' indices, best first (ties keep the fused order)."""
        return np.argsort(-self.scores(features), kind="stable")

    def to_json(self, **about: object) -> dict:
        return {"format": FORMAT, "features": list(FEATURES), "learner": TREES,
                "inputs": "each feature, its gap to the best candidate's, its gap to the candidates' mean",
                "depth": self.depth, "ensemble": self.trees.to_json(), **about}

    @classmethod
    def from_json(cls, data: dict) -> TreeReranker:
        """Refuses trees of another format or feature list, or malformed ones (service/tree_ensemble.py)."""
        check_format(data, FORMAT, FEATURES, "re-ranking", COMMAND)
        try:
            trees = TreeEnsemble.from_json(data["ensemble"])
            depth = int(data["depth"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"re-ranking trees: {exc}") from exc
        if trees.n_features != 3 * len(FEATURES):
            raise ValueError(f"re-ranking trees read {trees.n_features} inputs, expected {3 * len(FEATURES)}")
        if depth < 2:
            raise ValueError("re-ranking trees: depth must be at least 2")
        return cls(trees, depth)


AnyReranker = Reranker | TreeReranker


def reranker_from_json(data: dict) -> AnyReranker:
    """The learner a weights file names (linear when it names none: files before the trees)."""
    return TreeReranker.from_json(data) if data.get("learner") == TREES else Reranker.from_json(data)


@lru_cache(maxsize=1)
def shipped_reranker() -> AnyReranker | None:
    """The re-ranker in service/data/rerank.json, or None when no weights are shipped."""
    if not WEIGHTS_PATH.exists():
        return None
    return reranker_from_json(json.loads(WEIGHTS_PATH.read_text(encoding="utf-8")))
