"""From active findings to one category: combinations first, then a small score with a fixed priority.

Some emergencies are only recognisable as combinations (infection + instability = unstable sepsis;
urticaria + wheeze or hypotension = anaphylaxis; severe + uncontrolled pain; bleeding + shock). When several
categories fire, the one with most evidence wins; ties go to the more specific category in `PRIORITY`
(so shock with a named cause gets the cause's guidance, and undifferentiated shock gets its own).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .findings import Finding

PRIORITY: tuple[str, ...] = (
    "self_harm", "anaphylaxis", "major_bleeding", "stroke", "neuro_deficit", "sepsis_unstable",
    "cardiac_chest_pain", "respiratory_embolism", "collapse_seizure", "uncontrolled_pain",
    "haemodynamic_instability",
)
# Categories only the learned layer (learned.py) assigns: the rules have no vocabulary for them, and each has
# its own fixed guidance text in corpus/guardrails/.
LEARNED_CATEGORIES: tuple[str, ...] = (
    "spinal_infection", "neutropenic_sepsis", "metabolic_emergency", "obstetric_emergency",
    "paediatric_emergency",
)
RULE_CATEGORIES = frozenset(PRIORITY)
CATEGORIES = frozenset(PRIORITY + LEARNED_CATEGORIES)

_SHOCK = "haemodynamic_instability"
_BREATHING = {"dyspnoea", "hypoxia", "stridor"}
_SHOCK_CAUSES = {"sepsis_unstable", "anaphylaxis", "major_bleeding"}
_COMBO_WEIGHT = 6  # a recognised combination is more specific than any single finding


@dataclass(frozen=True)
class Verdict:
    """The winning category and the rule (or combination) that made it fire."""

    category: str
    rule: str


def _combinations(active: list[Finding]) -> dict[str, str]:
    features: dict[str, list[Finding]] = defaultdict(list)
    for f in active:
        if f.feature:
            features[f.feature].append(f)
    triggers = [f for f in active if f.is_trigger]
    shock = [f for f in triggers if f.category == _SHOCK]
    breathing = [f for f in triggers if f.category == "respiratory_embolism"
                 and (f.rule in _BREATHING or f.rule.startswith("SpO2"))]
    resp_rate = [f for f in triggers if f.rule.startswith("RR ") and f.category == "respiratory_embolism"]
    combos: dict[str, str] = {}
    instability = shock + features["instability"] + features["confusion"] + features["oliguria"] \
        + features["unwell"] + resp_rate + breathing + [f for f in triggers if f.rule.startswith("GCS")]
    if features["infection"] and instability:
        combos["sepsis_unstable"] = f"infection + {instability[0].rule}"
    if features["allergy"] and (features["wheeze"] or features["presyncope"] or shock or breathing):
        partner = (features["wheeze"] + features["presyncope"] + shock + breathing)[0]
        combos["anaphylaxis"] = f"{features['allergy'][0].rule} + {partner.rule}"
    if features["bleeding"] and (shock or features["instability"] or features["pallor"]):
        partner = (shock + features["instability"] + features["pallor"])[0]
        combos["major_bleeding"] = f"bleeding + {partner.rule}"
    if features["pain"] and features["uncontrolled"] and (features["severe"] or features["worsening"]):
        modifier = (features["severe"] + features["worsening"])[0].rule
        combos["uncontrolled_pain"] = f"{modifier} + {features['uncontrolled'][0].rule}"
    return combos


def resolve(active: list[Finding]) -> Verdict | None:
    """The category to flag for these active findings, or None when nothing is enough on its own."""
    combos = _combinations(active)
    triggers = [f for f in active if f.is_trigger]
    if not triggers and not combos:
        return None
    pleuritic = any(f.rule == "pleuritic chest pain" for f in triggers)
    causes = set(combos) | {f.category for f in triggers}
    score: dict[str, float] = defaultdict(float)
    first_rule: dict[str, str] = {}
    for f in triggers:
        category = f.category
        if pleuritic and f.rule == "chest pain":
            category = "respiratory_embolism"      # pain on breathing in points to the lungs, not the heart
        if category == _SHOCK and causes & _SHOCK_CAUSES:
            continue                                # shock with a named cause is scored for the cause
        score[category] += 2
        first_rule.setdefault(category, f.rule)
    for f in active:
        if f.feature and f.category in score:
            score[f.category] += 0.5
    for category, rule in combos.items():
        score[category] += _COMBO_WEIGHT
        first_rule[category] = rule
    best = max(score, key=lambda c: (score[c], -PRIORITY.index(c)))
    return Verdict(best, f"{best}: {first_rule[best]}")
