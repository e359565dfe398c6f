"""Make typed or pasted text read the same to the red-flag screen and retrieval as it does to a person.

A soft hyphen, zero-width space, word joiner, BOM, direction mark or combining grapheme joiner inside
"breathing" is invisible on screen but splits the word for every rule and tokeniser; text pasted from PDFs
and Word documents carries soft hyphens routinely. A Cyrillic "а" inside "breаthing" looks Latin and is not.
So, before anything reads a question: NFKC, then every format character (Unicode category Cf), the
combining grapheme joiner and variation selectors are removed, then letters from other scripts that are
confusable with a Latin letter (Unicode's confusables data, as shipped by `confusable-homoglyphs`) are
folded to that letter inside any word that also holds Latin letters or consists only of such look-alikes.

Why a library for the data: Unicode's confusables table is thousands of entries maintained by the Unicode
consortium; a hand-written map would cover the few letters someone thought of.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

_INVISIBLE_EXTRA = {"\u034f"} | {chr(c) for c in range(0xFE00, 0xFE10)}  # CGJ, variation selectors
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _fold_map() -> dict[str, str]:
    """Non-ASCII letters whose confusable is one ASCII letter: {'а': 'a', 'р': 'p', 'ο': 'o', ...}."""
    try:
        raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - the package is a core dependency
        return {}
    table: dict[str, str] = {}
    for char, glyphs in json.loads(raw).items():
        if len(char) != 1 or char.isascii() or not char.isalpha():
            continue
        for glyph in glyphs:
            c = glyph.get("c", "")
            if len(c) == 1 and c.isascii() and c.isalpha():
                table[char] = c
                break
    return table


def _strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if ch not in _INVISIBLE_EXTRA and unicodedata.category(ch) != "Cf")


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isascii():
        return word
    fold = _fold_map()
    letters = [ch for ch in word if ch.isalpha()]
    has_latin = any(ch.isascii() for ch in letters)
    all_foldable = all(ch.isascii() or ch in fold for ch in letters)
    if not (has_latin or all_foldable):
        return word
    return "".join(fold.get(ch, ch) for ch in word)


def clean_text(text: str) -> str:
    """NFKC, invisible characters removed, Latin look-alikes folded. Idempotent; linear in the length."""
    if not text:
        return text
    text = _strip_invisible(unicodedata.normalize("NFKC", text))
    if text.isascii():
        return text
    return _WORD.sub(_fold_word, text)
