"""Guardrail metrics: recall and false-alarm rate overall and per category, and every miss by name.

A miss costs differently by direction: a missed red flag sends a clinician with an emergency to a
vertebroplasty leaflet (the one that matters), a false alarm interrupts a routine question. So the report
lists every false negative and every false positive, with the text, rather than only the rates.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Decision:
    id: str
    text: str
    label: bool
    category: str | None
    kind: str
    split: str
    predicted: bool
    predicted_category: str | None


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def guardrail_metrics(decisions: Sequence[Decision]) -> dict:
    """Overall counts and rates, a per-category confusion table, per-split rates, and the misses."""
    pos = [d for d in decisions if d.label]
    neg = [d for d in decisions if not d.label]
    tp = sum(d.predicted for d in pos)
    fp = sum(d.predicted for d in neg)
    per_category: dict[str, Counter] = defaultdict(Counter)
    for d in pos:
        row = per_category[d.category or "?"]
        row["tp" if d.predicted else "fn"] += 1
        if d.predicted and d.predicted_category == d.category:
            row["category_match"] += 1
    for d in neg:
        per_category["(no red flag)"]["fp" if d.predicted else "tn"] += 1
    categories = {
        name: {
            "tp": row["tp"],
            "fn": row["fn"],
            "fp": row["fp"],
            "tn": row["tn"],
            "recall": _rate(row["tp"], row["tp"] + row["fn"]),
            "category_match": _rate(row["category_match"], row["tp"]),
        }
        for name, row in sorted(per_category.items())
    }
    splits = {}
    for split in sorted({d.split for d in decisions}):
        sp = [d for d in pos if d.split == split]
        sn = [d for d in neg if d.split == split]
        splits[split] = {
            "recall": _rate(sum(d.predicted for d in sp), len(sp)),
            "false_alarm_rate": _rate(sum(d.predicted for d in sn), len(sn)),
            "n": len(sp) + len(sn),
        }
    false_alarms_by_kind = Counter(d.kind for d in neg if d.predicted)
    detected = [d for d in pos if d.predicted]
    return {
        "counts": {"tp": tp, "fn": len(pos) - tp, "fp": fp, "tn": len(neg) - fp},
        "recall": _rate(tp, len(pos)),
        "false_alarm_rate": _rate(fp, len(neg)),
        "precision": _rate(tp, tp + fp),
        "category_accuracy": _rate(sum(d.predicted_category == d.category for d in detected), len(detected)),
        "categories": categories,
        "splits": splits,
        "false_alarms_by_kind": dict(false_alarms_by_kind),
        "misses": [
            {
                "id": d.id,
                "type": "false negative" if d.label else "false positive",
                "category": d.category,
                "predicted_category": d.predicted_category,
                "kind": d.kind,
                "split": d.split,
                "text": d.text,
            }
            for d in decisions
            if d.predicted != d.label
        ],
    }
