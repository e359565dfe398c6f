"""Word-level text helpers shared by BM25, follow-up detection and LLM citation checks.

One tokenizer for the BM25 index and for the queries against it (they must agree), and the same stemmed
content words are what "shares enough with its cited passage" is measured in.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

log = logging.getLogger(__name__)

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


def support_share(claim: str, passage_terms: set[str]) -> float | None:
    """Share of `claim`'s content terms that occur in `passage_terms` (None when it has none).

    The one measure of "says what the passage says" in words: LLM validation keeps a sentence at 0.7 of its
    cited passages' terms, and the evals count a cited sentence as supported at 0.6 of one passage's.
    """
    terms = content_terms(claim)
    if not terms:
        return None
    return sum(t in passage_terms for t in terms) / len(terms)
