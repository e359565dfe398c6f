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
    "words",
]
