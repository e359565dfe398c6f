"""ConText-style modifiers: is a finding negated, past, resolved, someone else's, or hypothetical?

A small own implementation of the NegEx/ConText idea (Chapman et al.): trigger phrases modify the findings
within their scope, scopes stop at clause boundaries and at termination words ("but", "now", "new").
medspaCy implements the same algorithm but pulls in spaCy and its pipeline machinery for what is, here, a
few dozen regexes on one short question; this module is dependency-free and runs in well under a millisecond.

Scopes, in words of the normalised text:

* negation: forward up to 6 words, across a comma only into a short list item ("denies CP, SOB,
  palpitations" negates all three; "no allergies, pt collapsed" does not negate the collapse), backward up
  to 3 words in the same comma segment ("saddle sensation normal", "seizure free");
* history: "history of", "previous", "old" forward in the comma segment; years and "N years ago" both ways;
* resolved / baseline: both ways in the clause ("sats dropped briefly ... recovered", "her usual baseline");
* experiencer: "mother had", "family history of" forward in the comma segment;
* hypothetical: "if", "what if", "should ... occur", "would", "could" forward to the end of the clause.

Trigger words inside a finding's own span are part of the finding ("not breathing", "no effect") and never
modify anything.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from .findings import Finding

# Clause boundaries: sentence marks, spaced dashes, colons and contrastive conjunctions.
_CLAUSE_BREAK = re.compile(
    r"[.;!?\n]|\s-\s|:\s|\b(?:but|however|although|though|whereas|except|apart from)\b"
)
_COMMA = re.compile(r",")
_WORD = re.compile(r"[a-z0-9']+")

# Words that end a negation or history scope early: a new, current statement starts here.
_TERMINATORS = re.compile(
    r"\b(?:now|new|newly|still|then|again|today|suddenly|sudden|worse|worsening|developed|develops|presents?|"
    r"complains?|reports?|c/o|started|since)\b"
)
# Phrases that contain a negation word but do not negate ("no IV access", "not sure").
_PSEUDO_NEGATION = re.compile(
    r"\bno (?:iv )?access\b|\bnot sure\b|\bno idea\b|\bno doubt\b|\bnot only\b|\bnot anticoagulated\b|"
    r"\bnot (?:long|much) (?:ago|after)\b|\bnot certain\b|\bno response to\b|\bno better\b"
)
_NEG_PRE = re.compile(
    r"\b(?:no|not|denies|denied|denying|without)(?: any)? new(?:ly)?\b|"  # "no new weakness" is one trigger
    r"\b(?:no|not|denies|denied|denying|without|negative for|nil|absence of|absent|free of|never|neither|nor|"
    r"ruled out|excluded|asymptomatic|no signs? of|no evidence of|no symptoms of|no history of)\b"
)
# A comma segment that reads like a new statement rather than one more item of a negated list.
_NOT_A_LIST_ITEM = re.compile(
    r"\d|\b(?:patient|he|she|they|he's|she's|now|since|ago|for|minutes|hours|today|tonight|started|just|"
    r"suddenly|new|newly)\b"
)
_NEG_POST = re.compile(
    r"\b(?:none|absent|negative|normal|intact|fine|ok|okay|ruled out|excluded|unlikely|free|nil|"
    r"not present|resolved|unremarkable)\b"
)
_HISTORY_PRE = re.compile(
    r"\b(?:history of|history|past medical history|previous(?:ly)?|prior|remote|survived|background of|"
    r"residual|chronic|longstanding|long-standing|in the past)\b|(?<!year )\bold\b|"
    r"\bpast\b(?!\s+(?:\d+|few|couple|several|hours?|days?|night|hour))"
)
_HISTORY_BOTH = re.compile(
    r"\b\d+ (?:years?|months?|weeks?) ago\b|\b(?:years|months|weeks) ago\b|\blast (?:year|month|week)\b|"
    r"\b(?:19|20)\d\d\b|\bas a (?:child|teenager)\b|\bat (?:the )?age (?:of )?\d+\b|"
    r"\bwhen (?:she|he|they) (?:was|were) (?:younger|a child|a teenager|\d+)\b|\b(?:a few|some) years back\b|"
    r"\bin (?:his|her|their) (?:twenties|thirties|forties|youth|"
    r"teens)\b|\bbreakthrough\b(?=.*\blast (?:week|month)\b)"
)
_RESOLVED = re.compile(
    r"\bresolv\w*|\bsettl(?:ed|ing)\b|\brecovered\b|\bback to (?:baseline|normal)\b|\bbaseline\b|\bstable\b|"
    r"\bunchanged\b|\bimprov(?:ed|ing)\b|\bmuch better\b|\bno longer\b|\bstopped\b|\bnormali[sz]ed\b|"
    r"\breturned to normal\b|\btransient(?:ly)?\b|\bbriefly\b|\bnow (?:fine|well|ok|normal)\b|\bno change\b|"
    r"\bnow (?:controlled|resolved|settled|stable|better|improved|normal|fine|well|ok)\b|"
    r"(?<!not )(?<!n't )(?<!never )\b(?:responded|responding well) to\b|"
    r"\b(?:has|have) since (?:subsided|resolved|settled|improved|gone|recovered|eased)\b|\bwore off\b|"
    r"\bworn off\b|\bwent away\b|\bsubsided\b|\babated\b|\beased off\b|\bcleared up\b|"
    r"\b(?:hasn't|has not|not) recurred\b|\bno (?:recurrence|further episodes?)\b|\bvoiding normally\b|"
    r"\bwell controlled\b|\bcontrolled\b|"
    r"\busual(?:ly)?\b|\bnormally\b|\bchronically\b"
)
# "X ... but that wore off": a following clause that only reports X going away resolves X.
_RESOLVING_CLAUSE = re.compile(
    r"^\W*(?:(?:but|and|which)?\s*(?:that|it|this|they|these|those|symptoms?|all of (?:that|this)|which)\s+"
    r"|(?:but|and then|then)\s+)"
    r"(?:has |have |had |then |quickly |soon |completely |fully )*"
    r"(?:wore off|worn off|resolved|settled|went away|gone away|disappeared|improved|recovered|passed|"
    r"(?:came|come|went|gone) back (?:up|down|to normal|to baseline)|returned to (?:normal|baseline)|"
    r"normali[sz]ed|stopped)\b"
)
_EXPERIENCER = re.compile(
    r"\bfamily history\b|\b(?:mother|father|mum|dad|brother|sister|son|daughter|husband|wife|partner|"
    r"grandmother|grandfather|grandparent|uncle|aunt|cousin|sibling|relative)s?(?:'s)?\s+"
    r"(?:had|has|have|died|with|suffered|was|is)\b"
)
_HYPOTHETICAL = re.compile(
    r"\bif\b|\bwhat if\b|\bin case\b|\bin the event\b|\bsuppos\w*|\bhypothetical\w*|\bwere to\b|"
    r"\bwould\b(?! rather)|"
    r"\bcould\b|\bmight\b|\bwhenever\b|\bunless\b|\bwhen should\b|"
    r"\bshould\b(?=[^.?!]*\b(?:occur|develop|happen|arise)\b)|"
    r"\bshould (?:a|the|cement|there|any|it|this)\b|\bat risk of\b|\brisk of\b|"
    r"\b(?:to|or) (?:rule out|exclude|look for|check for|assess for|screen for)\b"
)


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


_CHARS_PER_WORD = 24  # a bound on scanning, not a rule: clinical words are far shorter


def _breaks(pattern: re.Pattern[str], text: str) -> tuple[list[int], list[int]]:
    """(ends, starts) of every match of a boundary pattern, in order: found once per text."""
    found = [(m.end(), m.start()) for m in pattern.finditer(text)]
    return [e for e, _ in found], [s for _, s in found]


def _bounds(breaks: tuple[list[int], list[int]], length: int, pos: int) -> tuple[int, int]:
    """Start and end of the stretch around `pos` not crossed by a boundary (binary search, not a scan)."""
    ends, starts = breaks
    i = bisect_right(ends, pos)  # boundaries ending at or before pos
    start = ends[i - 1] if i else 0
    j = bisect_left(starts, pos)  # first boundary starting at or after pos
    end = starts[j] if j < len(starts) else length
    return start, end


def _words_between(text: str, a: int, b: int) -> int:
    return len(_WORD.findall(text[a:b]))


class Context:
    """Modifier analysis for all findings of one normalised text."""

    def __init__(self, norm: str, findings: list[Finding]):
        self.norm = norm
        spans = [(f.start, f.end) for f in findings]
        spans += [(m.start(), m.end()) for m in _PSEUDO_NEGATION.finditer(norm)]
        # reach[p] = the furthest end of any span starting at or before p: a match [a, b) lies inside some
        # span exactly when reach[a] >= b. One pass, so the check is O(1) however many findings there are.
        reach = [-1] * (len(norm) + 1)
        for start, end in spans:
            reach[start] = max(reach[start], end)
        for p in range(1, len(reach)):
            reach[p] = max(reach[p], reach[p - 1])
        self._reach = reach
        self._found: dict[re.Pattern[str], tuple[list[int], list[re.Match[str]]]] = {}
        self._clauses = _breaks(_CLAUSE_BREAK, norm)
        self._commas = _breaks(_COMMA, norm)

    def _in(self, pattern: re.Pattern[str], lo: int, hi: int) -> list[re.Match[str]]:
        """Matches of `pattern` lying within [lo, hi): the text is searched once per pattern, then each
        finding looks its window up by binary search, so the screen costs O(text + findings)."""
        if pattern not in self._found:
            matches = list(pattern.finditer(self.norm))
            self._found[pattern] = ([m.start() for m in matches], matches)
        starts, matches = self._found[pattern]
        out = []
        for i in range(bisect_left(starts, lo), bisect_left(starts, hi)):
            if matches[i].end() <= hi:
                out.append(matches[i])
        return out

    def _inside_span(self, m: re.Match, own: Finding) -> bool:
        """A trigger word that is part of some finding or of a pseudo-negation modifies nothing."""
        if self._reach[m.start()] >= m.end():
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
            if stop_at_terminator and _TERMINATORS.search(gap):
                continue
            return True
        return False

    def _after(self, pattern, f, hi, max_words) -> bool:
        hi = min(hi, f.end + _CHARS_PER_WORD * (max_words + 2))
        for m in self._in(pattern, f.end, hi):
            if self._inside_span(m, f):
                continue
            if _words_between(self.norm, f.end, m.start()) <= max_words and not _TERMINATORS.search(
                self.norm[f.end:m.start()]
            ):
                return True
        return False

    def _list_item(self, lo: int, hi: int) -> bool:
        """Negation carries across a comma only into short list items ("denies CP, SOB, palpitations"),
        not into a new statement ("no allergies, pt collapsed on the ward")."""
        segment = self.norm[lo:hi]
        return _words_between(self.norm, lo, hi) <= 6 and not _NOT_A_LIST_ITEM.search(segment)

    def modifiers(self, f: Finding) -> Modifiers:
        c_lo, c_hi = _bounds(self._clauses, len(self.norm), f.start)
        s_lo, s_hi = _bounds(self._commas, len(self.norm), f.start)
        s_lo, s_hi = max(s_lo, c_lo), min(s_hi, c_hi)
        return Modifiers(
            negated=self._before(_NEG_PRE, f, s_lo, 6)
            or (self._before(_NEG_PRE, f, c_lo, 6) and self._list_item(s_lo, s_hi))
            or self._after(_NEG_POST, f, s_hi, 3),
            historical=self._before(_HISTORY_PRE, f, s_lo, 5)
            or self._before(_HISTORY_BOTH, f, s_lo, 4)
            or self._after(_HISTORY_BOTH, f, s_hi, 6),
            resolved=self._before(_RESOLVED, f, s_lo, 8) or self._after(_RESOLVED, f, c_hi, 10)
            or bool(_RESOLVING_CLAUSE.match(self.norm[c_hi:c_hi + 60])),
            experiencer=self._before(_EXPERIENCER, f, s_lo, 6),
            hypothetical=self._before(_HYPOTHETICAL, f, c_lo, 14, stop_at_terminator=False),
        )
