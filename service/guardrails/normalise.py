"""Turn a clinician's free typing into one canonical lower-case form the rules can read.

Clinicians type "pt c/o SOB w/ sats 86% RA", "weaknes in LE", "colapsed". The rules are written once, against
expanded words ("patient complains of short of breath with saturation 86% room air"), so every spelling
variant is handled here instead of in every pattern. Three steps, in this order:

1. character clean-up (unicode dashes and quotes, "++" emphasis, spacing around punctuation),
2. abbreviation expansion (a fixed table, applied on word boundaries, with a few context-dependent ones
   such as "hr" = heart rate before a number but hours after one),
3. typo repair: a token of 4+ letters that is not a known word and is one edit (two for long words) away from
   a word the rules depend on, with the same first letter, is replaced by that word (for 4-letter tokens only
   a swapped pair: "pian"; other short misspellings such as "fevr" are in the abbreviation table). Known
   English words near
   a rule word ("sitting" vs "fitting", "fewer" vs "fever") are protected.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA

from service.lexicon_table import table

from .literals import required_literals
from .ruleset import RULESET

# The shorthand and typo-repair lists are reviewable data (rules/normalise.yaml); the steps stay here.
_RULES = RULESET.normalise
# Multi-character forms that contain punctuation: expanded before tokenising.
_SLASH_FORMS: tuple[tuple[str, str], ...] = _RULES.punctuated

# One word -> its expansion. Only unambiguous clinical shorthand; ambiguous ones are handled in _CONTEXTUAL.
# The table: service/data/lexicon.tsv (rows marked "both" or "guardrail"), shared with query expansion.
ABBREVIATIONS: dict[str, str] = table("guardrail")

# Abbreviations whose meaning depends on a neighbouring number or word.
_CONTEXTUAL: tuple[tuple[str, str], ...] = _RULES.contextual
# Words the rules depend on: typo repair may map an unknown token onto one of these.
RULE_WORDS: frozenset[str] = _RULES.typo_targets
# Ordinary words within one edit of a rule word: never "repaired".
_PROTECTED: frozenset[str] = _RULES.typo_protected
# Prefixes of opposite meaning that share a first letter: a "repair" across them inverts the finding.
_OPPOSITE_PREFIXES: tuple[tuple[str, str], ...] = _RULES.opposite_prefixes


def _inverts(token: str, word: str) -> bool:
    return any(token.startswith(a) and word.startswith(b) for a, b in _OPPOSITE_PREFIXES)

_BY_INITIAL: dict[str, tuple[str, ...]] = {
    initial: tuple(sorted(w for w in RULE_WORDS if w[0] == initial)) for initial in {w[0] for w in RULE_WORDS}
}

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ABBREVIATION_WORD = re.compile(r"\b[a-z]+(?:'[a-z]+)?\b")


@dataclass(frozen=True)
class _Rewrite:
    """One `re.sub`, compiled once, skipped when the text lacks every literal a match needs (literals.py):
    the text changes from step to step, so each step checks its own few literals with `in`."""

    pattern: re.Pattern[str]
    replace: str
    needs: tuple[str, ...] | None

    @classmethod
    def of(cls, pattern: str, replace: str) -> _Rewrite:
        needs = required_literals(pattern)
        return cls(re.compile(pattern), replace, None if needs is None else tuple(sorted(needs)))

    def __call__(self, text: str) -> str:
        if self.needs is not None:
            for literal in self.needs:
                if literal in text:
                    break
            else:
                return text
        return self.pattern.sub(self.replace, text)


_CLEAN = tuple(_Rewrite.of(p, r) for p, r in (
    (r"[\u2012\u2013\u2014\u2015\u2212]", " - "),
    (r"\+{2,}", " "),                      # "sob++" emphasis carries no extra meaning
    (r"\s+\+\s+", " and "),                # "cp + sob" is a list
    (r"\s*&\s*", " and "),
    (r"(\d)\s*->\s*(\d)", r"\1 to \2"),
    (r"->|=>", " then "),
))
_REWRITES = tuple(_Rewrite.of(p, r) for p, r in (*_SLASH_FORMS, *_CONTEXTUAL))


def _clean(text: str) -> str:
    """Unicode to plain ASCII-ish lower case with clause punctuation kept as separate marks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for rewrite in _CLEAN:
        text = rewrite(text)
    return text


def _expand(text: str) -> str:
    for rewrite in _REWRITES:
        text = rewrite(text)
    return _map_words(_ABBREVIATION_WORD, text, _abbreviation)


def _abbreviation(word: str) -> str:
    return ABBREVIATIONS.get(word, word)


def _map_words(pattern: re.Pattern[str], text: str, replace: Callable[[str], str]) -> str:
    """`pattern.sub(lambda m: replace(m.group(0)), text)` for a pattern without groups: the same matches
    (split with one capturing group finds what sub finds), but one call per word instead of one per match
    object, and the text returned as it was when no word changes (most questions)."""
    pieces = _capture(pattern).split(text)
    words = pieces[1::2]
    replaced = [replace(w) for w in words]
    if replaced == words:
        return text
    pieces[1::2] = replaced
    return "".join(pieces)


@lru_cache(maxsize=8)
def _capture(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(f"({pattern.pattern})", pattern.flags)


def _max_edits(word: str) -> int:
    return 2 if len(word) >= 11 else 1


def _short_typo(token: str, word: str) -> bool:
    """For 4-letter tokens only a swapped adjacent pair ("pian") counts: a dropped letter too often turns one
    real word into another ("drop" is not "droop")."""
    return len(word) == len(token) and sorted(word) == sorted(token) and OSA.distance(token, word) == 1


@lru_cache(maxsize=8192)
def repair_token(token: str) -> str:
    """The rule word this token is most likely a typo of, or the token itself."""
    if len(token) < 4 or token in RULE_WORDS or token in _PROTECTED or token in ABBREVIATIONS:
        return token
    best, best_d = token, 99
    for word in _BY_INITIAL.get(token[0], ()):
        if abs(len(word) - len(token)) > 2 or _inverts(token, word):
            continue
        if len(token) == 4 and not _short_typo(token, word):
            continue
        limit = _max_edits(word)
        d = OSA.distance(token, word, score_cutoff=limit)
        if d <= limit and d < best_d:
            best, best_d = word, d
    return best


def _repair(text: str) -> str:
    return _map_words(_TOKEN, text, repair_token)


_SPACES = re.compile(r"[ \t]+")


def normalise(text: str) -> str:
    """The canonical form every rule is matched against (lower case, expanded, typo-repaired, one space)."""
    text = _repair(_expand(_clean(text)))
    return _SPACES.sub(" ", text).strip()
