"""Word-level text helpers shared by BM25, follow-up detection and LLM citation checks.

One tokenizer for the BM25 index and for the queries against it (they must agree), and the same stemmed
content words are what "shares enough with its cited passage" is measured in. The definitions live in
ingest/terms.py, because ingest builds each generation's BM25 index with them.
"""

from __future__ import annotations

from ingest.terms import (
    QUESTION_WORDS,
    STOPWORDS,
    WORD,
    content_terms,
    content_terms_batch,
    passage_text,
    stems,
    words,
)

__all__ = [
    "QUESTION_WORDS",
    "STOPWORDS",
    "WORD",
    "content_terms",
    "content_terms_batch",
    "passage_text",
    "stems",
    "support_share",
    "words",
]


def support_share(claim: str, passage_terms: set[str]) -> float | None:
    """Share of `claim`'s content terms that occur in `passage_terms` (None when it has none).

    The one measure of "says what the passage says" in words: LLM validation keeps a sentence at 0.7 of its
    cited passages' terms, and the evals count a cited sentence as supported at 0.6 of one passage's.
    """
    terms = content_terms(claim)
    if not terms:
        return None
    return sum(t in passage_terms for t in terms) / len(terms)
