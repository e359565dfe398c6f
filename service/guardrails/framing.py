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

from .ruleset import RULESET

_INFORMATIONAL = re.compile(
    r"\bred flags?\b|\bwarning signs?\b|\b(?:signs?|symptoms?|features?|causes?|mechanism|pathophysiology|"
    r"definition|incidence|prevalence|mortality|percentage|risk factors?|contraindications?) (?:of|for|to)\b|"
    r"\b(?:incidence|prevalence|mortality|morbidity|distinguish\w*|differentiat\w*|published|studies|trials?|"
    r"series)\b|"
    r"\bwhat are the\b|\bhow (?:common|often|likely|frequent)\b|\bwhat percentage\b|\bteach\w*|\bslides?\b|"
    r"\blecture\b|\bpresentation\b|\bfor (?:an?|the|my) exam\b|\bexam question\b|\bquiz\b|\bstudents?\b|"
    r"\bjuniors?\b|\btrainees?\b|\bhandbook\b|\bleaflet\b|\binformation sheet\b|\bpatient information\b|"
    r"\bdefin(?:ition|e|es|ed)\b|\bcriteria\b|\bscor(?:e|es|ing)\b|\bscale\b|\bpredict\w*|\bthresholds?\b|"
    r"\bclassification\b|"
    r"\bexplain\b|\bdifference between\b|\bdifferential\b|\blist the\b|\bevidence\b|\bin general\b|"
    r"\btypical(?:ly)?\b|\busually\b|\brecogni[sz]ed complication\b|\bcomplications? of\b|\bwhich patients\b|"
    r"\brisks?\b|\bwatch out for\b|\btell (?:patients|the patient)\b|"
    r"\bcounsel\w*|"
    r"\bsafety[- ]net\w*|\bwhat does the (?:guideline|literature|evidence|research|data) say\b|"
    r"\bliterature\b|"
    r"\bgrand rounds?\b|\bjournal club\b|\bm and m\b|\bcase (?:report|series|discussion)\b|\bhow (?:is|are|"
    r"do you|to) (?:\w+ ){0,4}"
    r"(?:tested|assessed|examined|recogni[sz]ed?|diagnosed|defined|classified|worked up|graded|scored|"
    r"staged)\b|"
    r"\b(?:can|could|does|do|might|may) (?:\w+ ){0,4}cause\b|\bwhen should (?:a|the)? ?patients?\b|"
    r"\bwhich symptoms\b|\bprompt patients\b|\bhow long after\b|\bsummar\w*|\boverview\b|\bapproach to\b|"
    r"\b(?:side|adverse) effects?\b|\bis \w+ a (?:recogni[sz]ed|known|common|rare)\b|"
    r"\bprinciples of\b|\b(?:pathway|protocol|algorithm) for\b|\braise suspicion\b|\bclues?\b|"
    r"\bfindings? (?:suggest\w*|of)\b|\bsuspect\w* when\b|\blist\b|\baccording to (?:the )?guidelines?\b|"
    r"\bwhat (?:do|does) (?:the )?guidelines? (?:say|recommend)\b|"
    r"\bin (?:patients|people|adults|children|the elderly|older adults|women|men) (?:with|who|after|on)\b|"
    r"(?<!heart )(?<!respiratory )\brates? of\b"
)
# A described patient or a current time course overrides the teaching framing: the same "patient now" list
# the topic exemption reads (rules/patient_now.yaml), with the entries that count here.
_ACUTE_ANCHOR = RULESET.patient_now.informational
# Generic "how do I treat X" wording: teaching-like, but clinicians also ask it about the patient in front
# of them, so any hint of a new problem ("new", "sudden", "acute") keeps the flag.
_WEAK_INFORMATIONAL = re.compile(
    r"\bwhat (?:is|are) the (?:treatment|management|first-line treatment|approach|investigations?) (?:for|"
    r"of)\b|"
    r"\bhow (?:to|do you|should (?:we|i)) (?:treat|manage)\b"
)
_WEAK_ANCHOR = re.compile(r"\bsudden\w*|\bnew(?:ly)?\b|\bacute(?:ly)?\b")
_ESTABLISHED = re.compile(
    r"\balready (?:on|given|started|had|received|intubated|thrombolysed|treated|being treated)\b|"
    r"\bhas been (?:given|started on|treated with|thrombolysed|intubated|reviewed by|seen by)\b|"
    r"\b(?:post|after) (?:thrombolysis|pci|thrombectomy|decompression|endoscopy|embolisation)\b|"
    r"\b(?:being|currently) treated (?:for|with)\b|\bunder treatment for\b|"
    r"\bseen by (?:icu|itu|the medical team|neurosurgery|cardiology|outreach|the surgeons?)\b|"
    r"\boutreach (?:aware|reviewing|reviewed|involved)\b|"
    r"\b(?:reviewed|seen|assessed) by (?:the )?(?:\w+ )?(?:team|icu|itu|registrar|consultant|outreach|"
    r"surgeons?|cardiology|neurosurgery)\b|\bteam (?:on the way|here|at the bedside)\b|"
    r"\bintubated\b|\bventilated\b|"
    r"\b(?:in|on) (?:the )?(?:icu|itu|hdu|critical care)\b|"
    r"\bon (?:iv |an? |two |2 |three |3 |dual |multiple |high-? ?dose )?(?:norepinephrine|pressors?|"
    r"vasopressors?|inotropes?|vasopressin|adrenaline|epinephrine|ecmo|acetylcysteine|nac)\b|"
    r"\b(?:icu|itu|critical care|neurosurgery|neurosurgeons|cardiology|surgeons?|stroke team|team) "
    r"(?:aware|involved|present|reviewing|reviewed|attending)\b|\bgiven \d+ doses?\b|"
    r"\bendoscopy done\b|\bthrombolysed\b|\bcath lab (?:activated|called)\b|\bprotocol running\b|"
    r"\bmassive transfusion\b|\b(?:protocol|pathway|code) (?:activated|running|started|initiated|"
    r"in progress)\b|"
    r"\btheatre (?:booked|arranged|today|tomorrow)\b|\bmedically cleared\b|\bnac complete\b|"
    r"\blevels? (?:above|below) (?:the )?"
    r"treatment line\b|\bmanaged medically\b|\bawaiting (?:pci|surgery|theatre|transfer)\b|"
    r"\bsurgery (?:tomorrow|today|planned|booked)\b|\bclip applied\b|"
    r"\bafter \d+ ?(?:ml/kg|l|litres)\b|\bfor \d+ weeks\b"
)
# Cues that only establish *the red flag in question* when they sit next to it: "known PE on heparin" is
# managed PE, but "known diabetes, crushing chest pain for 30 min, which aspirin dose?" is not managed chest
# pain. Emergency-level care (pressors, intubation, ICU, thrombolysis, teams involved) needs no proximity.
_DIAGNOSIS_CUE = re.compile(
    r"\b(?:confirmed|diagnosed|established|known|proven)\b|\bon (?:ct|ctpa|mri|echo)\b|\btreated with\b|"
    r"\bon (?:iv |an? |a |high-? ?dose )?(?:heparin|terlipressin|dapt|meropenem|co-amox\w*|antibiotics|"
    r"tazocin|piperacillin|diltiazem|amiodarone|radiotherapy|dexamethasone|steroids|pca|\w+ infusion)\b"
)
_SEGMENT_BREAK = re.compile(r"[,.;:!?\n]|\s-\s")  # the cue must sit in the same comma segment as the flag
_SPECIFIC_QUESTION = re.compile(
    r"\bwhich\b|\bdoses?\b|\bdosing\b|\bregimen\b|\btargets?\b|\bhow long\b|\bwhen to\b|"
    r"\bwhen should (?:we|i)\b|\btiming\b|\bduration\b|\bratio\b|\btidal volume\b|\binfusion rate\b|"
    r"\brecommended\b|\bper (?:the )?guidelines?\b|\bper ssc\b|\bdoes the guideline\b|"
    r"\bguideline (?:support|recommend)\w*|\bguidelines? (?:on|for)\b|\bshould we (?:give|add|start|use|"
    r"switch)\b|\bstill indicated\b|"
    r"\bvs\b|\bversus\b|\bswitch\b|\btaper\b|\badjust\b|\bsecond[- ]line\b|\bloading dose\b|"
    r"\bcan (?:we|i) (?:stop|start|restart|switch|give|add|reduce|wean|continue|use)\b|"
    r"\bis it (?:safe|ok|okay|appropriate|reasonable) to\b|\bhow (?:often|frequently) (?:should|to)\b|"
    r"\bcriteria for\b|\bwean\w*|"
    r"\bwhat (?:fluid|agent|antibiotic|antihypertensive)\b|"
    r"\bshould (?:she|he|they|we|i) (?:get|have|receive|be given|be started on|start)\b|\bpre-?op\b"
)
_DETERIORATION = re.compile(
    r"\bsudden\w*|\bworse\w*|\bworsening\b|"
    r"\bdeteriorat\w*|\bnew(?:ly)?\b|\bagain\b|\bdespite increasing\b|\bnot responding\b|\bhelp\b|"
    r"\bwhat (?:now|do (?:i|we) do|to do|should (?:i|we) do)\b|\bwhat(?:'s)? next\b|\bcollaps\w*|"
    r"\bunresponsive\b|\bfurther\b"
)


# Rules that name a diagnosis rather than describe a symptom or sign.
NAMED_DIAGNOSES = frozenset({
    "cord or cauda equina compression", "pulmonary or cement embolism", "stroke named",
    "respiratory failure named", "acute coronary syndrome named",
    "anaphylaxis / angioedema",
    "septic shock named", "GI or PV bleed named",
})
_SUSPECTED_BEFORE = re.compile(
    r"(?:\?|\bsuspected|\bpossible|\bquery|\bprobable|\blikely|\bconcern(?:ed)? (?:for|about)|"
    r"\bworried about|"
    r"\brule out|\bcould (?:this|it) be|\bsigns of|\bsymptoms of)\s*(?:\w+\s*){0,2}$"
)
_SUSPECTED_AFTER = re.compile(r"^\s*(?:\?|suspected|possible|likely|query)")


def stated_as_fact(norm: str, start: int, end: int) -> bool:
    """A named diagnosis that is not flagged as suspected ("?PE", "bleed suspected")."""
    before, after = norm[max(0, start - 40):start], norm[end:end + 16]
    return not (_SUSPECTED_BEFORE.search(before) or _SUSPECTED_AFTER.match(after))


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
    for m in _DIAGNOSIS_CUE.finditer(norm):
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
    established = diagnosis_only or bool(_ESTABLISHED.search(norm)) or _cue_near_trigger(norm, triggers)
    now_then_flag = any(s > m.end() for m in re.finditer(r"\bnow\b", norm) for s, _ in triggers)
    return Framing(
        informational=bool(_INFORMATIONAL.search(norm))
        or (bool(_WEAK_INFORMATIONAL.search(norm)) and not _WEAK_ANCHOR.search(norm)),
        acute_anchor=has_abnormal_vital or bool(_ACUTE_ANCHOR.search(norm)),
        managed=established and bool(_SPECIFIC_QUESTION.search(norm)),
        deterioration=now_then_flag or bool(_DETERIORATION.search(norm)),
        general=general,
    )
