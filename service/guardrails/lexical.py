"""Lexical red-flag findings: every finding of rules/findings.yaml, matched on the normalised text.

The findings themselves (which words are a red flag, for which category, trigger or feature) are data a
clinician can review (`rules/findings.yaml`, loaded and compiled once by ruleset.py); this module only runs
them. Patterns are written against `normalise()` output (lower case, abbreviations expanded, typos
repaired). Rules say what was *said*; whether it is happening now, to this patient, is decided later by the
context module. Combinations (sepsis, anaphylaxis, uncontrolled pain, bleeding with shock) are in
`combine.py`.

A rule whose literals are all absent from the text cannot match and is not run (literals.py): most texts
can match only a few of the rules, and running all of them was most of the screen's time.
"""

from __future__ import annotations

from .findings import Finding
from .literals import NORMALISED
from .ruleset import RULESET

_RULES = [(rule, NORMALISED.add(rule.pattern)) for rule in RULESET.findings]
# literal -> the rules (by position) that need it; rules with no literal to rely on always run
_BY_LITERAL: dict[str, list[int]] = {}
_ALWAYS: list[int] = []
for _i, (_rule, _pattern) in enumerate(_RULES):
    _needs = NORMALISED.needs(_pattern)
    if _needs is None:
        _ALWAYS.append(_i)
    for _literal in _needs or ():
        _BY_LITERAL.setdefault(_literal, []).append(_i)


def _candidates(norm: str) -> list[int]:
    """Positions of the rules that can match `norm` (all of them with the screen off), in rule order."""
    if not NORMALISED.enabled:
        return list(range(len(_RULES)))
    chosen = set(_ALWAYS)
    for literal in NORMALISED.present(norm):
        chosen.update(_BY_LITERAL.get(literal, ()))
    return sorted(chosen)


def lexical_findings(norm: str) -> list[Finding]:
    """Every rule match in the normalised text, in rule order, overlapping matches of different rules kept."""
    found: list[Finding] = []
    for i in _candidates(norm):
        rule = _RULES[i][0]
        for m in rule.pattern.finditer(norm):
            found.append(Finding(rule.category, rule.name, rule.role, m.start(), m.end()))
    return found
