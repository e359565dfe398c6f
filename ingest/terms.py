"""The word-level tokenizer shared by BM25 (built at ingest, queried by the service) and the service's
lexical checks: one definition, because the index and the queries against it must tokenize alike.

It lives in ingest because ingest builds each generation's BM25 index; service/text.py re-exports it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
# bm25s's English list keeps question words; a clinician's "what/how/should we" says nothing about the topic.
QUESTION_WORDS = (
    "what how when where which who whom whose why should would could can may might must do does did doesn "
    "don isn aren wasn weren we i you me my our your us if also any some much many more most other same so "
    "too very just about get got need needs tell"
)
STOPWORDS = frozenset(STOPWORDS_EN) | {"s", "t"} | frozenset(QUESTION_WORDS.split())


@lru_cache(maxsize=1)
def _stemmer():
    """Snowball English (PyStemmer, a core dependency): 'fractures' must match 'fracture'."""
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stop words kept (follow-up detection needs 'that', 'it')."""
    return WORD.findall(text.lower())


def stems(tokens: list[str]) -> list[str]:
    """Snowball stems of already-split tokens (stop words kept): the LLM checks compare words this way."""
    return _stemmer().stemWords(tokens)


def content_terms(text: str) -> list[str]:
    """Stemmed non-stop-word tokens: the BM25 vocabulary."""
    tokens = [w for w in words(text) if w not in STOPWORDS]
    return _stemmer().stemWords(tokens)


def content_terms_batch(texts: list[str]) -> list[list[str]]:
    return [content_terms(t) for t in texts]


def passage_text(section: str, text: str) -> str:
    """What BM25 and the corpus vocabulary read of a passage: its section path, then its text."""
    return f"{section}\n{text}"
