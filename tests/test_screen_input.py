"""What reaches the red-flag screen: invisible and look-alike characters cannot switch it off, and the work
per request is bounded (hardening items 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.guardrails import Guardrail
from service.guardrails import detector as detector_module
from service.guardrails.context import Context
from service.guardrails.guidance import load_guidance
from service.models import AskRequest
from service.settings import Settings
from service.unicode_clean import clean_text

ROOT = Path(__file__).resolve().parent.parent
GUARDRAILS = ROOT / "corpus" / "guardrails"

# one plain red flag per rule category, and the word in it that the variants tamper with
EXAMPLES = {
    "neuro_deficit": ("new leg weakness and saddle numbness since the vertebroplasty", "weakness"),
    "respiratory_embolism": ("patient not breathing properly now, sats 84% after the cement", "breathing"),
    "cardiac_chest_pain": ("crushing chest pain to the jaw and sweating for 30 minutes", "crushing"),
    "stroke": ("sudden facial droop and slurred speech started 20 minutes ago", "slurred"),
    "anaphylaxis": ("lip swelling and wheeze five minutes after the cefazolin", "swelling"),
    "sepsis_unstable": ("febrile 39.5, rigors and BP 85/50 now", "rigors"),
    "major_bleeding": ("vomiting large amounts of blood right now", "vomiting"),
    "self_harm": ("she says she wants to kill herself tonight", "herself"),
    "collapse_seizure": ("pt collapsed on the ward and is unresponsive", "unresponsive"),
    "uncontrolled_pain": ("10/10 back pain despite IV morphine", "morphine"),
    "haemodynamic_instability": ("BP 70/40 after the procedure, cause unclear", "procedure"),
}
INVISIBLE = {"soft hyphen": "\u00ad", "zero-width space": "\u200b", "zero-width joiner": "\u200d",
             "word joiner": "\u2060", "BOM": "\ufeff", "LRM": "\u200e", "CGJ": "\u034f",
             "zero-width non-joiner": "\u200c"}
CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}


def _variants(text: str, word: str) -> list[tuple[str, str]]:
    mid = len(word) // 2
    out = [(name, text.replace(word, word[:mid] + ch + word[mid:])) for name, ch in INVISIBLE.items()]
    for latin, cyr in CYRILLIC.items():
        if latin in word:
            out.append((f"cyrillic {latin}", text.replace(word, word.replace(latin, cyr, 1))))
            break
    return out


@pytest.fixture(scope="module")
def guards(tmp_path_factory) -> list[Guardrail]:
    tmp = tmp_path_factory.mktemp("screen")
    settings = Settings(store_dir=tmp, audit_log=tmp / "a.jsonl", guardrails_dir=GUARDRAILS)
    return [Guardrail.from_settings(settings), Guardrail(load_guidance(GUARDRAILS))]


@pytest.mark.parametrize("category", sorted(EXAMPLES))
def test_invisible_and_look_alike_characters_do_not_switch_the_screen_off(guards, category: str) -> None:
    text, word = EXAMPLES[category]
    for guard in guards:  # the service's screen and the rules alone
        plain = guard.check(text)
        assert plain is not None, (category, text)
        for name, tampered in _variants(text, word):
            assert tampered != text
            hit = guard.check(tampered)
            assert hit is not None and hit.category == plain.category, (category, name, tampered)
            # the API cleans the question before screening and retrieval see it
            assert AskRequest(question=tampered).question == clean_text(text)


def test_cleaning_keeps_ordinary_unicode() -> None:
    for text in ("5 μg/kg", "Zürich café naïve", "≥ 90 mmHg", "Ménière’s disease"):
        assert clean_text(text) == text
    assert clean_text("SpO₂ 88 %") == "SpO2 88 %"  # NFKC: the subscript is the digit
    assert clean_text("bre\u00adathing") == "breathing" and clean_text("brеathing") == "breathing"


@pytest.fixture
def modifier_calls(monkeypatch) -> list:
    """Every finding the detector asks context analysis for, counted from a cold cache."""
    calls: list = []
    real = Context.modifiers

    def counting(self, f):
        calls.append(f)
        return real(self, f)

    monkeypatch.setattr(Context, "modifiers", counting)
    detector_module._detect_piece.cache_clear()
    return calls


def test_modifier_analysis_is_bounded_per_piece(modifier_calls) -> None:
    """However many findings a text holds, at most MAX_JUDGED per piece get context analysis."""
    calls = modifier_calls
    text = "cp " * 660
    detector_module.detect(text)
    pieces = len(detector_module.chunks(text))
    assert len(calls) <= detector_module.MAX_JUDGED * pieces


def test_long_adversarial_input_is_screened_with_bounded_work(guards, modifier_calls) -> None:
    """2,000-character question and 20 x 4,000-character history turns (the issue measured 3.3 s and 7.9 s
    before): repeated pieces are analysed once, and no piece gets more than MAX_JUDGED context analyses.
    Their CPU time is a target of `make bench-guardrail`."""
    rules = guards[1]
    calls = modifier_calls
    question = ("cp sob " * 400)[:2000]
    turn = ("no cp, sats 86% " * 400)[:4000]
    rules.check(question, [{"role": "user", "content": turn}] * 20)
    pieces = {p for text in (question, turn) for p in detector_module.chunks(text)}
    assert len(calls) <= detector_module.MAX_JUDGED * len(pieces)
