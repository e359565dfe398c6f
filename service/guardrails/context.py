"""ConText-style modifiers: is a finding negated, past, resolved, someone else's, or hypothetical?

A small own implementation of the NegEx/ConText idea (Chapman et al.): trigger phrases modify the findings
within their scope, scopes stop at clause boundaries and at termination words ("but", "now", "new"). The
trigger phrases, their direction, scope and terminators, and the pseudo-triggers are data a clinician can
review: `rules/context.yaml`, in the shape of medspaCy's context rules. This module is the mechanism: find
each finding's clause and comma segment, and ask every modifier rule whether it reaches the finding.
Why not medspaCy's ConText itself: measured on every labelled red-flag text with these rules translated to it
(`evals/compare_context.py`, docs/guardrails.md), it cannot express list-item and following-clause scopes
declaratively, so negation leaks into a new statement ("no allergies, pt collapsed"), it caught 21 fewer
emergencies of 1,860 with 8 more false alarms, and its modifier step was 2-3x slower.

Scopes, as the shipped rules set them (in words of the normalised text):

* negation: forward up to 6 words, across a comma only into a short list item ("denies CP, SOB,
  palpitations" negates all three; "no allergies, pt collapsed" does not negate the collapse), backward up
  to 3 words in the same comma segment ("saddle sensation normal", "seizure free");
* history: "history of", "previous", "old" forward in the comma segment; years and "N years ago" both ways;
* resolved / baseline: both ways in the clause ("sats dropped briefly ... recovered", "her usual baseline");
* experiencer: "mother had", "family history of" forward in the comma segment;
* hypothetical: "if", "what if", "should ... occur", "would", "could" forward to the end of the clause.

Trigger words inside a finding's own span are part of the finding ("not breathing", "no effect") and never
modify anything; nor do those inside a pseudo-trigger ("no IV access", "not sure").
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
from itertools import accumulate

from .findings import Finding
from .literals import NORMALISED
from .ruleset import MODIFIER_CATEGORIES, RULESET, ModifierRule

_CTX = RULESET.context
# Each searched once per text; skipped when its literals are absent (literals.py).
for _pattern in (_CTX.pseudo, _CTX.clause_breaks, _CTX.terminate, *(r.pattern for r in _CTX.modifiers)):
    NORMALISED.add(_pattern)
_COMMA = re.compile(r",")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Modifiers:
    """Why a finding does not describe a current problem of this patient (all False = active)."""

    negated: bool = False
    historical: bool = False
    resolved: bool = False
    experiencer: bool = False
    hypothetical: bool = False

    @property
    def active(self) -> bool:
        return not (self.negated or self.historical or self.resolved or self.experiencer or self.hypothetical)

    def reasons(self) -> list[str]:
        return [name for name, on in vars(self).items() if on]


_MODIFIER_FIELDS = tuple(field.name for field in fields(Modifiers))
if _MODIFIER_FIELDS != MODIFIER_CATEGORIES:  # the loader validates categories against this list
    raise RuntimeError(f"Modifiers {_MODIFIER_FIELDS} differ from the rule categories {MODIFIER_CATEGORIES}")


_CHARS_PER_WORD = 24  # a bound on scanning, not a rule: clinical words are far shorter


def _breaks(pattern: re.Pattern[str], text: str) -> tuple[list[int], list[int]]:
    """(ends, starts) of every match of a boundary pattern, in order: found once per text."""
    found = [(m.end(), m.start()) for m in NORMALISED.finditer(pattern, text)]
    return [e for e, _ in found], [s for _, s in found]


def _bounds(breaks: tuple[list[int], list[int]], length: int, pos: int) -> tuple[int, int]:
    """Start and end of the stretch around `pos` not crossed by a boundary (binary search, not a scan)."""
    ends, starts = breaks
    i = bisect_right(ends, pos)  # boundaries ending at or before pos
    start = ends[i - 1] if i else 0
    j = bisect_left(starts, pos)  # first boundary starting at or after pos
    end = starts[j] if j < len(starts) else length
    return start, end


def _terminated(norm: str, gap: str) -> bool:
    """A termination word in `gap` (a stretch of `norm`)? Skipped when `norm` has none at all."""
    return NORMALISED.possible(_CTX.terminate, norm) and _CTX.terminate.search(gap) is not None


def _words_between(text: str, a: int, b: int) -> int:
    return len(_WORD.findall(text[a:b]))


class Context:
    """Modifier analysis for all findings of one normalised text."""

    def __init__(self, norm: str, findings: list[Finding]):
        self.norm = norm
        spans = [(f.start, f.end) for f in findings]
        spans += [(m.start(), m.end()) for m in NORMALISED.finditer(_CTX.pseudo, norm)]
        # reach(p) = the furthest end of any span starting at or before p: a match [a, b) lies inside some
        # span exactly when reach(a) >= b. Spans sorted by start with a running maximum of their ends, so
        # the check is a binary search however many findings there are (and no pass over every character).
        spans.sort()
        self._span_starts = [start for start, _ in spans]
        self._reach_ends = list(accumulate((end for _, end in spans), max))
        self._found: dict[re.Pattern[str], tuple[list[int], list[re.Match[str]]]] = {}
        self._clauses = _breaks(_CTX.clause_breaks, norm)
        self._commas = _breaks(_COMMA, norm)
        # The rules that can reach some finding here: a scoped rule needs a trigger phrase somewhere in the
        # text, a following-clause rule at least its literals. The others are off for every finding.
        self._rules = [r for r in _CTX.modifiers if (NORMALISED.possible(r.pattern, norm)
                                                     if r.direction == "following_clause"
                                                     else self._in(r.pattern, 0, len(norm) + 1))]

    def _in(self, pattern: re.Pattern[str], lo: int, hi: int) -> list[re.Match[str]]:
        """Matches of `pattern` lying within [lo, hi): the text is searched once per pattern, then each
        finding looks its window up by binary search, so the screen costs O(text + findings)."""
        if pattern not in self._found:
            matches = list(NORMALISED.finditer(pattern, self.norm))
            self._found[pattern] = ([m.start() for m in matches], matches)
        starts, matches = self._found[pattern]
        out = []
        for i in range(bisect_left(starts, lo), bisect_left(starts, hi)):
            if matches[i].end() <= hi:
                out.append(matches[i])
        return out

    def _inside_span(self, m: re.Match, own: Finding) -> bool:
        """A trigger word that is part of some finding or of a pseudo-negation modifies nothing."""
        i = bisect_right(self._span_starts, m.start())
        if i and self._reach_ends[i - 1] >= m.end():
            return True
        return own.start <= m.start() < own.end

    def _before(self, pattern, f, lo, max_words, stop_at_terminator=True) -> bool:
        # a trigger more than max_words words away cannot count, so never scan further back than that many
        # (generously long) words: the cost per finding is bounded and the screen stays linear in the text.
        lo = max(lo, f.start - _CHARS_PER_WORD * (max_words + 2))
        for m in self._in(pattern, lo, f.start):
            if self._inside_span(m, f):
                continue
            gap = self.norm[m.end():f.start]
            if _words_between(self.norm, m.end(), f.start) > max_words:
                continue
            if stop_at_terminator and _terminated(self.norm, gap):
                continue
            return True
        return False

    def _after(self, pattern, f, hi, max_words, stop_at_terminator=True) -> bool:
        hi = min(hi, f.end + _CHARS_PER_WORD * (max_words + 2))
        for m in self._in(pattern, f.end, hi):
            if self._inside_span(m, f):
                continue
            if _words_between(self.norm, f.end, m.start()) <= max_words and not (
                stop_at_terminator and _terminated(self.norm, self.norm[f.end:m.start()])
            ):
                return True
        return False

    def _list_item(self, lo: int, hi: int) -> bool:
        """Negation carries across a comma only into short list items ("denies CP, SOB, palpitations"),
        not into a new statement ("no allergies, pt collapsed on the ward")."""
        segment = self.norm[lo:hi]
        return (_words_between(self.norm, lo, hi) <= _CTX.list_item_max_words
                and not _CTX.not_a_list_item.search(segment))

    def _applies(self, rule: ModifierRule, f: Finding, clause: tuple[int, int],
                 segment: tuple[int, int]) -> bool:
        """Does this modifier rule reach finding `f`? (clause and comma segment: the bounds around it)"""
        if rule.direction == "following_clause":
            return bool(rule.pattern.match(self.norm[clause[1]:clause[1] + rule.max_chars]))
        if rule.forward is not None:
            words, window = rule.forward.max_scope, rule.forward.window
            lo = clause[0] if window == "clause" else segment[0]
            if self._before(rule.pattern, f, lo, words, rule.terminated):
                return True
            if (window == "clause_through_list_items"
                    and self._before(rule.pattern, f, clause[0], words, rule.terminated)
                    and self._list_item(*segment)):
                return True
        if rule.backward is not None:
            hi = clause[1] if rule.backward.window == "clause" else segment[1]
            if self._after(rule.pattern, f, hi, rule.backward.max_scope, rule.terminated):
                return True
        return False

    def modifiers(self, f: Finding) -> Modifiers:
        c_lo, c_hi = _bounds(self._clauses, len(self.norm), f.start)
        s_lo, s_hi = _bounds(self._commas, len(self.norm), f.start)
        s_lo, s_hi = max(s_lo, c_lo), min(s_hi, c_hi)
        on = dict.fromkeys(_MODIFIER_FIELDS, False)
        for rule in self._rules:  # in file order; a modifier already on needs no second reason
            if not on[rule.category]:
                on[rule.category] = self._applies(rule, f, (c_lo, c_hi), (s_lo, s_hi))
        return Modifiers(**on)
