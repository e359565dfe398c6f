"""Lexical red-flag rules: clinical statements per category, matched on the normalised text.

This module holds the focal categories (cord / cauda equina, respiratory, cardiac, stroke) and runs all rules;
the systemic ones (anaphylaxis, sepsis, bleeding, self-harm, collapse, pain, shock) are in rules_systemic.py.

Patterns are written against `normalise()` output (lower case, abbreviations expanded, typos repaired), so
"SOB", "short of breath" and "shortnes of breth" are one pattern. Rules say what was *said*; whether it is
happening now, to this patient, is decided later by the context module. Combinations (sepsis, anaphylaxis,
uncontrolled pain, bleeding with shock) are in `combine.py`.
"""

from __future__ import annotations

from .findings import TRIGGER, Finding, compile_rules, near
from .rules_systemic import SYSTEMIC_RULES

LEGS = (
    r"legs?|lower extremit(?:y|ies)|lower limbs?|feet|foot|thighs?|knees?|ankles?|calf|calves|toes?|hips?|"
    r"quads|quadriceps|dorsiflexion|plantarflexion|hip flexion|knee extension|waist down"
)
WEAK = (
    r"weak(?:ness|er|ening)?|paraly[sz](?:is|ed)|heavy|heaviness|giving way|gave way|gave out|giving out|"
    r"jelly|"
    r"can't (?:lift|move|feel)|cannot (?:lift|move|feel)|unable to (?:lift|move|feel)|not moving|"
    r"won't (?:move|work|hold (?:her|him|them)(?: up)?)|can't hold (?:her|him|them) up|buckl\w*|no power|"
    r"flaccid|"
    r"dragging|drags"
)
NUMB = (
    r"numb(?:ness)?|tingl(?:ing|y)|paresthesi(?:a|ae)|pins and needles|"
    r"(?:reduced|altered|loss of|lost|no|decreased) (?:sensation|feeling)"
)
SADDLE = (
    r"saddle|perine\w*|perianal|groin|genitals?|buttocks?|anus|bottom|bum|backside|private parts|down below|"
    r"wiping"
)
CHEST = r"chest|retrosternal|substernal"
CHEST_PAIN = r"pain|pains|tightness|tight|pressure|discomfort|heaviness|heavy|crushing|ache|aching"

_RULES = [
    # --- progressive neurological deficit / cord or cauda equina compression -------------------------
    ("neuro_deficit", "limb weakness or numbness", TRIGGER, near(WEAK + "|" + NUMB, LEGS, 4)),
    ("neuro_deficit", "root or bilateral weakness", TRIGGER,
     near(WEAK + "|" + NUMB, r"(?:[ls][1-5])(?: and [ls][1-5])?|both sides|bilateral(?:ly)?|myotom\w*", 3)),
    ("neuro_deficit", "bilateral arm weakness", TRIGGER,
     near(WEAK + "|" + NUMB, r"(?:both|bilateral) (?:arms|hands|upper extremities)", 3)),
    ("neuro_deficit", "paraparesis / foot drop", TRIGGER,
     r"\bpara(?:paresis|pleg\w*|lys\w*)\b|\bfoot drop\b|\bdrop foot\b|\bmyelopathy\b|\bsensory level\b|"
     r"\bclonus\b|\bupgoing plantars?\b|\bbabinski\b|\b(?:gone |went )?off (?:her|his|their) legs\b|"
     r"\b(?:distended|palpable) bladder\b|\bloss of bladder sensation\b"),
    ("neuro_deficit", "cord or cauda equina compression", TRIGGER,
     r"\bcauda equina\b|\bcord compression\b|\bspinal cord compression\b|\bconus\b"),
    ("neuro_deficit", "saddle anaesthesia", TRIGGER,
     r"\bsaddle (?:anesthesia|numbness|area|sensory|paresthesia)\b|" + near(NUMB, SADDLE, 4)),
    ("neuro_deficit", "urinary retention", TRIGGER,
     r"\b(?:urinary )?retention\b|\bretaining urine\b|"
     r"\b(?:unable to|can't|cannot|not able to|difficulty) (?:pass(?:ing)?|void(?:ing)?|empty(?:ing)?|pee)\b|"
     r"\b(?:not|hasn't|has not|haven't|hasnt) (?:passed|voided)(?: any)? urine\b|\banuri\w*"),
    ("neuro_deficit", "bladder or bowel dysfunction", TRIGGER,
     r"\b(?:urinary|fecal|bowel|bladder|new|double) incontinen\w*|\bincontinen\w* of (?:urine|stool|feces)\b|"
     r"\b(?:lost|loss of|losing) (?:bowel|bladder|sphincter) (?:control|function)\b|"
     r"\b(?:reduced|decreased|lax|absent|poor|loss of) (?:anal|pr|rectal|sphincter) tone\b|"
     r"\b(?:anal|pr|rectal|sphincter) tone (?:is |was )?(?:reduced|decreased|lax|absent|poor)\b|"
     r"\bwet (?:the bed|herself|himself|themselves)\b|\bsoiled (?:herself|himself|the bed)\b|"
     r"\bpass(?:ed|ing) (?:urine|stool) without (?:knowing|noticing|realising|realizing)\b|"
     r"\bcan't feel when (?:she|he|they) (?:is|are) passing urine\b|\bincontinent\b"),
    # --- respiratory distress / pulmonary or cement embolism ----------------------------------------
    ("respiratory_embolism", "dyspnoea", TRIGGER,
     r"\bshort(?:ness)? of breath\b|\bbreathless\w*|\bdyspne(?:a|ic)\b(?! on exertion)|"
     r"\b(?:can't|cannot|unable to|struggling to|difficulty|trouble) "
     r"(?:breathe|breathing|catch (?:his|her) breath)\b|"
     r"\bdifficulty in breathing\b|\bgasping\b|\btachypne(?:a|ic)\b|\brespiratory distress\b|"
     r"\b(?:increased )?work of breathing\b|\baccessory muscles?\b|"
     r"\bcan't (?:talk|speak) in (?:full )?sentences\b|\bair hunger\b|\bstruggling for (?:air|breath)\b|"
     r"\b(?:breathing|breathes) (?:very |really |extremely )?(?:fast|rapidly|heavily|hard)\b|"
     r"\bout of breath\b|"
     r"\bcan't get (?:his|her|their|my) breath\b|\bworking hard to breathe\b|\bpanting\b|"
     r"\bsuffocating\b|\bfeels? (?:like (?:she|he|they) (?:is|are) )?(?:choking|suffocating)\b"),
    ("respiratory_embolism", "hypoxia", TRIGGER,
     r"\bdesaturat\w*|\bhypox\w*|\bcyano(?:sed|sis|tic)\b|\b(?:blue|dusky) lips\b|"
     + near(r"lips?|fingers|tongue", r"blue|dusky|purple|grey", 3) + "|"
     r"\b(?:needing|requiring) (?:more (?:and more )?|increasing )?oxygen\b|"
     r"\bincreasing oxygen requirements?\b|"
     r"\bsaturation (?:dropping|falling|dropped|fell|going down)\b|\blow saturations?\b|"
     r"\boxygen requirements? (?:has |have |is |are )?(?:gone up|increased|increasing|rising|risen|doubled|"
     r"going up|gone from)\b|"
     r"\bsaturation in the (?:low )?[5-8]0s\b"),
    ("respiratory_embolism", "haemoptysis", TRIGGER,
     r"\bhemoptysis\b|\bcough(?:ing|ed|s)? (?:up )?(?:frank )?blood\b"),
    ("respiratory_embolism", "pleuritic chest pain", TRIGGER,
     r"\bpleuritic\b(?: chest)? pain|"
     + near(r"pain", r"inspiration|breathing in|breathes in|breathe in|deep breaths?|on breathing|"
            r"when breathing|breathing deeply|takes a (?:deep )?breath", 3)),
    ("respiratory_embolism", "pulmonary or cement embolism", TRIGGER,
     r"\b(?:pulmonary|cement|fat) emboli(?:sm|us)\b|\bpe\b"),
    ("respiratory_embolism", "respiratory failure named", TRIGGER,
     r"\brespiratory failure\b|\bpneumothorax\b|\bpulmonary edema\b|\bsilent chest\b|"
     r"\bfrothy (?:pink )?sputum\b|\btripod\w*|\bnasal flaring\b|\bgrunting\b"),
    ("respiratory_embolism", "stridor", TRIGGER, r"\bstridor\w*"),
    # --- cardiac chest pain --------------------------------------------------------------------------
    ("cardiac_chest_pain", "chest pain", TRIGGER,
     near(CHEST, CHEST_PAIN, 3) + r"|\bclutching (?:his |her |their |the )?chest\b"),
    ("cardiac_chest_pain", "ischaemic ECG / arrhythmia", TRIGGER,
     r"\bst (?:segment )?(?:elevation|depression)\b|\bstemi\b|\bnew (?:lbbb|left bundle branch block)\b|"
     r"\bventricular (?:tachycardia|fibrillation)\b|\bcomplete heart block\b"),
    ("cardiac_chest_pain", "acute coronary syndrome named", TRIGGER,
     r"\bheart attack\b|\bmyocardial infarction\b|\bmi\b|\bacs\b|\bacute coronary syndrome\b|"
     r"\bunstable angina\b|\bcrescendo angina\b|\bangina at rest\b"),
    ("cardiac_chest_pain", "aortic dissection", TRIGGER,
     r"\btearing\b|\baortic dissection\b|\bdissecting\b"),
    ("cardiac_chest_pain", "autonomic features", "feature:autonomic",
     r"\bsweat(?:ing|y)\b|\bdiaphore\w*|\bclammy\b|\bgr[ae]y\b|\bashen\b"),
    ("cardiac_chest_pain", "radiating pain", "feature:radiating",
     r"\bradiat\w* (?:to|down|into) (?:the )?(?:left |l )?(?:arm|jaw|neck|back)\b|"
     r"\bgoing to (?:his |her |the )?jaw\b"),
    # --- stroke --------------------------------------------------------------------------------------
    ("stroke", "facial droop", TRIGGER,
     near(r"face|facial|mouth|smile", r"droop\w*|asymmetr\w*|lopsided|palsy", 3)),
    ("stroke", "speech disturbance", TRIGGER,
     r"\bslurr\w* (?:speech|words)\b|\bspeech (?:is |was )?slurr\w*|\bdysarthri\w*|\b(?:dys|a)phasi\w*|"
     r"\b(?:can't|cannot|unable to) (?:speak|talk|get (?:his|her) words out)\b(?! in (?:full )?sentences)|"
     r"\bcan't find (?:his |her |the )?words\b|\bword[- ]finding\b|\bwords (?:are |were )?jumbled\b|"
     r"\bjumbled (?:words|speech)\b|\bgarbled\b|\bspeech (?:is |has )?(?:gone|off|strange|muddled)\b|"
     r"\b(?:talking|speaking) (?:nonsense|gibberish|rubbish)\b|\bnot making (?:any )?sense\b|"
     r"\bmaking no sense\b|\bwords (?:don't|do not) make sense\b|"
     r"\b(?:can't|couldn't|cannot|unable to) understand (?:what|us|me|speech|anything|simple)\b"),
    ("stroke", "hemiparesis", TRIGGER,
     r"\bhemi(?:paresis|pleg\w*|paretic)\b|\b(?:left|right|one)[- ]sided (?:weakness|numbness|paralysis)\b|"
     + near(WEAK + r"|numb\w*|drift\w*|clumsy", r"(?:left|right|l|r|one|his|her) (?:arm|hand|side)", 3)
     + "|" + near(r"dropp(?:ed|ing)", r"(?:left|right|l|r) (?:arm|hand)", 5)
     + "|" + near(WEAK, r"(?:left|right|l|r) arm and leg", 5)
     + r"|\barm drift\b"),
    ("stroke", "visual loss", TRIGGER,
     r"\b(?:loss of vision|vision loss|visual loss|lost (?:the )?vision|blind\w* in one eye)\b|\bdiplopia\b|"
     r"\bdouble vision\b|\bvisual field (?:loss|defect)\b|"
     r"\b(?:can't|cannot|unable to) see (?:anything )?(?:on|to|out of) (?:her|his|their|the) (?:left|"
     r"right)\b"),
    ("stroke", "ataxia", TRIGGER, r"\bataxi[ac]\b"),
    ("stroke", "thunderclap headache", TRIGGER,
     r"\b(?:worst|thunderclap) headache\b|\bsudden (?:severe |onset )headache\b|"
     + near("headache", r"neck stiff\w*|stiff neck", 4)),
    ("stroke", "FAST positive", TRIGGER, r"\b(?:be ?)?fast (?:positive|\+ve)\b|\bpositive fast\b"),
    ("stroke", "stroke named", TRIGGER,
     r"\bstroke\b|\btia\b|\bintracranial (?:bleed|hemorrhage)\b|\bsubarachnoid\b|\bsah\b"),
    ("stroke", "one-sided or pupil signs", TRIGGER,
     r"\bweak(?:ness)? down (?:one|the left|the right|his left|his right|her left|her right) side\b|"
     r"\bone side of (?:the|his|her|their) (?:body|face) (?:is |has gone |went )?(?:weak|numb|droop\w*|"
     r"floppy)\b|"
     r"\bdribbling from (?:the )?(?:corner of )?(?:his|her|their|the) mouth\b|\bslurring\b|"
     r"\bunequal pupils\b|\bpupils (?:are )?unequal\b|\bblown pupil\b|\bfixed (?:and )?dilated pupil"),
]

RULES = compile_rules(_RULES + SYSTEMIC_RULES)


def lexical_findings(norm: str) -> list[Finding]:
    """Every rule match in the normalised text, overlapping matches of different rules kept."""
    found: list[Finding] = []
    for category, name, role, pattern in RULES:
        for m in pattern.finditer(norm):
            found.append(Finding(category, name, role, m.start(), m.end()))
    return found
