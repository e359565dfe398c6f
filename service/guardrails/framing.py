"""Question-level framing: teaching/informational questions, and clinicians managing an established diagnosis.

Per-finding modifiers (context.py) cannot see that a whole question is about a topic rather than a patient
("signs of cement embolism for my slides"), or that a clinician is already treating a named condition and asks
one guideline question ("confirmed PE, SBP 82 on norepinephrine - which thrombolytic regimen?").

Both framings only *suppress*, and each has an override that keeps the flag:

* informational framing is overridden by an acute anchor: a definite patient doing something now
  ("my pt has", "since this morning", "20 min ago", "now", an abnormal vital sign);
* managed framing needs *both* an established diagnosis *and* a specific guideline question. The diagnosis is
  established when there is a cue (confirmed, on pressors, intubated, thrombolysed, ICU/neurosurgery involved
  ...) or when the only red-flag statements are named diagnoses stated as fact ("haemorrhagic stroke on
  apixaban", "GI bleed, Hb 68") rather than suspected ("?PE", "bleed suspected") or described as symptoms. The
  question must be specific (dose, regimen, target, timing, which drug),
  and is overridden by any sign of new deterioration or an open call for help ("new", "worse", "suddenly",
  "despite increasing", "what do I do", "help", or "now" followed by a red-flag finding - "BP now 110/70" is
  not deterioration, "now sats 80%" is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .literals import NORMALISED
from .ruleset import RULESET

# The vocabularies are reviewable data (rules/framing.yaml); the structure around them stays here.
_WORDS = RULESET.framing
_INFORMATIONAL = re.compile(_WORDS.informational)
# A described patient or a current time course overrides the teaching framing: the same "patient now" list
# the topic exemption reads (rules/patient_now.yaml), with the entries that count here.
_ACUTE_ANCHOR = RULESET.patient_now.informational
# Generic "how do I treat X" wording counts only without a hint of a new problem ("new", "sudden", "acute").
_WEAK_INFORMATIONAL = re.compile(_WORDS.weak_informational)
_WEAK_ANCHOR = re.compile(_WORDS.weak_anchor)
_ESTABLISHED = re.compile(_WORDS.established)
# Cues that only establish *the red flag in question* when they sit next to it: "known PE on heparin" is
# managed PE, but "known diabetes, crushing chest pain for 30 min, which aspirin dose?" is not managed chest
# pain. Emergency-level care (pressors, intubation, ICU, thrombolysis, teams involved) needs no proximity.
_DIAGNOSIS_CUE = re.compile(_WORDS.diagnosis_cue)
_SEGMENT_BREAK = re.compile(r"[,.;:!?\n]|\s-\s")  # the cue must sit in the same comma segment as the flag
_SPECIFIC_QUESTION = re.compile(_WORDS.specific_question)
_DETERIORATION = re.compile(_WORDS.deterioration)
# Rules that name a diagnosis rather than describe a symptom or sign.
NAMED_DIAGNOSES = _WORDS.named_diagnoses
# A suspicion word just before a named diagnosis (at most two words between), or one right after it.
_SUSPECTED_BEFORE = re.compile(rf"(?:{_WORDS.suspected_before})\s*(?:\w+\s*){{0,2}}$")
_SUSPECTED_AFTER = re.compile(rf"^\s*(?:{_WORDS.suspected_after})")
_NOW = re.compile(r"\bnow\b")
# Each searched once per question; skipped when its literals are absent from the text (literals.py).
for _pattern in (_INFORMATIONAL, _ACUTE_ANCHOR, _WEAK_INFORMATIONAL, _WEAK_ANCHOR, _ESTABLISHED,
                 _DIAGNOSIS_CUE, _SPECIFIC_QUESTION, _DETERIORATION, _SUSPECTED_BEFORE, _SUSPECTED_AFTER,
                 _NOW):
    NORMALISED.add(_pattern)


def _has(pattern: re.Pattern[str], norm: str) -> bool:
    return NORMALISED.any_match(pattern, norm)


def stated_as_fact(norm: str, start: int, end: int) -> bool:
    """A named diagnosis that is not flagged as suspected ("?PE", "bleed suspected")."""
    before, after = norm[max(0, start - 40):start], norm[end:end + 16]
    return not ((NORMALISED.possible(_SUSPECTED_BEFORE, norm) and _SUSPECTED_BEFORE.search(before))
                or (NORMALISED.possible(_SUSPECTED_AFTER, norm) and _SUSPECTED_AFTER.match(after)))


@dataclass(frozen=True)
class Framing:
    """How the whole question is framed; `suppresses` says whether active findings should be set aside."""

    informational: bool
    acute_anchor: bool
    managed: bool
    deterioration: bool
    general: bool = False  # a guideline question naming a condition, no patient now (topic.py)

    @property
    def suppresses(self) -> str | None:
        if self.general:
            return "general question"
        if self.managed and not self.deterioration:
            return "managed"
        if self.informational and not self.acute_anchor:
            return "informational"
        return None


def _cue_near_trigger(norm: str, triggers: list[tuple[int, int]]) -> bool:
    for m in NORMALISED.finditer(_DIAGNOSIS_CUE, norm):
        for start, end in triggers:
            lo, hi = min(m.start(), start), max(m.end(), end)
            if not _SEGMENT_BREAK.search(norm, lo, hi):
                return True
    return False


def frame(
    norm: str, has_abnormal_vital: bool, diagnosis_only: bool, triggers: list[tuple[int, int]],
    general: bool = False,
) -> Framing:
    """The framing of one normalised question; `diagnosis_only`: every active trigger is a named diagnosis;
    `triggers`: spans of the active trigger findings (a red flag reported after "now" is new); `general`:
    the only red flags are condition names asked about in general, with no patient now (topic.py)."""
    established = diagnosis_only or _has(_ESTABLISHED, norm) or _cue_near_trigger(norm, triggers)
    now_then_flag = any(s > m.end() for m in NORMALISED.finditer(_NOW, norm) for s, _ in triggers)
    return Framing(
        informational=_has(_INFORMATIONAL, norm)
        or (_has(_WEAK_INFORMATIONAL, norm) and not _has(_WEAK_ANCHOR, norm)),
        acute_anchor=has_abnormal_vital or _has(_ACUTE_ANCHOR, norm),
        managed=established and _has(_SPECIFIC_QUESTION, norm),
        deterioration=now_then_flag or _has(_DETERIORATION, norm),
        general=general,
    )
