"""IDF weights of a question's words and their share in a passage: read by the abstention signals
(service/abstention_features.py) and the learned re-ranking (service/rerank.py).

Why a module of its own: both need the same numbers for "how much of the question does this passage hold",
and the re-ranking sits below retrieval, which the abstention signals import; here neither imports the
other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from service.index import Snapshot
from service.text import content_terms


def idf_weights(snapshot: Snapshot, terms: Sequence[str]) -> dict[str, float]:
    """Each term's BM25-style IDF over the generation's passages."""
    n = max(snapshot.size, 1)
    return {t: math.log(1.0 + n / (snapshot.term_df.get(t, 0) + 0.5)) for t in terms}


def weighted_share(idf: dict[str, float], terms: set[str] | frozenset[str]) -> float:
    """The IDF-weighted share of the weighted terms found in `terms` (0 when there are none)."""
    total = sum(idf.values())
    return sum(w for t, w in idf.items() if t in terms) / total if total else 0.0


def passage_terms(snapshot: Snapshot, row: int) -> set[str]:
    """Stemmed content words of a passage and its section path (from the generation's sentence word sets)."""
    terms: set[str] = set(content_terms(str(snapshot.metas[row].get("section", ""))))
    for s in snapshot.sentences_of(row):
        terms |= snapshot.sent_terms[s]
    return terms
