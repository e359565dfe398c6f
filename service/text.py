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


class _NltkSnowball:
    """The same Snowball English stemmer in pure Python (nltk comes with llama-index-core), memoised."""

    def __init__(self) -> None:
        from nltk.stem.snowball import EnglishStemmer

        self._stem = lru_cache(maxsize=200_000)(EnglishStemmer().stem)

    def stemWords(self, tokens: list[str]) -> list[str]:  # noqa: N802 - PyStemmer's method name
        return [self._stem(t) for t in tokens]


@lru_cache(maxsize=1)
def _stemmer():
    """Snowball English: 'fractures' must match 'fracture'. PyStemmer (C) when installed, else nltk's."""
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        pass
    try:
        return _NltkSnowball()
    except ImportError:  # pragma: no cover - nltk is a dependency of llama-index-core
        log.warning("no Snowball stemmer available: BM25 matches exact word forms only")
        return None


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stop words kept (follow-up detection needs 'that', 'it')."""
    return WORD.findall(text.lower())


def stems(tokens: list[str]) -> list[str]:
    """Snowball stems of already-split tokens (stop words kept): the LLM checks compare words this way."""
    stemmer = _stemmer()
    return stemmer.stemWords(tokens) if stemmer else list(tokens)


def content_terms(text: str) -> list[str]:
    """Stemmed non-stop-word tokens: the BM25 vocabulary."""
    tokens = [w for w in words(text) if w not in STOPWORDS]
    stemmer = _stemmer()
    return stemmer.stemWords(tokens) if stemmer else tokens


def content_terms_batch(texts: list[str]) -> list[list[str]]:
    return [content_terms(t) for t in texts]
