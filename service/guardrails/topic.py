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
from .ruleset import RULESET

# Words that may qualify a condition inside its name ("massive upper GI bleed", "aneurysmal SAH").
_MOD = (
    r"acute|hyperacute|massive|major|heavy|significant|severe|life-threatening|large|active|suspected|"
    r"possible|probable|presumed|query|confirmed|proven|known|first|recurrent|unprovoked|provoked|upper|"
    r"lower|gastrointestinal|variceal|non-variceal|nonvariceal|peptic|ulcer|aneurysmal|non-aneurysmal|"
    r"spontaneous|traumatic|hemorrhagic|isch(?:a)?emic|intracerebral|intracranial|cerebral|lobar|"
    r"[a-z0-9]+-(?:associated|induced|related|mediated|provoked)|induced|related|associated|"
    r"ace[- ]inhibitor|hereditary|idiopathic|intermediate|intermediate-high|intermediate-low|high-risk|"
    r"low-risk|high|low|risk|submassive|tension|primary|secondary|convulsive|non-convulsive|"
    r"nonconvulsive|refractory|super-refractory|febrile|neutropenic|clinical|focal|generali[sz]ed|"
    r"tonic-clonic|early|postoperative|post-operative|post-?partum|paracetamol|acetaminophen|opioid|"
    r"tricyclic|salicylate|deliberate|intentional|staggered|malignant|metastatic|spinal|epidural|"
    r"st elevation|non-st elevation|non st elevation|inferior|anterior|posterior|complete|incomplete|"
    r"hypercapnic|hypoxemic|pediatric|obstetric|adult|cardiogenic|septic|distributive|hypovolemic|"
    r"vasodilatory|anaphylactic|biphasic|retroperitoneal|pulmonary|cement|fat|meningococcal|"
    r"acute-on-chronic|community-acquired|hospital-acquired|nste|non-st|trauma|trauma-induced|surgical|"
    r"perioperative|intraoperative|peri-operative|intra-operative"
)
# Condition names: longest alternatives first (the regex takes the first alternative that matches).
_NOUN = (
    r"acute coronary syndromes?|coronary syndromes?|myocardial infarction|heart attack|unstable angina|"
    r"aortic dissection|ventricular (?:tachycardia|fibrillation)|heart block|stemi|nstemi|nste-?acs|acs|"
    r"mi|pulmonary emboli(?:sm|us)|emboli(?:sm|us)|pe|respiratory failure|pneumothorax|"
    r"pulmonary edema|transient ischemic attacks?|tias?|strokes?|subarachnoid hemorrhage|subarachnoid|sah|"
    r"intracranial (?:bleed|hemorrhage)|intracerebral hemorrhage|ich|thunderclap headache|"
    r"hemorrhages?|bleeds?|bleeding|blood loss|hematomas?|pph|anaphylaxis|anaphylactic reactions?|"
    r"angioedema|airway edema|septic shock|shock|hypotension|urosepsis|sepsis|meningococcal disease|"
    r"status epilepticus|status|seizures?|cardiac arrest|syncope|"
    r"(?:[a-z]+ )?overdoses?|(?:[a-z]+ )?poisoning|self[- ]harm(?:s|ed|ing)?|"
    r"hemoptysis|suicidal ideation|"
    r"suicide|cauda equina(?: syndrome)?|spinal cord compression|cord compression|conus|"
    r"compartment syndrome"
)
_TOPIC_PHRASE = re.compile(rf"\b(?:(?:{_MOD})[ -]){{0,4}}(?:{_NOUN})\b")

_SENTENCE_BREAK = re.compile(r"[.?!;:\n]|\s-\s")
_PREPOSITION_BEFORE = re.compile(
    r"\b(?:in|for|after|of|with|following|about|from|post|during|on|versus|vs|than|to|against|without|"
    r"complicating|between|exclude|excluding|diagnose|diagnosing|manage|managing|treat|treating|predict|"
    r"prevent|preventing)\s+(?:an?\s+)?$"
)
_SPECIFIC_BEFORE = re.compile(r"\b(?:this|that|the|these|those)\s+$")
_WH_WORD = re.compile(r"\b(?:what|which|when|how|why|where|who|whom|whose)\b")
_AUX_OPENING = re.compile(
    r"^\W*(?:should|shall|is|are|does|do|did|can|could|would|will|may|must|has|have|was|were)\b"
)
# A plural population in the sentence makes it a question about people in general ("PE in cancer patients").
_POPULATION = re.compile(
    r"\b(?:patients|people|adults|children|women|men|infants|neonates|the elderly|older adults|"
    r"in pregnancy|under \d+s)\b"
)
# "Post-partum haemorrhage: first-line uterotonic?" - a condition as the heading of a question. A suspicion
# ("suspected PE: which scan?", "?PE: ...") is a statement about a patient instead.
_HEADING_AFTER = re.compile(r"^\s*:\s*\S")
_SUSPICION = re.compile(r"^(?:suspected|possible|probable|presumed|query)\b")
_GUIDELINE_NOUN_AFTER = re.compile(
    r"^\s+(?:[\w-]+\s+)?(?:management|treatment|guidelines?|pathway|protocol|doses?|dosing|targets?|"
    r"thresholds?|work-?up|criteria|scores?|scoring|bundle|prophylaxis|anticoagulation|thrombolysis|"
    r"reversal|imaging|investigations?|antibiotics?|regimen|algorithm|window|timing|follow-?up|"
    r"prevention|recommendations?|therapy|transfusion|care|assessment)\b"
)

# Evidence of a specific patient presenting now (a referent, a time course, a change, a call for help, "is
# this a ...?"): one list shared with the teaching framing, rules/patient_now.yaml. Any one keeps the flag.
_REFERENT_RE = RULESET.patient_now.referent
_PATIENT_NOW = RULESET.patient_now.general_question


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
        or _POPULATION.search(norm, sentence_start, sentence_end)
        or _PREPOSITION_BEFORE.search(before)
        or _WH_WORD.search(before)
        or _AUX_OPENING.match(before)
        or _GUIDELINE_NOUN_AFTER.match(norm[end:end + 40])
    )


def topic_spans(norm: str) -> list[tuple[int, int]]:
    """Spans of condition names framed as the topic of a question."""
    return [m.span() for m in _TOPIC_PHRASE.finditer(norm) if _framed_as_topic(norm, *m.span())]


# "again" about resuming an activity ("before a patient can drive again") is not a recurrence.
_RESUMING = re.compile(r"\b(?:can|could|may|before|when|safe to|allowed to|able to|resume|return to)\s+"
                       r"(?:[\w-]+\s+){0,2}$")


def patient_referent(norm: str) -> bool:
    """A specific patient is being described ("my patient", "she's", "his calf", "the man in bay 3")."""
    return bool(_REFERENT_RE.search(norm))


def patient_now(norm: str) -> bool:
    """Any sign of a specific patient presenting, changing or needing help now."""
    for m in _PATIENT_NOW.finditer(norm):
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
