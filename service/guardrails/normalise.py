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
from functools import lru_cache

from rapidfuzz.distance import OSA

from service.lexicon_table import table

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


def _clean(text: str) -> str:
    """Unicode to plain ASCII-ish lower case with clause punctuation kept as separate marks."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"[\u2012\u2013\u2014\u2015\u2212]", " - ", text)
    text = re.sub(r"\+{2,}", " ", text)                     # "sob++" emphasis carries no extra meaning
    text = re.sub(r"\s+\+\s+", " and ", text)               # "cp + sob" is a list
    text = re.sub(r"\s*&\s*", " and ", text)
    text = re.sub(r"(\d)\s*->\s*(\d)", r"\1 to \2", text)
    text = re.sub(r"->|=>", " then ", text)
    return text


def _expand(text: str) -> str:
    for pattern, repl in _SLASH_FORMS:
        text = re.sub(pattern, repl, text)
    for pattern, repl in _CONTEXTUAL:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"\b[a-z]+(?:'[a-z]+)?\b", lambda m: ABBREVIATIONS.get(m.group(0), m.group(0)), text)
    return text


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
    return _TOKEN.sub(lambda m: repair_token(m.group(0)), text)


def normalise(text: str) -> str:
    """The canonical form every rule is matched against (lower case, expanded, typo-repaired, one space)."""
    text = _repair(_expand(_clean(text)))
    return re.sub(r"[ \t]+", " ", text).strip()
