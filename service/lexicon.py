"""Clinical shorthand in questions, expanded for retrieval and abstention evidence.

Why: clinicians write "cement PE after VP", "new # in pts after KP"; the guideline text says "pulmonary
embolism", "fracture", "patients", "kyphoplasty". Neither BM25 nor MiniLM links the two, so such questions
retrieved weakly and were abstained on although a section answers them. The expansion is *appended*
("cement PE after VP (pulmonary embolism vertebroplasty)"), never substituted, so the clinician's own words
still match a passage that uses the abbreviation.

One table: the red-flag guardrail's unambiguous abbreviations (service/guardrails/normalise.py) plus the few
below that only retrieval needs (the guardrail does not look for them). British→American spelling entries of
the guardrail's table are skipped: appending "hemorrhage" to a British question adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from service.guardrails.normalise import ABBREVIATIONS as GUARDRAIL_ABBREVIATIONS

# Retrieval-only shorthand: unambiguous in a guideline question (checked against both corpora's wording).
QUERY_ABBREVIATIONS: dict[str, str] = {
    "#": "fracture", "#s": "fractures", "#'s": "fractures", "pe": "pulmonary embolism",
    "ga": "general anaesthesia", "neuro": "neurological",
    "ovcf": "osteoporotic vertebral compression fracture", "vcf": "vertebral compression fracture",
    "af": "atrial fibrillation", "mi": "myocardial infarction", "dvt": "deep vein thrombosis",
    "vte": "venous thromboembolism", "doac": "direct oral anticoagulant",
    "doacs": "direct oral anticoagulants",
    "dapt": "dual antiplatelet therapy", "copd": "chronic obstructive pulmonary disease",
    "ckd": "chronic kidney disease", "aki": "acute kidney injury", "t2dm": "type 2 diabetes",
    "dka": "diabetic ketoacidosis", "cap": "community-acquired pneumonia", "uti": "urinary tract infection",
    "ie": "infective endocarditis", "sah": "subarachnoid haemorrhage", "ich": "intracerebral haemorrhage",
    "tbi": "traumatic brain injury", "tia": "transient ischaemic attack",
    "hfref": "heart failure reduced ejection fraction",
    "ctpa": "ct pulmonary angiography", "cxr": "chest x-ray", "physio": "physiotherapy",
    "fls": "fracture liaison service", "cea": "carotid endarterectomy",
    "pci": "percutaneous coronary intervention",
    "abx": "antibiotics", "meds": "medications", "med": "medication", "tx": "treatment", "rx": "treatment",
    "obs": "observations", "hypo": "hypoglycaemia", "trigs": "triglycerides", "bd": "twice daily",
    "od": "once daily", "tds": "three times daily", "post-vp": "after vertebroplasty",
    "cement in the lungs": "pulmonary cement embolism",
}

# Guardrail entries that are spelling variants or contractions, not shorthand: no retrieval value.
_SKIP = re.compile(
    r"^(?:hemo|hema|hemor|dyspne|anesth|pares|edema|tachypne|hypoxe|fecal|melena|[a-z]+'[a-z]+$)"
)


@lru_cache(maxsize=1)
def lexicon() -> dict[str, str]:
    """The merged table: retrieval-only entries win over the guardrail's where both define a word."""
    merged = {k: v for k, v in GUARDRAIL_ABBREVIATIONS.items() if v != k and not _SKIP.match(v)}
    merged.update(QUERY_ABBREVIATIONS)
    return merged


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    keys = sorted(lexicon(), key=len, reverse=True)
    alternatives = "|".join(re.escape(k) for k in keys)
    # Word boundaries by hand: "#" and "#s" are not word characters.
    return re.compile(rf"(?<![\w#])(?:{alternatives})(?![\w#])", re.IGNORECASE)


def expansions(text: str, corpus_uses: Callable[[str], bool] | None = None) -> list[str]:
    """The expansions of the shorthand in `text`, in order, each once, skipping what the text already says.

    `corpus_uses(word)` says whether the corpus itself writes the abbreviation (open-medicine writes "PE",
    "COPD", "CKD" throughout); such a word already matches, and appending its expansion only dilutes the
    query (measured: it cost open-medicine questions their top passage), so it is left alone.
    """
    lowered = text.lower()
    found: list[str] = []
    for match in _pattern().finditer(text):
        word = match.group(0).lower()
        if corpus_uses is not None and corpus_uses(word):
            continue
        full = lexicon()[word]
        if full not in found and full not in lowered:
            found.append(full)
    return found


def expand_query(text: str, corpus_uses: Callable[[str], bool] | None = None) -> str:
    """`text` with the expansions of its shorthand appended in parentheses (unchanged when there is none)."""
    extra = expansions(text, corpus_uses)
    return f"{text} ({'; '.join(extra)})" if extra else text
