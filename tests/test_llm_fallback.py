"""The LLM answerer against a real OpenAI-compatible HTTP server on 127.0.0.1 (tests/support/fake_llm.py):
valid answers are kept, bad sentences dropped, and every failure falls back to the extractive answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.app_client import ready_client
from tests.support.fake_llm import FakeLLM

QUESTION = "How often does cement leak after vertebroplasty, and does it cause symptoms?"
TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def clients(corpus_store: Path, fake_llm: FakeLLM) -> Iterator[callable]:
    """One in-process app per scenario (the scenario is the model name), started on first use."""
    opened: dict[str, TestClient] = {}

    def client(scenario: str) -> TestClient:
        if scenario not in opened:
            opened[scenario] = ready_client(corpus_store, fake_llm.base_url, scenario, TIMEOUT_S)
        return opened[scenario]

    yield client
    for c in opened.values():
        c.__exit__(None, None, None)


def ask(client: TestClient, question: str = QUESTION, **extra) -> dict:
    response = client.post("/v1/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def assert_resolves(body: dict) -> None:
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert numbers and numbers == {c["n"] for c in body["citations"]}


def test_good_answer_is_served_as_llm(clients, fake_llm: FakeLLM) -> None:
    before = len(fake_llm.requests)
    body = ask(clients("good"))
    assert body["mode"] == "llm" and body["fallback_reason"] is None
    assert_resolves(body)
    prompt = fake_llm.requests[before]["messages"][-1]["content"]
    assert "[1] " in prompt and "[2] " in prompt and QUESTION in prompt
    for sentence in re.split(r"(?<=\])\s+", body["answer"]):
        n = int(re.search(r"\[(\d+)\]", sentence).group(1))
        cited = next(c for c in body["citations"] if c["n"] == n)
        assert sentence.rsplit(" [", 1)[0].rstrip(".") in cited["text"]


def test_bad_sentences_are_dropped_and_the_rest_kept(clients) -> None:
    body = ask(clients("mixed"))
    assert body["mode"] == "llm"
    for bad in ("[9]", "no source", "Aspirin"):
        assert bad not in body["answer"]
    assert_resolves(body)
    assert len(body["citations"]) == 1


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("uncited", "llm_unsupported"),
        ("invented", "llm_unsupported"),
        ("unsupported", "llm_unsupported"),
        ("error500", "llm_error"),
        ("garbage", "llm_error"),
    ],
)
def test_failures_fall_back_to_the_extractive_answer(clients, scenario: str, reason: str) -> None:
    body = ask(clients(scenario))
    assert body["mode"] == "extractive"
    assert body["fallback_reason"] == reason, body["fallback_reason"]  # a category: no status, URL or text
    assert_resolves(body)
    assert "750 mg" not in body["answer"]


def test_a_hanging_llm_falls_back_within_the_timeout(clients) -> None:
    body = ask(clients("hang"))
    assert body["mode"] == "extractive" and body["fallback_reason"].startswith("llm_timeout")
    assert_resolves(body)


def test_a_hanging_llm_on_a_follow_up_waits_once_not_twice(clients) -> None:
    # not "What causes new pain after vertebroplasty?": red-flag model v5 flags it (p 0.081, a known false
    # alarm, docs/guardrails.md), and this test is about the LLM deadline, not the screen
    history = [{"role": "user", "content": "What is cement leakage after vertebroplasty?"}]
    body = ask(clients("hang"), "and how is that confirmed?", history=history)
    assert body["mode"] == "extractive" and "llm_timeout" in body["fallback_reason"]


def test_follow_up_is_condensed_by_the_llm_first(clients, fake_llm: FakeLLM) -> None:
    before = len(fake_llm.requests)
    history = [
        {"role": "user", "content": "What is the most common cause of new pain after vertebroplasty?"},
        {"role": "assistant", "content": "A new adjacent-level fracture [1]."},
    ]
    body = ask(clients("good"), "and how is that confirmed?", history=history)
    calls = fake_llm.requests[before:]
    assert len(calls) == 2
    assert "standalone question" in calls[0]["messages"][0]["content"]
    answer_prompt = calls[1]["messages"][-1]["content"]
    assert "Question: What is the most common cause of new pain after vertebroplasty?" in answer_prompt
    assert any("STIR" in c["text"] for c in body["citations"]) or "STIR" in answer_prompt
    assert body["mode"] == "llm"
    assert_resolves(body)


def test_red_flags_never_reach_the_llm(clients, fake_llm: FakeLLM) -> None:
    before = len(fake_llm.requests)
    body = ask(clients("good"), "new leg weakness since this morning after kyphoplasty")
    assert body["mode"] == "red_flag"
    assert len(fake_llm.requests) == before


def test_stream_carries_llm_mode_and_fallback(clients) -> None:
    for scenario, mode in (("good", "llm"), ("error500", "extractive")):
        with clients(scenario).stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as r:
            body = "".join(r.iter_text())
        final = body.strip().split("\n\n")[-1]
        assert final.startswith("event: final")
        assert f'"mode": "{mode}"' in final


# --- the validator itself, on the shapes real models write ------------------------------------------
PASSAGES = [
    "Cement leakage is found in up to 72% of vertebroplasty cases, although most leaks cause no symptoms.",
    "MRI with STIR or T2-weighted fat-saturated sequences should be obtained to identify an acute fracture.",
    "Bed rest for 24 to 48 hours and reassurance are part of the recommended approach.",
]


def test_validator_reads_common_citation_styles() -> None:
    from service.llm_validation import check_answer

    text = (
        "- Cement leakage is found in up to 72% of vertebroplasty cases. [1]\n"
        "- **MRI with STIR sequences** should be obtained to identify an acute fracture [2].\n"
        "Most leaks cause no symptoms, and bed rest for 24 to 48 hours is recommended [1, 3]. "
        "STIR or T2-weighted fat-saturated MRI identifies an acute fracture [1-2]."
    )
    checked = check_answer(text, PASSAGES)
    assert [s.hits for s in checked.sentences] == [(0,), (1,), (0, 2), (0, 1)], checked
    assert not checked.dropped
    assert all("[" not in s.text and "**" not in s.text for s in checked.sentences)


def test_validator_drops_invented_numbers_and_unsupported_claims() -> None:
    from service.llm_validation import check_answer

    text = (
        "Cement leakage is found in up to 85% of vertebroplasty cases [1]. "
        "Vertebroplasty cures osteoporosis permanently in elderly patients [1]. "
        "Bed rest for 24 to 48 hours is recommended [3]. "
        "See the guideline [4]. "
        "Everything is fine."
    )
    checked = check_answer(text, PASSAGES)
    assert [s.text for s in checked.sentences] == ["Bed rest for 24 to 48 hours is recommended."]
    reasons = " ".join(why for _, why in checked.dropped)
    assert "numbers ['85 percent']" in reasons and "too little" in reasons and "not given" in reasons
    assert "no citation" in reasons


def test_validator_refuses_an_oversized_reply_whole() -> None:
    from service.llm_validation import MAX_REPLY_CHARS, check_answer

    sentence = "Bed rest for 24 to 48 hours is recommended [3]. "
    checked = check_answer(sentence * (MAX_REPLY_CHARS // len(sentence) + 1), PASSAGES)
    assert not checked.sentences and "over" in checked.dropped[0][1]
    assert len(check_answer(sentence * 10, PASSAGES).sentences) == 6  # the sentence cap
