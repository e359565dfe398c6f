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
_NEEDS = [(rule, NORMALISED.needs(pattern)) for rule, pattern in _RULES]


def lexical_findings(norm: str) -> list[Finding]:
    """Every rule match in the normalised text, in rule order, overlapping matches of different rules kept."""
    found: list[Finding] = []
    present = NORMALISED.present(norm) if NORMALISED.enabled else None
    for rule, needs in _NEEDS:
        if present is not None and needs is not None and needs.isdisjoint(present):
            continue
        for m in rule.pattern.finditer(norm):
            found.append(Finding(rule.category, rule.name, rule.role, m.start(), m.end()))
    return found
