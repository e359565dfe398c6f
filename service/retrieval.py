"""Hybrid retrieval: dense (MiniLM query vectors against the stored passage vectors) + BM25 (bm25s) over the
same chunks, fused by RRF.

Reciprocal rank fusion uses ranks only, so the two scores (cosine vs. BM25) never need calibrating against
each other. Several query texts (a follow-up and its context, service/followup.py) are fused the same way,
each with its weight. An article being read (`article_id`) multiplies the fused score of its own passages and
of the documents it cites: a preference among retrieved candidates, never a filter, so a clearly better
passage elsewhere still wins.

Provenance tie-break: passages from documents whose front matter says `review_status: pending-review`, or
whose statements are carried from another page (`attribution`), have their fused score multiplied by
UNREVIEWED_FACTOR (0.97). That reorders only passages whose scores are within 3% of each other, so where a
reviewed guideline or research passage and an unreviewed answer page support the same thing about equally,
the reviewed one comes first; where the answer page is the only or clearly the best source it still wins.
Documents without provenance fields (other corpora) are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ingest.store import split_record_id
from service.followup import QueryText
from service.index import Snapshot
from service.rerank import AnyReranker, candidate_features, shipped_reranker
from service.text import content_terms

Mode = Literal["hybrid", "dense", "bm25"]

# Tuned on the evals' shipped and open-medicine retrieval sets (section-level MRR); the plateau is broad
# (k 10–60, dense weight 0.7–0.85 all within 0.01), these sit in its middle. A small k lets a passage ranked
# first by one retriever count for more; dense is down-weighted because MiniLM ranks sections less sharply
# than BM25 does on clinical terms.
# With the dense adapter (ingest/dense_adapter.py) a cross-fitted sweep on the tuning authors favoured 1.3-3;
# tried at 1.3 (eighth session) and reverted: the abstention refitted at that weight refused an in-scope
# question over a one-document corpus (tests/e2e/test_widget_hostile_content.py), and from 2 up hybrid fell
# below dense alone on the project's retrieval set. Ninth session, with the three-layer adapter: at 0.85
# hybrid fell below dense alone on that set (MRR 0.938 vs 0.966) and on 12 of 17 held-out authors; 2.0 puts
# it ahead there (0.971) and, cross-fitted on the twelve tuning authors, lifts section hit@1 0.757 -> 0.808
# with answers 780 -> 784/1092 (the abstention refitted at 2.0 on cross-fitted signals). docs/answering.md,
# "ninth session".
RRF_K = 10
DENSE_WEIGHT = 2.0
EXACT_SEARCH_MAX = 50_000  # passages; beyond this the exact matrix product costs more than Chroma's HNSW
ARTICLE_BOOST = 1.5
CITED_BOOST = 1.2
UNREVIEWED_FACTOR = 0.97


class StoreQueryFailed(RuntimeError):
    """The dense query against Chroma failed (store gone or unreachable)."""


@dataclass(frozen=True)
class Hit:
    row: int
    score: float  # fused score scaled so that rank 1 in every list (before preferences) is 1.0


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    top_dense: list[float]  # per query text: best cosine similarity to any passage (abstention evidence)
    # per query text: BM25's ranked (rows, scores) at `depth` (empty in dense mode); the abstention signals
    # read the first query's list instead of scoring the question a second time
    bm25: list[tuple[np.ndarray, np.ndarray]]
    depth: int
    # the plain fused top-k before the learned re-ranking (None: not re-ranked, `hits` are the fused ones);
    # the abstention signals read these, the order and set their decision was fitted on
    fused_hits: list[Hit] | None = None

    @property
    def support_hits(self) -> list[Hit]:
        """The hits the abstention signals read: the plain fused top-k."""
        return self.hits if self.fused_hits is None else self.fused_hits

    @property
    def top_bm25(self) -> list[float]:
        """Per query text: the best BM25 score."""
        return [float(scores[0]) if len(scores) else 0.0 for _, scores in self.bm25]


def dense_ranked(snapshot: Snapshot, vectors: np.ndarray, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, cosine similarities) best first, one pair per query vector.

    Up to EXACT_SEARCH_MAX passages, an exact search over the snapshot's copy of the stored vectors (one
    matrix product: ~0.1 ms for 2k passages, against ~1.5 ms for a Chroma round trip, and it cannot miss a
    neighbour). Above it, Chroma's HNSW index answers, where approximate search is what scales.
    """
    n = min(depth, snapshot.size)
    if snapshot.size <= EXACT_SEARCH_MAX and len(snapshot.chunk_vecs):
        sims = np.asarray(vectors, dtype=np.float32) @ snapshot.chunk_vecs.T
        out = []
        for row_sims in sims:
            top = np.argpartition(-row_sims, n - 1)[:n] if n < len(row_sims) else np.arange(len(row_sims))
            top = top[np.argsort(-row_sims[top], kind="stable")]
            out.append((top.astype(np.int64), row_sims[top]))
        return out
    return hnsw_ranked(snapshot, np.asarray(vectors, dtype=np.float32), n)


def hnsw_ranked(snapshot: Snapshot, vectors: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The `n` nearest passages of this generation by Chroma's HNSW index, per query vector.

    The record collection may also hold other generations' versions of changed documents (the previous
    generation's, still served elsewhere, or an ingest's in progress; ingest/store.py): those are dropped
    by their id's version, and a query that came back short asks again for more."""
    total = max(snapshot.collection_records, snapshot.size)
    ask = min(total, n + min(n, total - snapshot.size))
    out = _hnsw_query(snapshot, vectors, ask)
    for i, (rows, sims) in enumerate(out):
        wider = ask
        while len(rows) < n and wider < total:
            wider = min(total, wider * 4)
            rows, sims = _hnsw_query(snapshot, vectors[i : i + 1], wider)[0]
        out[i] = (rows[:n], sims[:n])
    return out


def _hnsw_query(snapshot: Snapshot, vectors: np.ndarray, ask: int) -> list[tuple[np.ndarray, np.ndarray]]:
    collection: Any = snapshot.chunks_collection  # a Chroma collection (chromadb is not typed here)
    try:
        got = collection.query(query_embeddings=vectors, n_results=max(ask, 1), include=["distances"])
    except Exception as exc:  # noqa: BLE001 - any Chroma failure becomes a clear 503 upstream
        raise StoreQueryFailed(f"dense query failed: {exc}") from exc
    out = []
    for ids, dists in zip(got["ids"], got["distances"], strict=True):
        rows = np.fromiter((live_row(snapshot, i) for i in ids), dtype=np.int64, count=len(ids))
        sims = 1.0 - np.asarray(dists, dtype=np.float32)
        keep = rows >= 0
        out.append((rows[keep], sims[keep]))
    return out


def live_row(snapshot: Snapshot, stored_id: str) -> int:
    """The row of a stored record in this generation, or -1 when it is another generation's version."""
    chunk_id, version = split_record_id(stored_id, snapshot.versioned_ids)
    row = snapshot.row_of.get(chunk_id, -1)
    if row < 0 or version is None:
        return row
    return row if snapshot.doc_versions.get(snapshot.doc_id(row)) == version else -1


def bm25_ranked(snapshot: Snapshot, text: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, BM25 scores) best first; passages sharing no term with the query are left out."""
    terms = content_terms(text)
    if not terms:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = snapshot.bm25.get_scores(terms)
    n = min(depth, len(scores))
    top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] > 0]
    return top.astype(np.int64), scores[top].astype(np.float32)


def preferred_rows(snapshot: Snapshot, article_id: str | None) -> tuple[set[str], set[str]]:
    """(the article's doc ids, the doc ids it cites); an id may name a guideline folder ("x" → "x/…")."""
    if not article_id:
        return set(), set()
    own = {d for d in snapshot.doc_rows if d == article_id or d.startswith(article_id + "/")}
    cited = {c for d in own for c in snapshot.cites(d)}
    cited = {d for d in snapshot.doc_rows for c in cited if d == c or d.startswith(c + "/")} - own
    return own, cited


Reorder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def fused_candidates(
    snapshot: Snapshot, lists: Sequence[tuple[np.ndarray, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of weighted reciprocal rank fusion, best first, before any preference; a score is
    scaled so that rank 1 in every list would be 1.0."""
    fused = np.zeros(snapshot.size, dtype=np.float64)
    best_possible = 0.0
    for rows, weight in lists:
        if len(rows):
            fused[rows] += weight / (RRF_K + 1.0 + np.arange(len(rows)))
        best_possible += weight / (RRF_K + 1.0)
    candidates = np.flatnonzero(fused)
    scores = fused[candidates] / (best_possible or 1.0)
    by_score = np.argsort(-scores, kind="stable")
    return candidates[by_score], scores[by_score]


def fuse(
    snapshot: Snapshot,
    lists: Sequence[tuple[np.ndarray, float]],
    article_id: str | None,
    k: int,
    reorder: Reorder | None = None,
) -> list[Hit]:
    """Weighted reciprocal rank fusion of ranked row lists, then the article preference, top `k`.

    `reorder` (the learned re-ranking, service/rerank.py) is given the candidates best fused first with their
    fused scores and returns a new order of the first few; each keeps the score of the rank it moves to, so
    scores still fall with rank and keep the fused scale the answering signals were fitted on, and the
    article and review-status preferences apply afterwards exactly as without it."""
    candidates, scores = fused_candidates(snapshot, lists)
    if reorder is not None and len(candidates):
        candidates = _reordered(candidates, reorder(candidates, scores))
    return prefer(snapshot, candidates, scores, article_id, k)


def _reordered(candidates: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The first len(order) candidates in `order`, the rest as they were."""
    return np.concatenate([candidates[: len(order)][order], candidates[len(order):]])


def prefer(snapshot: Snapshot, candidates: np.ndarray, scores: np.ndarray, article_id: str | None,
           k: int) -> list[Hit]:
    """The article and review-status preferences over ranked candidates and their scores, then the top `k`."""
    if not len(candidates):
        return []
    own, cited = preferred_rows(snapshot, article_id)
    # the article being read is never demoted for its review status: the clinician is reading it, and its
    # status is shown with every citation of it
    unreviewed = snapshot.unreviewed_docs - own
    if unreviewed:
        factor = [UNREVIEWED_FACTOR if snapshot.doc_id(int(r)) in unreviewed else 1.0 for r in candidates]
        scores = scores * np.asarray(factor)
    if own or cited:
        docs = [snapshot.doc_id(int(r)) for r in candidates]
        boost = np.asarray([ARTICLE_BOOST if d in own else CITED_BOOST if d in cited else 1.0 for d in docs])
        scores = scores * boost
    order = np.argsort(-scores, kind="stable")[:k]
    return [Hit(int(candidates[i]), float(scores[i])) for i in order]


def ranked_lists(
    snapshot: Snapshot, queries: Sequence[QueryText], vectors: np.ndarray, depth: int, mode: Mode
) -> tuple[list[tuple[np.ndarray, float]], list[float], list[tuple[np.ndarray, np.ndarray]]]:
    """(the weighted ranked lists fusion reads, best cosine per query text, BM25's (rows, scores) per query
    text) for the mode's retrievers, `depth` deep."""
    lists: list[tuple[np.ndarray, float]] = []
    top_dense: list[float] = []
    bm25: list[tuple[np.ndarray, np.ndarray]] = []
    if mode in ("hybrid", "dense"):
        for i, (rows, sims) in enumerate(dense_ranked(snapshot, vectors, depth)):
            lists.append((rows, DENSE_WEIGHT * queries[i].weight))
            top_dense.append(float(sims[0]) if len(sims) else 0.0)
    if mode in ("hybrid", "bm25"):
        for query in queries:
            rows, scores = bm25_ranked(snapshot, query.text, depth)
            lists.append((rows, query.weight))
            bm25.append((rows, scores))
    return lists, top_dense, bm25


def rerank_features(snapshot: Snapshot, queries: Sequence[QueryText], vectors: np.ndarray,
                    bm25: Sequence[tuple[np.ndarray, np.ndarray]], candidates: np.ndarray,
                    scores: np.ndarray) -> np.ndarray:
    """The re-ranking features (service/rerank.py) of these fused candidates (best first, with scores)."""
    return candidate_features(snapshot, candidates, scores, vectors, [q.weight for q in queries], bm25,
                              [q.text for q in queries])


def retrieve(
    snapshot: Snapshot,
    queries: Sequence[QueryText],
    vectors: np.ndarray,
    *,
    k: int,
    depth: int,
    mode: Mode = "hybrid",
    article_id: str | None = None,
    reranker: AnyReranker | None | Literal["shipped"] = "shipped",
) -> Retrieval:
    """Top-`k` passages for the query texts (with their vectors, one row each), best first. Hybrid results
    are re-ranked by the learned scorer (service/rerank.py; `reranker` None: the plain fused order)."""
    depth = max(depth, k)
    lists, top_dense, bm25 = ranked_lists(snapshot, queries, vectors, depth, mode)
    candidates, scores = fused_candidates(snapshot, lists)
    hits = prefer(snapshot, candidates, scores, article_id, k)
    model = shipped_reranker() if reranker == "shipped" else reranker
    if mode != "hybrid" or model is None or not len(candidates):
        return Retrieval(hits, top_dense, bm25, depth)
    n = min(len(candidates), model.depth)
    order = model.order(rerank_features(snapshot, queries, vectors, bm25, candidates[:n], scores[:n]))
    reranked = prefer(snapshot, _reordered(candidates, order), scores, article_id, k)
    # one fusion, two orders: the abstention signals keep the plain one
    return Retrieval(reranked, top_dense, bm25, depth, fused_hits=hits)
