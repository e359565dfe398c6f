"""Line-end hyphens in typeset text: "recom-" + "mended" → "recommended", "decision-" + "making" kept.

A PDF cannot say whether a hyphen at the end of a line was a hyphenation point added by the typesetter or
a hyphen the word always has, and both errors hurt retrieval ("recom-mended" misses BM25 for
"recommended"; "decisionmaking" misses "decision-making"). The decision, in order:

1. the document's own words: if it writes the joined word elsewhere ("recommended"), join; if it writes the
   hyphenated form within a line elsewhere ("decision-making"), keep the hyphen;
2. an English word list (the embedding model's WordPiece vocabulary, already on disk — no download): if the
   joined word is a whole word there, join; if both halves are whole words, keep the hyphen (a compound);
3. a prefix clinical writing hyphenates ("pre-" + "thrombolysis", "non-" + "steroidal") keeps it;
4. otherwise join: a fragment that is no word on its own ("indi-" + "vidualised") was a hyphenation point.

Written by hand because the libraries that do this (pyphen, hyphenate) split words rather than judge a
split, and PyMuPDF's dehyphenation (AGPL, see README) always joins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MARK = "\ue000"  # private-use sentinel the PDF adapter puts where a line ended in a hyphen
MARKED = re.compile(r"([A-Za-z]+)" + MARK + r"([a-z]+)")
WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
HYPHENATED_PREFIXES = frozenset(
    {"pre", "post", "non", "re", "self", "co", "anti", "intra", "extra", "sub", "semi"}
)


@lru_cache(maxsize=1)
def word_list() -> frozenset[str]:
    """Whole words of the bundled model's vocabulary (no '##' pieces); empty if the model is not there."""
    try:
        from ingest.embedding import default_model_dir

        vocab = default_model_dir() / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except (ImportError, OSError):
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and len(w) > 1)


def document_words(texts: Iterable[str]) -> set[str]:
    """Every word and hyphenated compound the document writes within a line (lower case)."""
    words: set[str] = set()
    for text in texts:
        for match in WORD.finditer(text.replace(MARK, " ")):
            token = match.group(0).lower()
            words.add(token)
            words.update(token.split("-"))
    return words


def keep_hyphen(left: str, right: str, own_words: set[str]) -> bool:
    """Whether "left-" at a line end followed by "right" is a real hyphen (see the module docstring)."""
    joined, compound = (left + right).lower(), f"{left}-{right}".lower()
    if joined in own_words:
        return False
    if compound in own_words:
        return True
    words = word_list()
    if joined in words:
        return False
    if left.lower() in words and right.lower() in words:
        return True
    return left.lower() in HYPHENATED_PREFIXES and len(right) >= 4


def resolve(text: str, own_words: set[str]) -> str:
    """Replace every MARK in `text` by a hyphen or nothing."""
    if MARK not in text:
        return text

    def one(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        return f"{left}-{right}" if keep_hyphen(left, right, own_words) else left + right

    return MARKED.sub(one, text).replace(MARK, "-")
