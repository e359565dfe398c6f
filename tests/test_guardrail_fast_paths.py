"""The rule layer's fast paths against the plain code they replaced, on constructed texts.

normalise() applies each rewrite only when its literals occur and maps words by split/join; the context
module asks only the modifier rules with a trigger phrase in the text, and finds "inside a span" by binary
search. Each is compared here with the straightforward version (every rewrite by `re.sub`, one callback per
word, every rule asked, a per-character array), so a divergence fails a test, not only the golden outputs."""

from __future__ import annotations

import re

import pytest

from service.guardrails.context import Context, Modifiers
from service.guardrails.findings import TRIGGER, Finding
from service.guardrails.lexical import lexical_findings
from service.guardrails.normalise import (
    _CONTEXTUAL,
    _SLASH_FORMS,
    ABBREVIATIONS,
    normalise,
    repair_token,
)
from service.guardrails.ruleset import RULESET
from service.guardrails.vitals import vital_findings
from tests.test_guardrail_literals import CONSTRUCTED

MORE = [
    "Pt c/o SOB w/ sats 86% RA, h/o COPD, s/p CABG, r/o PE, n/v x2, 68 y/o M",
    "HR 125, 10 hrs post op, map 55, took 30 od, active SI with plan, 45yo f",
    "PR bleed, PV bleed, GI bleed, bleeding heavily PV, o2 sats 88, SpO2 84, SaO2 90",
    "sob++ & cp + palpitations, BP 120->80, 2 -> 10 L, pain => worse \u2013 help",
    "weaknes in LE, colapsed, shortnes of breth, pian 8/10, fevr, unresponsve",
    "don't know if it's a stroke; she's got slurred speech, can't lift her arm",
    "o'clock 3am: rr32, hr140, bp80/40, gcs7, temp39.9, lactate5",
]


def _reference_normalise(text: str) -> str:
    """normalise() as written before the fast paths: every rewrite by re.sub, one callback per match."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"[\u2012\u2013\u2014\u2015\u2212]", " - ", text)
    text = re.sub(r"\+{2,}", " ", text)
    text = re.sub(r"\s+\+\s+", " and ", text)
    text = re.sub(r"\s*&\s*", " and ", text)
    text = re.sub(r"(\d)\s*->\s*(\d)", r"\1 to \2", text)
    text = re.sub(r"->|=>", " then ", text)
    for pattern, repl in (*_SLASH_FORMS, *_CONTEXTUAL):
        text = re.sub(pattern, repl, text)
    text = re.sub(r"\b[a-z]+(?:'[a-z]+)?\b", lambda m: ABBREVIATIONS.get(m.group(0), m.group(0)), text)
    text = re.sub(r"[a-z]+(?:'[a-z]+)?", lambda m: repair_token(m.group(0)), text)
    return re.sub(r"[ \t]+", " ", text).strip()


@pytest.mark.parametrize("text", CONSTRUCTED + MORE)
def test_normalise_matches_the_plain_version(text: str) -> None:
    assert normalise(text) == _reference_normalise(text)


def _reference_reach(norm: str, spans: list[tuple[int, int]]) -> list[int]:
    reach = [-1] * (len(norm) + 1)
    for start, end in spans:
        reach[start] = max(reach[start], end)
    for p in range(1, len(reach)):
        reach[p] = max(reach[p], reach[p - 1])
    return reach


@pytest.mark.parametrize("text", CONSTRUCTED + MORE)
def test_context_matches_asking_every_rule(text: str) -> None:
    norm = normalise(text)
    found = lexical_findings(norm) + vital_findings(norm)
    fast = Context(norm, found)
    plain = Context(norm, found)
    plain._rules = list(RULESET.context.modifiers)  # every rule asked about every finding
    assert [fast.modifiers(f) for f in found] == [plain.modifiers(f) for f in found]
    assert all(isinstance(m, Modifiers) for m in (fast.modifiers(f) for f in found))
    # "inside some span" by binary search == the per-character reach array it replaced
    spans = [(f.start, f.end) for f in found]
    spans += [m.span() for m in RULESET.context.pseudo.finditer(norm)]
    reach = _reference_reach(norm, spans)
    nowhere = Finding("test", "test-rule", TRIGGER, 0, 0)
    for pattern in [r.pattern for r in RULESET.context.modifiers] + [re.compile(r"\w+")]:
        for m in pattern.finditer(norm):
            assert fast._inside_span(m, nowhere) == (reach[m.start()] >= m.end())
