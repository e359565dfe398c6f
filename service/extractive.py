"""The default answerer: pick the retrieved sentences that best answer the question, quote them verbatim.

Nothing is generated, so nothing can be said that a passage does not say. Relevance is the cosine between the
query vector and each sentence's stored contextual vector (computed at ingest, in the same forward pass as its
chunk) plus a small prior for the passage's retrieval rank; maximal marginal relevance then skips sentences
that repeat one already chosen. The chosen sentences are read out grouped by passage, in document order within
a passage, so the answer reads as the guideline reads rather than as a ranked list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from service.index import Snapshot
from service.retrieval import Hit

MAX_SENTENCES = 4
MAX_CHARS = 650  # a few sentences: a clinician reads this on a phone between patients
MMR_LAMBDA = 0.72  # relevance vs. novelty
PASSAGE_PRIOR = 0.12  # how much the passage's fused rank adds to a sentence's own similarity
LEXICAL_WEIGHT = 0.15  # share of the question's own content words found in the sentence
RELATIVE_CUTOFF = 0.10  # stop adding sentences clearly weaker than the best one
MIN_WORDS = 4
LAYOUT_PENALTY = 0.15  # a table row or flowchart step out of its layout reads badly: only if clearly best
LAYOUT_LINE = re.compile(r"^\s*(?:\||->|=>|→|[└├│┌┐┘─])")
NEAR_DUPLICATE = 0.6  # word-set Jaccard above which two sentences say the same (the corpus repeats facts)


@dataclass(frozen=True)
class Quote:
    """One verbatim sentence and the hit (index into the retrieval's hits) it comes from."""

    text: str
    hit: int
    sentence_row: int
    relevance: float


def candidate_sentences(snapshot: Snapshot, hits: list[Hit]) -> tuple[np.ndarray, np.ndarray]:
    """Sentence rows of the retrieved passages and, for each, the index of its hit."""
    rows: list[int] = []
    owners: list[int] = []
    for h, hit in enumerate(hits):
        span = snapshot.sentences_of(hit.row)
        rows.extend(span)
        owners.extend([h] * len(span))
    return np.asarray(rows, dtype=np.int64), np.asarray(owners, dtype=np.int64)


def usable(text: str) -> bool:
    """A lead-in ending in ':' or a fragment of a few words does not answer anything on its own."""
    stripped = text.rstrip()
    return len(stripped.split()) >= MIN_WORDS and not stripped.endswith(":")


def lexical_overlap(snapshot: Snapshot, rows: np.ndarray, terms: frozenset[str]) -> np.ndarray:
    """Share of the question's content words each sentence contains.

    The stored sentence vectors are contextual (they carry their passage's topic), so they rank a passage's
    sentences less sharply than its passages; the question's own words separate them.
    """
    if not terms:
        return np.zeros(len(rows), dtype=np.float32)
    return np.asarray([len(terms & snapshot.sent_terms[r]) for r in rows], dtype=np.float32) / len(terms)


def _jaccard(snapshot: Snapshot, a: int, b: int) -> float:
    """Word overlap of two sentences: contextual vectors of a repeated fact differ with their passages."""
    x, y = snapshot.sent_terms[a], snapshot.sent_terms[b]
    return len(x & y) / (len(x | y) or 1)


def select_quotes(
    snapshot: Snapshot, hits: list[Hit], query_vec: np.ndarray, terms: frozenset[str] = frozenset()
) -> list[Quote]:
    """MMR over the sentences of `hits`, returned in reading order (see module docstring)."""
    rows, owners = candidate_sentences(snapshot, hits)
    if not len(rows):
        return []
    vecs = snapshot.sent_vecs[rows]
    prior = np.asarray([hits[o].score for o in owners], dtype=np.float32)
    prior = prior / (prior.max() or 1.0)
    relevance = (
        vecs @ query_vec + PASSAGE_PRIOR * prior + LEXICAL_WEIGHT * lexical_overlap(snapshot, rows, terms)
    )
    texts = [snapshot.sent_texts[r] for r in rows]
    ok = np.asarray([usable(t) for t in texts])
    relevance = np.where(ok, relevance, -np.inf)
    relevance -= LAYOUT_PENALTY * np.asarray([bool(LAYOUT_LINE.match(t)) for t in texts])
    if not np.isfinite(relevance).any():
        return []

    chosen: list[int] = []
    seen_texts: set[str] = set()
    redundancy = np.full(len(rows), -1.0, dtype=np.float32)  # max similarity to anything chosen so far
    best = float(relevance.max())
    used_chars = 0
    while len(chosen) < MAX_SENTENCES:
        mmr = MMR_LAMBDA * relevance - (1 - MMR_LAMBDA) * np.maximum(redundancy, 0.0)
        mmr[chosen] = -np.inf
        pick = int(np.argmax(mmr))
        if not np.isfinite(mmr[pick]) or (chosen and relevance[pick] < best - RELATIVE_CUTOFF):
            break
        text = texts[pick]
        if (
            text in seen_texts
            or (chosen and used_chars + len(text) > MAX_CHARS)
            or any(_jaccard(snapshot, rows[pick], rows[c]) >= NEAR_DUPLICATE for c in chosen)
        ):
            relevance[pick] = -np.inf  # a (near) duplicate, or too long to add: never reconsider it
            continue
        chosen.append(pick)
        seen_texts.add(text)
        used_chars += len(text)
        redundancy = np.maximum(redundancy, vecs @ vecs[pick])

    group_rank: dict[int, int] = {}
    for pick in chosen:
        group_rank.setdefault(int(owners[pick]), len(group_rank))
    reading = sorted(chosen, key=lambda p: (group_rank[int(owners[p])], int(rows[p])))
    return [Quote(texts[p], int(owners[p]), int(rows[p]), float(relevance[p])) for p in reading]


def best_sentence_similarity(snapshot: Snapshot, hits: list[Hit], query_vec: np.ndarray) -> float:
    """The highest query–sentence cosine among the retrieved passages (abstention evidence)."""
    rows, _ = candidate_sentences(snapshot, hits)
    if not len(rows):
        return 0.0
    return float((snapshot.sent_vecs[rows] @ query_vec).max())
