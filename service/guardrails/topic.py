"""General guideline questions that name an emergency diagnosis, with no patient presenting now.

Much of the guideline content is about emergencies, so clinicians ask all day: "within how many hours should
primary PCI be done for STEMI?", "which blood tests in the workup of a TIA?", "in a massive upper GI bleed,
at what platelet count should platelets be transfused?". A diagnosis named as the *topic* of a question is
not a patient deteriorating in front of the clinician, and the fixed emergency guidance would be useless
there. This layer recognises that shape and nothing wider:

1. every active red-flag trigger is a **named condition** (STEMI, PE, stroke/TIA, haemorrhage, septic shock,
   anaphylaxis, seizures, overdose, cauda equina ...) - a symptom or sign ("vomiting blood", "can't lift
   her leg", "sats 84%") is a statement about a patient and keeps the flag;
2. each of them is **the topic of a question**: introduced by a preposition ("for STEMI", "in suspected
   PE", "after intracerebral haemorrhage"), inside a sentence that asks (a wh-word before it, or the
   sentence opens with "should/is/does/can ..."), or used as a noun modifier of a guideline term ("PE
   thrombolysis dose"). A diagnosis standing at the head of a note ("suspected cauda equina, what
   imaging?", "?PE - which scan") is a statement about a patient and keeps the flag;
3. **no evidence of a specific patient now**: no referent with current findings ("my patient", "she's",
   "the man in bay 3", "68 year old"), no time course ("since this morning", "for 30 min", "20 minutes
   ago", "now", "still"), no deterioration ("new", "worse", "again"), no call for help ("what do I do",
   "help"), no "is this a ...?", and no abnormal vital sign.

When any of the three fails the flag stands (when unsure about a patient now, prefer flagging).
"""

from __future__ import annotations

import re

from .findings import Finding
from .literals import NORMALISED
from .ruleset import RULESET

# The vocabularies are reviewable data (rules/topic.yaml); the structure around them stays here.
_WORDS = RULESET.topic
# A condition name with up to four qualifying words in front ("massive upper GI bleed", "aneurysmal SAH").
_TOPIC_PHRASE = re.compile(
    rf"\b(?:(?:{_WORDS.condition_modifiers})[ -]){{0,4}}(?:{_WORDS.condition_names})\b"
)

_SENTENCE_BREAK = re.compile(r"[.?!;:\n]|\s-\s")
_PREPOSITION_BEFORE = re.compile(rf"\b(?:{_WORDS.prepositions})\s+(?:an?\s+)?$")
_SPECIFIC_BEFORE = re.compile(r"\b(?:this|that|the|these|those)\s+$")
_WH_WORD = re.compile(r"\b(?:what|which|when|how|why|where|who|whom|whose)\b")
_AUX_OPENING = re.compile(
    r"^\W*(?:should|shall|is|are|does|do|did|can|could|would|will|may|must|has|have|was|were)\b"
)
# A plural population in the sentence makes it a question about people in general ("PE in cancer patients").
_POPULATION = re.compile(rf"\b(?:{_WORDS.populations})\b")
# "Post-partum haemorrhage: first-line uterotonic?" - a condition as the heading of a question. A suspicion
# ("suspected PE: which scan?", "?PE: ...") is a statement about a patient instead.
_HEADING_AFTER = re.compile(r"^\s*:\s*\S")
_SUSPICION = re.compile(rf"^(?:{_WORDS.suspicion})\b")
_GUIDELINE_NOUN_AFTER = re.compile(rf"^\s+(?:[\w-]+\s+)?(?:{_WORDS.guideline_nouns})\b")

# Evidence of a specific patient presenting now (a referent, a time course, a change, a call for help, "is
# this a ...?"): one list shared with the teaching framing, rules/patient_now.yaml. Any one keeps the flag.
_REFERENT_RE = RULESET.patient_now.referent
_PATIENT_NOW = RULESET.patient_now.general_question
# Searched over the whole question; skipped when their literals are absent (literals.py).
for _pattern in (_TOPIC_PHRASE, _POPULATION, _REFERENT_RE, _PATIENT_NOW):
    NORMALISED.add(_pattern)


def _framed_as_topic(norm: str, start: int, end: int) -> bool:
    """The condition phrase norm[start:end] is what a question is about, not a statement about a patient."""
    sentence_start, sentence_end = 0, len(norm)
    for m in _SENTENCE_BREAK.finditer(norm):
        if m.end() <= start:
            sentence_start = m.end()
        elif m.start() >= end:
            sentence_end = m.start()
            break
    before = norm[sentence_start:start]
    if _SPECIFIC_BEFORE.search(before):  # "the haemorrhage", "this PE": one patient's condition
        return False
    heading = (not before.strip() and _HEADING_AFTER.match(norm[end:end + 4]) is not None
               and not _SUSPICION.match(norm[start:end]) and not norm[max(0, start - 2):start].strip())
    return bool(
        heading
        or NORMALISED.any_match(_POPULATION, norm, sentence_start, sentence_end)
        or _PREPOSITION_BEFORE.search(before)
        or _WH_WORD.search(before)
        or _AUX_OPENING.match(before)
        or _GUIDELINE_NOUN_AFTER.match(norm[end:end + 40])
    )


def topic_spans(norm: str) -> list[tuple[int, int]]:
    """Spans of condition names framed as the topic of a question."""
    return [m.span() for m in NORMALISED.finditer(_TOPIC_PHRASE, norm) if _framed_as_topic(norm, *m.span())]


# "again" about resuming an activity ("before a patient can drive again") is not a recurrence.
_RESUMING = re.compile(rf"\b(?:{_WORDS.resuming})\s+(?:[\w-]+\s+){{0,2}}$")


def patient_referent(norm: str) -> bool:
    """A specific patient is being described ("my patient", "she's", "his calf", "the man in bay 3")."""
    return NORMALISED.any_match(_REFERENT_RE, norm)


def patient_now(norm: str) -> bool:
    """Any sign of a specific patient presenting, changing or needing help now."""
    if "again" not in norm:  # then every match counts, and whether there is one is all that matters
        return NORMALISED.any_match(_PATIENT_NOW, norm)
    for m in NORMALISED.finditer(_PATIENT_NOW, norm):
        if m.group(0) == "again" and _RESUMING.search(norm[max(0, m.start() - 40):m.start()]):
            continue
        return True
    return False


def general_question(norm: str, active: list[Finding], *, triggers_only: bool = True) -> bool:
    """True when the only red flags are condition names asked about in general, with no patient now.

    `triggers_only=False` asks the same of every active finding, features included: the detector uses it
    to keep general questions such as "how often should lactate be remeasured in sepsis?" out of the
    uncertain band, where they would only cost an embedding. Numeric findings are patient data and never
    count as a topic, so "sats 84%" keeps the flag."""
    judged = [f for f in active if f.is_trigger] if triggers_only else active
    if not judged or any(f.numeric for f in active):
        return False
    spans = topic_spans(norm)
    if not all(any(s <= f.start and f.end <= e for s, e in spans) for f in judged):
        return False
    return not patient_now(norm)
