"""Extractive answers via /v1/ask: verbatim in their citations, bounded, follow-ups, abstention."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from service.answering import ABSTAIN_TEXT
from service.composer import WORD_BUDGET
from tests.conftest import ROOT

GOLDEN = ROOT / "evals" / "datasets" / "golden_shipped.jsonl"
ABSTENTION = ROOT / "tests" / "data" / "abstention.jsonl"
PIECE = re.compile(r"(.+?) ((?:\[\d+\])+)(?= |$)")


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip() and line[0] != "/"]


def ask(base_url: str, question: str, history: list | None = None, **extra) -> dict:
    payload = {"question": question, "history": history or [], **extra}
    response = httpx.post(base_url + "/v1/ask", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def pieces(answer: str) -> list[tuple[str, list[int]]]:
    found = [
        (m.group(1).strip(), [int(n) for n in re.findall(r"\d+", m.group(2))]) for m in PIECE.finditer(answer)
    ]
    assert " ".join(f"{s} {''.join(f'[{n}]' for n in ns)}" for s, ns in found) == answer
    return found


def assert_grounded(body: dict) -> None:
    """Every [n] resolves; every sentence is verbatim in the passage it cites; every citation is used."""
    citations = {c["n"]: c for c in body["citations"]}
    used = set()
    for sentence, numbers in pieces(body["answer"]):
        assert len(numbers) == 1
        n = numbers[0]
        assert n in citations, (n, body["answer"])
        assert sentence in citations[n]["text"], (sentence, citations[n]["text"])
        used.add(n)
    assert used == set(citations)


def cited_answer(body: dict) -> dict | None:
    """Where the cited answer is: the response itself, or — when the red-flag screen fired on an ordinary
    question — its `related_answer`, shown below the banner (the designed cost of a false alarm). Banners on
    ordinary questions are budgeted separately (test_red_flag_banners_on_ordinary_questions_stay_rare)."""
    if body["mode"] == "extractive":
        return body
    if body["mode"] == "red_flag":
        return body.get("related_answer")
    return None


GOLDEN_ANSWERABLE = [i for i in jsonl(GOLDEN) if i.get("expected_mode", "answer") == "answer"]


@pytest.mark.parametrize("item", GOLDEN_ANSWERABLE, ids=lambda i: i["id"])
def test_answers_are_verbatim_cited_and_bounded(base_url: str, item: dict) -> None:
    body = cited_answer(ask(base_url, item["question"], item.get("history")))
    assert body is not None and body["mode"] == "extractive", item["question"]
    assert_grounded(body)
    sentences = pieces(body["answer"])
    assert len(sentences) >= 1
    words = sum(len(s.split()) for s, _ in sentences)
    assert words <= WORD_BUDGET or len(sentences) == 1  # the composer's budget (service/composer.py)
    # the structured form says the same as the text, sentence by sentence
    assert [(s["text"], s["citations"]) for s in body["sentences"]] == sentences


def test_sentences_of_one_passage_keep_document_order(base_url: str) -> None:
    body = ask(base_url, "What should happen in the first 24 to 48 hours after vertebroplasty?")
    citations = {c["n"]: c for c in body["citations"]}
    last_pos: dict[int, int] = {}
    for sentence, (n,) in pieces(body["answer"]):
        pos = citations[n]["text"].index(sentence)
        assert pos > last_pos.get(n, -1)
        last_pos[n] = pos
    first_numbers = [ns[0] for _, ns in pieces(body["answer"])]
    assert first_numbers == sorted(first_numbers)


def test_follow_up_answer_cites_the_imaging_passage(base_url: str) -> None:
    history = [
        {"role": "user", "content": "What is the most common cause of new pain after vertebroplasty?"},
        {"role": "assistant", "content": "A new adjacent-level fracture [1]."},
    ]
    body = ask(base_url, "and how is that confirmed?", history)
    assert body["mode"] == "extractive"
    assert_grounded(body)
    assert any("STIR" in c["text"] for c in body["citations"]), body["citations"]


CLEAR_OUT_OF_SCOPE = [i for i in jsonl(ABSTENTION) if not i["in_scope"] and not i.get("borderline")]


@pytest.mark.parametrize("item", CLEAR_OUT_OF_SCOPE, ids=lambda i: i["question"])
def test_out_of_scope_questions_abstain(base_url: str, item: dict) -> None:
    body = ask(base_url, item["question"])
    if body["mode"] == "red_flag":  # a banner (budgeted below) still offers no answer the content lacks
        assert body["related_answer"] is None
        return
    assert body["mode"] == "abstain", body["answer"]
    assert body["citations"] == [] and "[" not in body["answer"]
    assert "does not cover" in body["answer"]
    assert body["closest_topics"] and all(t["section"] in body["answer"] for t in body["closest_topics"])
    statement, topics_line = body["sentences"]  # the widget shows the statement, the topics as buttons
    assert statement == {"text": ABSTAIN_TEXT, "citations": []} and topics_line["citations"] == []
    assert body["answer"] == f"{statement['text']} {topics_line['text']}"


@pytest.mark.parametrize("item", [i for i in jsonl(ABSTENTION) if i["in_scope"]], ids=lambda i: i["question"])
def test_in_scope_questions_are_answered(base_url: str, item: dict) -> None:
    body = cited_answer(ask(base_url, item["question"]))
    assert body is not None and body["mode"] == "extractive", item["question"]
    assert_grounded(body)


@pytest.mark.e2e
def test_calibration_set_is_at_least_98_percent_right(base_url: str) -> None:
    """Borderline near-domain questions included: the threshold may miss one, not more."""
    items = jsonl(ABSTENTION)
    right = sum((cited_answer(ask(base_url, i["question"])) is not None) == i["in_scope"] for i in items)
    assert right / len(items) >= 0.98


# Measured for model 2026-12-01+7a337538071f: 4 of the 112 questions below get the banner (with their answer
# in related_answer). The target is none; this budget stops it getting worse unnoticed.
MAX_ORDINARY_BANNERS = 5


@pytest.mark.e2e
def test_red_flag_banners_on_ordinary_questions_stay_rare(base_url: str) -> None:
    questions = [i["question"] for i in jsonl(ABSTENTION)]
    questions += [i["question"] for i in jsonl(GOLDEN) if i.get("expected_mode", "answer") != "red_flag"
                  and not i.get("history")]
    banners = [q for q in questions if ask(base_url, q)["mode"] == "red_flag"]
    assert len(banners) <= MAX_ORDINARY_BANNERS, banners


@pytest.mark.e2e
def test_held_out_out_of_scope_questions_abstain(base_url: str) -> None:
    """The evals' golden out-of-scope questions were not used to calibrate the threshold."""
    items = [i for i in jsonl(GOLDEN) if i.get("expected_mode") == "abstain"]
    assert len(items) >= 5
    answered = [i["question"] for i in items if ask(base_url, i["question"])["mode"] != "abstain"]
    assert not answered


def test_off_topic_follow_up_after_on_topic_question_abstains(base_url: str) -> None:
    history = [{"role": "user", "content": "How common is cement leakage after vertebroplasty?"}]
    body = ask(base_url, "What is the first-line treatment for migraine prophylaxis?", history)
    assert body["mode"] == "abstain"
