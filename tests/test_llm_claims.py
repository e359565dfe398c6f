"""Issue 12, item 1: reversed, invented and hostile LLM claims never reach a clinician as `mode: "llm"`.

Each case is the reply an OpenAI-compatible server actually sends (tests/support/fake_llm.py, real HTTP on
127.0.0.1), scripted to cite the passage it distorts. The service must drop the sentence; with nothing left
it serves the extractive answer with `fallback_reason: "llm_unsupported"`. Correct paraphrases of the same
passages (numbers in words, a negation the passage also makes) are kept, so the checks are not just "drop
everything".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.app_client import ready_client
from tests.support.fake_llm import FakeLLM

EMBOLISM_Q = "How is a symptomatic pulmonary cement embolism managed?"
COUMARIN_Q = "How long is anticoagulation continued for a symptomatic pulmonary cement embolism?"
LEAK_Q = "How often was cement extravasation seen in treated vertebrae, and did it cause complications?"
EMBOLISM = "{cite:symptomatic pulmonary cement embolism is managed}"
COUMARIN = "{cite:coumarin}"
LEAK = "{cite:33%}"
_models = itertools.count(1)


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def client(corpus_store: Path, fake_llm: FakeLLM) -> Iterator[TestClient]:
    """One app; each test scripts its own model name and passes it per request via a fresh app setting."""
    c = ready_client(corpus_store, fake_llm.base_url, "good", timeout_s=5.0)
    yield c
    c.__exit__(None, None, None)


def ask_with(client: TestClient, fake_llm: FakeLLM, reply: str, question: str) -> dict:
    """Script a fresh model to send `reply`, point the app's LLM at it and ask `question`."""
    model = f"scripted-{next(_models)}"
    fake_llm.script(model, reply)
    client.app.state.answerer.llm.model = model
    response = client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def assert_dropped(body: dict, *claims: str) -> None:
    """The bad sentence is not served: the extractive fallback (or an LLM answer without the claim)."""
    for claim in claims:
        assert claim.lower() not in body["answer"].lower(), body["answer"]
    if body["mode"] != "llm":
        assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_unsupported", body
        assert body["citations"]


REVERSED_AND_INVENTED = [
    pytest.param(
        f"A symptomatic pulmonary cement embolism is not managed with anticoagulation {EMBOLISM}.",
        EMBOLISM_Q,
        "not managed",
        id="negated-not",
    ),
    pytest.param(
        f"Never give anticoagulation for a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "never give",
        id="negated-never",
    ),
    pytest.param(
        f"Anticoagulation is never used for a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "never used",
        id="negated-never-used",
    ),
    pytest.param(
        f"Cement extravasation into veins, soft tissue or the disc caused complications in treated vertebrae "
        f"{LEAK}.",
        LEAK_Q,
        "caused complications in",
        id="asserts-what-the-passage-negates",
    ),
    pytest.param(
        f"Avoid anticoagulation in a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "avoid anticoagulation",
        id="negated-avoid",
    ),
    pytest.param(
        f"Anticoagulation is contraindicated in a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "contraindicated",
        id="negated-contraindicated",
    ),
    pytest.param(
        f"Do not manage a symptomatic pulmonary cement embolism with anticoagulation {EMBOLISM}.",
        EMBOLISM_Q,
        "do not manage",
        id="negated-do-not",
    ),
    pytest.param(
        f"Anticoagulation continues with an oral coumarin anticoagulant for six weeks {COUMARIN}.",
        COUMARIN_Q,
        "six weeks",
        id="six-weeks-in-words-vs-months",
    ),
    pytest.param(
        f"Anticoagulation continues with an oral coumarin anticoagulant for 6 weeks {COUMARIN}.",
        COUMARIN_Q,
        "6 weeks",
        id="6-weeks-vs-6-months",
    ),
    pytest.param(
        f"Cement extravasation into veins, soft tissue or the disc was seen in 3 % of treated vertebrae "
        f"{LEAK}.",
        LEAK_Q,
        "3 %",
        id="3-percent-vs-33",
    ),
    pytest.param(
        f"Give 33 mg of morphine for a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "33 mg",
        id="invented-dose",
    ),
    pytest.param(
        f"Cement extravasation into the disc was treated with 33 mg of morphine {LEAK}.",
        LEAK_Q,
        "33 mg",
        id="33-mg-where-the-passage-has-33-percent",
    ),
    pytest.param(
        f"A symptomatic pulmonary cement embolism is managed supportively, with warfarin {EMBOLISM}.",
        EMBOLISM_Q,
        "warfarin",
        id="invented-drug",
    ),
    pytest.param(
        f"Stop anticoagulation for a symptomatic pulmonary cement embolism {EMBOLISM}.",
        EMBOLISM_Q,
        "stop anticoagulation",
        id="reversed-action",
    ),
]


@pytest.mark.parametrize(("reply", "question", "claim"), REVERSED_AND_INVENTED)
def test_reversed_and_invented_claims_are_dropped(
    client: TestClient, fake_llm: FakeLLM, reply: str, question: str, claim: str
) -> None:
    body = ask_with(client, fake_llm, reply, question)
    assert_dropped(body, claim)
    assert body["mode"] == "extractive"


HOSTILE_MARKUP = [
    pytest.param(
        f'A symptomatic pulmonary cement embolism is managed <img src=x onerror="alert(document.domain)"> '
        f"with anticoagulation {EMBOLISM}.",
        ("<img", "onerror"),
        id="img-onerror",
    ),
    pytest.param(
        f"<script>alert(document.cookie)</script>A symptomatic pulmonary cement embolism is managed "
        f"supportively, with anticoagulation {EMBOLISM}.",
        ("<script", "alert("),
        id="script",
    ),
    pytest.param(
        f"![chart](https://evil.example/x.png) A symptomatic pulmonary cement embolism is managed "
        f"supportively, with anticoagulation {EMBOLISM}.",
        ("evil.example", "!["),
        id="markdown-image",
    ),
    pytest.param(
        f"A symptomatic pulmonary cement embolism is managed supportively, with "
        f"[anticoagulation](https://evil.example/login) {EMBOLISM}.",
        ("evil.example", "]("),
        id="markdown-link",
    ),
    pytest.param(
        f"A symptomatic pulmonary cement embolism is managed supportively, with anticoagulation, see "
        f"https://evil.example/guide {EMBOLISM}.",
        ("evil.example",),
        id="bare-url",
    ),
]


@pytest.mark.parametrize(("reply", "leftovers"), HOSTILE_MARKUP)
def test_markup_and_links_never_reach_the_answer(
    client: TestClient, fake_llm: FakeLLM, reply: str, leftovers: tuple[str, ...]
) -> None:
    body = ask_with(client, fake_llm, reply, EMBOLISM_Q)
    for leftover in leftovers:
        assert leftover not in body["answer"], body["answer"]
        assert all(leftover not in c["text"] for c in body["citations"])
    assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_unsupported"


VALID = f"A symptomatic pulmonary cement embolism is managed supportively, with anticoagulation {EMBOLISM}. "


def test_an_880000_character_answer_is_refused(client: TestClient, fake_llm: FakeLLM) -> None:
    valid = VALID
    reply = valid * (880_000 // len(valid) + 1)
    assert len(reply) >= 880_000
    body = ask_with(client, fake_llm, reply, EMBOLISM_Q)
    # Refused by the transport's byte cap (llm_error) before validation's character cap would refuse it.
    assert body["mode"] == "extractive" and body["fallback_reason"] in {"llm_error", "llm_unsupported"}
    assert len(body["answer"]) < 5_000


def test_sentences_over_the_cap_are_dropped(client: TestClient, fake_llm: FakeLLM) -> None:
    body = ask_with(client, fake_llm, VALID * 20, EMBOLISM_Q)
    assert body["mode"] == "llm"
    assert body["answer"].count("anticoagulation") <= 6


CORRECT_PARAPHRASES = [
    pytest.param(
        f"The Krueger review continues anticoagulation with an oral coumarin anticoagulant for six months "
        f"{COUMARIN}.",
        COUMARIN_Q,
        id="six-months-in-words",
    ),
    pytest.param(
        f"Cement extravasation was seen in 33 % of treated vertebrae and caused no complications {LEAK}.",
        LEAK_Q,
        id="33-percent-with-matching-negation",
    ),
    pytest.param(
        f"A symptomatic pulmonary cement embolism is managed supportively, with anticoagulation {EMBOLISM}.",
        EMBOLISM_Q,
        id="plain",
    ),
]


@pytest.mark.parametrize(("reply", "question"), CORRECT_PARAPHRASES)
def test_correct_paraphrases_are_kept(
    client: TestClient, fake_llm: FakeLLM, reply: str, question: str
) -> None:
    body = ask_with(client, fake_llm, reply, question)
    assert body["mode"] == "llm", body
    assert body["fallback_reason"] is None


def test_a_bad_sentence_is_dropped_and_a_good_one_kept(client: TestClient, fake_llm: FakeLLM) -> None:
    reply = (
        f"A symptomatic pulmonary cement embolism is managed supportively, with anticoagulation {EMBOLISM}. "
        f"Never give anticoagulation for a symptomatic pulmonary cement embolism {EMBOLISM}."
    )
    body = ask_with(client, fake_llm, reply, EMBOLISM_Q)
    assert body["mode"] == "llm"
    assert "never" not in body["answer"].lower()
    assert "managed supportively, with anticoagulation" in body["answer"]
