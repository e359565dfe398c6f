"""The red-flag screen's modifier modules one by one, in-process and without the model: ConText-style
scopes (service/guardrails/context.py), question framing (framing.py) and conditions asked about in general
(topic.py). The end-to-end cases (test_guardrails.py SCOPE_CASES) go through the whole screen; these pin
each module's own rule, so a failure names the module that changed."""

from __future__ import annotations

import pytest

from service.guardrails.context import Context, Modifiers
from service.guardrails.findings import TRIGGER, Finding
from service.guardrails.framing import Framing, frame, stated_as_fact
from service.guardrails.normalise import normalise
from service.guardrails.topic import general_question, patient_now, patient_referent, topic_spans


def finding(norm: str, phrase: str, *, role: str = TRIGGER, numeric: bool = False) -> Finding:
    start = norm.index(phrase)
    return Finding("test", "test-rule", role, start, start + len(phrase), numeric)


def modifiers(text: str, phrase: str) -> Modifiers:
    norm = normalise(text)
    f = finding(norm, phrase)
    return Context(norm, [f]).modifiers(f)


# --- context.py: negation, history, resolution, experiencer, hypothesis ---------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "reasons"),
    [
        ("no chest pain today", "chest pain", ["negated"]),
        ("denies cp, sob, palpitations", "short of breath", ["negated"]),  # along a short list
        ("no allergies, pt collapsed on the ward", "collapsed", []),  # not into a new statement
        ("saddle sensation normal", "saddle sensation", ["negated"]),  # backward, same segment
        ("seizure free for 2 years", "seizure", ["negated"]),
        ("hx of stroke in 2018", "stroke", ["historical"]),
        ("hx of stroke in 2018, now new facial droop", "facial droop", []),  # "now" ends the scope
        ("her mother had a stroke at 60", "stroke", ["experiencer"]),
        ("if she develops leg weakness, what imaging?", "leg weakness", ["hypothetical"]),
        ("sats dropped briefly to 88% but recovered to 97%", "dropped", ["resolved"]),
        ("pt not breathing", "not breathing", []),  # the trigger word is part of the finding
        ("chest pain since this morning", "chest pain", []),
    ],
)
def test_each_scope_modifies_only_what_it_reaches(text: str, phrase: str, reasons: list[str]) -> None:
    m = modifiers(text, phrase)
    assert m.reasons() == reasons
    assert m.active is (not reasons)


# --- framing.py: how the question is put -----------------------------------------------------------------


def test_suppression_follows_the_framing_precedence() -> None:
    assert Framing(False, False, False, False, general=True).suppresses == "general question"
    assert Framing(True, True, True, False).suppresses == "managed"
    assert Framing(False, False, True, True).suppresses is None  # managed, but now getting worse
    assert Framing(True, False, False, False).suppresses == "informational"
    assert Framing(True, True, False, False).suppresses is None  # an acute anchor keeps the flag
    assert Framing(False, False, False, False).suppresses is None


def test_a_question_about_red_flags_is_informational() -> None:
    framing = frame(normalise("what are the red flags after vertebroplasty?"), False, False, [])
    assert framing.informational and not framing.acute_anchor
    assert framing.suppresses == "informational"


def test_a_flag_reported_after_now_is_a_deterioration() -> None:
    norm = normalise("confirmed pe on heparin, now collapsed")
    collapsed = finding(norm, "collapsed")
    framing = frame(norm, False, False, [(collapsed.start, collapsed.end)])
    assert framing.deterioration and framing.suppresses is None


def test_an_abnormal_vital_is_an_acute_anchor() -> None:
    norm = normalise("what are the red flags after vertebroplasty?")
    assert frame(norm, True, False, []).acute_anchor
    assert frame(norm, True, False, []).suppresses is None


def test_a_diagnosis_is_a_fact_unless_marked_as_suspected() -> None:
    assert stated_as_fact("pe confirmed", 0, 2)
    assert not stated_as_fact("?pe", 1, 3)
    assert not stated_as_fact("suspected pe", 10, 12)


# --- topic.py: a condition named as what a question is about -------------------------------------------


def test_a_condition_asked_about_in_general_is_a_topic() -> None:
    norm = normalise("which scan for cord compression")
    assert topic_spans(norm) == [(norm.index("cord"), len(norm))]
    assert general_question(norm, [finding(norm, "cord compression")])


def test_a_patient_now_keeps_the_flag() -> None:
    norm = normalise("which scan for cord compression? he can't walk since this morning")
    assert topic_spans(norm) and patient_now(norm) and patient_referent(norm)
    assert not general_question(norm, [finding(norm, "cord compression")])


def test_numbers_are_patient_data_never_a_topic() -> None:
    norm = normalise("which scan for cord compression")
    numeric = finding(norm, "scan", role="feature:test", numeric=True)
    assert not general_question(norm, [finding(norm, "cord compression"), numeric])


def test_no_trigger_is_no_general_question() -> None:
    norm = normalise("which scan for cord compression")
    assert not general_question(norm, [])


def test_again_about_resuming_an_activity_is_not_a_recurrence() -> None:
    assert not patient_now(normalise("before a patient can drive again"))
    assert patient_now(normalise("pt seizing again"))
