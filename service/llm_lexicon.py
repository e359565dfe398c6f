"""Words whose every occurrence in an LLM sentence must be backed by the passage it cites: drugs, routes
and clinical actions.

Why a word list and not only the share of shared words: a sentence can share 80% of its words with a passage
and still swap the one that matters ("managed with warfarin" for "with anticoagulation", "stop" for
"continue"). These are the words where a swap harms a patient, so each must occur (stemmed) in the cited
passages. Drugs are recognised by name or by the stems that international non-proprietary names share.
"""

from __future__ import annotations

import re
from functools import lru_cache

from service.text import stems, words

ACTIONS = (
    "give administer prescribe start begin initiate commence stop discontinue cease withhold withdraw "
    "continue resume restart increase decrease reduce lower raise double halve taper switch add repeat "
    "inject infuse transfuse reverse refer admit discharge operate decompress drain intubate ventilate "
    "anticoagulate immobilise immobilize mobilise mobilize"
)
ROUTES = (
    "oral orally intravenous intravenously iv subcutaneous subcutaneously intramuscular intramuscularly "
    "topical topically rectal rectally sublingual inhaled nebulised epidural intrathecal bolus infusion"
)
DRUGS = (
    "aspirin paracetamol acetaminophen ibuprofen naproxen diclofenac celecoxib morphine codeine tramadol "
    "oxycodone fentanyl hydromorphone methadone buprenorphine naloxone warfarin heparin enoxaparin "
    "dalteparin coumarin acenocoumarol phenprocoumon apixaban rivaroxaban edoxaban dabigatran clopidogrel "
    "ticagrelor alteplase tranexamic protamine vitamin calcium calcitonin teriparatide abaloparatide "
    "denosumab romosozumab alendronate alendronic risedronate ibandronate zoledronate zoledronic "
    "bisphosphonate bisphosphonates raloxifene oestrogen estrogen hrt steroid steroids corticosteroid "
    "corticosteroids dexamethasone prednisolone prednisone methylprednisolone hydrocortisone gabapentin "
    "pregabalin amitriptyline duloxetine nortriptyline antibiotic antibiotics vancomycin cefazolin "
    "flucloxacillin insulin oxygen nitrate nitrates antiplatelet antiplatelets anticoagulant "
    "anticoagulants opioid opioids nsaid nsaids adrenaline epinephrine atropine ketamine lidocaine "
    "lignocaine bupivacaine midazolam diazepam lorazepam haloperidol ondansetron metoclopramide "
    "omeprazole lactulose senna laxative laxatives"
)
DRUG_SUFFIX = re.compile(
    r"(?:mab|nib|pril|sartan|olol|dipine|statin|parin|xaban|gatran|azole|cillin|mycin|floxacin|cycline|"
    r"vir|tidine|prazole|codone|morphone|phine|fentanil|caine|dronate|dronic|sone|olone|lukast|semide|"
    r"thiazide|oxetine|triptan|azepam|azolam|barbital|platin|taxel|rubicin|profen|fenac|coxib)$"
)


# Irregular forms the stemmer leaves apart from their verb ("given" must back "give").
IRREGULAR = {
    "gave": "give", "given": "give", "began": "begin", "begun": "begin", "withheld": "withhold",
    "withdrew": "withdraw", "withdrawn": "withdraw", "held": "hold", "drew": "draw", "drawn": "draw",
}  # fmt: skip


@lru_cache(maxsize=1)
def _listed() -> frozenset[str]:
    return frozenset(f"{ACTIONS} {ROUTES} {DRUGS}".split())


def critical_words(text: str) -> list[str]:
    """The drug, route and action words of `text`, lower-cased, in order of appearance."""
    listed = _listed()
    return list(dict.fromkeys(w for w in words(text) if w in listed or DRUG_SUFFIX.search(w)))


def unbacked_critical_words(sentence: str, passage_text: str) -> list[str]:
    """Critical words of `sentence` whose stem never occurs in `passage_text`."""
    critical = critical_words(sentence)
    if not critical:
        return []
    available = set(stems([IRREGULAR.get(w, w) for w in words(passage_text)]))
    return [w for w, s in zip(critical, stems(critical), strict=True) if s not in available]
