"""A dozen hand-written red-flag texts for the learned layers' training tests (v5 and v6): emergencies in lay,
framed or buried words, and look-alikes (negated, someone else's, teaching, past), so a tiny model has
something real to separate."""

from __future__ import annotations

from service.guardrails.train_learned import Row

POSITIVES = [
    "his knees buckle when he stands and he is clammy and grey",
    "is it normal that her lips are puffing up after the antibiotic? she sounds hoarse",
    "quick question about statins. also he's not making sense since lunch and his face droops",
    "sats 84 on air, RR 32, only managing a few words",
    "she says she has saved up her tablets and written letters to her kids",
    "BP 78/40, HR 130, not passed urine since morning, mottled knees",
]
NEGATIVES = [
    "what is the apixaban dose for a 58 kg woman with AF?",
    "no fever, no rash, no weakness, just tired after the long shift",
    "her mother had a stroke last year; what is the target BP for her?",
    "how long after VP can she drive?",
    "define the NEWS2 score for my teaching slides",
    "PE in 2019, treated, now asking about stopping warfarin",
]


def toy_rows(categories: list[str]) -> list[Row]:
    """The texts as training rows: positives in group "a", their categories taken from `categories` in turn;
    negatives in group "b"."""
    rows = [Row("a", t, None, True, categories[i % len(categories)]) for i, t in enumerate(POSITIVES)]
    return rows + [Row("b", t, None, False, None) for t in NEGATIVES]
