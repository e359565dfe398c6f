"""Each LLM sentence check on its own, with the reason it gives: the HTTP tests (test_llm_claims.py) show
the claims are dropped end to end; these show each is dropped by the check meant for it, so one check
cannot silently stand in for another."""

from __future__ import annotations

import pytest

from service.llm_markup import markup_in
from service.llm_numbers import quantities, unmatched_quantities
from service.llm_validation import check_answer

EMBOLISM = (
    "The review notes that most pulmonary cement emboli are asymptomatic. A symptomatic pulmonary cement "
    "embolism is managed supportively, with anticoagulation. Anticoagulation is given with heparin."
)
COUMARIN = (
    "The anticoagulation starts with heparin and continues with an oral coumarin anticoagulant for six "
    "months."
)
LEAK = "Cement extravasation was seen in 33% of treated vertebrae in that study and caused no complications."


def reason(sentence: str, passage: str) -> str:
    checked = check_answer(f"{sentence} [1]", [passage])
    return "kept" if checked.sentences else checked.dropped[0][1]


@pytest.mark.parametrize(
    "sentence",
    [
        "A symptomatic pulmonary cement embolism is not managed with anticoagulation.",
        "Anticoagulation is never given for a symptomatic pulmonary cement embolism.",
        "Avoid anticoagulation in a symptomatic pulmonary cement embolism.",
        "Anticoagulation is contraindicated in a symptomatic pulmonary cement embolism.",
        "Do not give anticoagulation for a symptomatic pulmonary cement embolism.",
        "Don't give anticoagulation for a symptomatic pulmonary cement embolism.",
    ],
)
def test_negating_what_the_passage_asserts(sentence: str) -> None:
    assert reason(sentence, EMBOLISM).startswith("negates what the cited passage asserts")


def test_asserting_what_the_passage_negates() -> None:
    why = reason("Cement extravasation was seen in 33% of treated vertebrae and caused complications.", LEAK)
    assert why.startswith("asserts what the cited passage negates")
    assert reason("Cement extravasation caused no complications in treated vertebrae.", LEAK) == "kept"


@pytest.mark.parametrize(
    ("sentence", "passage", "missing"),
    [
        ("Anticoagulation continues with an oral coumarin anticoagulant for six weeks.", COUMARIN, "6 week"),
        ("Anticoagulation continues with an oral coumarin anticoagulant for 6 weeks.", COUMARIN, "6 week"),
        ("Cement extravasation was seen in 3 % of treated vertebrae.", LEAK, "3 percent"),
        ("Cement extravasation was seen in 33 mg of treated vertebrae.", LEAK, "33 mg"),
        ("Cement extravasation was seen in thirty-three percent of treated vertebrae.", LEAK, None),
        ("Anticoagulation continues with an oral coumarin anticoagulant for 6 months.", COUMARIN, None),
    ],
)
def test_numbers_match_with_their_units(sentence: str, passage: str, missing: str | None) -> None:
    why = reason(sentence, passage)
    if missing is None:
        assert why == "kept"
    else:
        assert why == f"states numbers [{missing!r}] that the cited passage does not"


def test_ranges_and_words_share_units() -> None:
    assert [(q.value, q.unit) for q in quantities("bed rest for 24 to 48 hours")] == [
        (24, "hour"),
        (48, "hour"),
    ]
    assert unmatched_quantities("within two weeks", "within 2 weeks") == []
    assert unmatched_quantities("T3-weighted images", "T2-weighted images") == ["t3"]


@pytest.mark.parametrize(
    ("sentence", "word"),
    [
        ("A symptomatic pulmonary cement embolism is managed supportively, with warfarin.", "warfarin"),
        ("Stop anticoagulation for a symptomatic pulmonary cement embolism.", "stop"),
        ("A symptomatic pulmonary cement embolism is managed with intravenous heparin.", "intravenous"),
    ],
)
def test_drug_route_and_action_words_must_be_in_the_passage(sentence: str, word: str) -> None:
    assert reason(sentence, EMBOLISM) == f"names [{word!r}] that the cited passage does not"


@pytest.mark.parametrize(
    "text",
    [
        "<img src=x onerror=alert(document.domain)>",
        "</script>",
        "<!-- hidden -->",
        "![x](https://evil.example/a.png)",
        "[click](https://evil.example)",
        "see https://evil.example",
        "javascript:alert(document.cookie)",
        "visit www.evil.example",
        "&lt;script&gt;",
        "`code`",
    ],
)
def test_markup_and_links_are_recognised(text: str) -> None:
    assert markup_in(text) is not None
    sentence = f"A symptomatic pulmonary cement embolism is managed supportively {text}."
    assert reason(sentence, EMBOLISM).startswith("contains ")


def test_plain_clinical_text_is_not_mistaken_for_markup() -> None:
    for text in ("pain score < 4 and > 2", "T2-weighted images [2]", "e.g. NSAIDs", "3.5% to 23%"):
        assert markup_in(text) is None, text
