"""`POST /v1/feedback` over HTTP and `evals feedback-export`: stored, replaced, refused, exported.

The happy path rates a real answer from the real service (session server over the shipped corpus) and reads
the row back from the SQLite file beside the store, as an evaluator would.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from evals.feedback_export import main as export_main
from ingest.config import Settings
from service.app import create_app
from service.feedback_store import FEEDBACK_FILE, Feedback, FeedbackStore

QUESTION = "How often does cement leak after vertebroplasty, and is it usually symptomatic?"


def feedback_for(answer: dict, question: str = QUESTION, **extra) -> dict:
    body = {
        "answer_id": answer["answer_id"],
        "rating": "down",
        "question": question,
        "answer": answer["answer"],
        "citations": answer["citations"],
        "mode": answer["mode"],
        "index_version": answer["index_version"],
        "article_id": "vertebroplasty_increased_pain_2025",
    }
    return {**body, **extra}


def stored(store_dir: Path, answer_id: str) -> list[sqlite3.Row]:
    with sqlite3.connect(store_dir / FEEDBACK_FILE) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM feedback WHERE answer_id = ?", (answer_id,)).fetchall()


@pytest.fixture(scope="module")
def real_answer(base_url: str) -> dict:
    response = httpx.post(f"{base_url}/v1/ask", json={"question": QUESTION}, timeout=60)
    response.raise_for_status()
    answer = response.json()
    assert answer["citations"] and answer["index_version"], answer
    return answer


def test_rating_a_real_answer_is_stored_then_replaced(base_url, corpus_store, real_answer):
    first = httpx.post(f"{base_url}/v1/feedback", json=feedback_for(real_answer), timeout=10)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "status": "stored", "answer_id": real_answer["answer_id"], "rating": "down", "updated": False
    }
    (row,) = stored(corpus_store, real_answer["answer_id"])
    assert (row["rating"], row["comment"], row["question"]) == ("down", None, QUESTION)
    assert row["answer"] == real_answer["answer"]
    assert json.loads(row["citations"]) == real_answer["citations"]
    assert row["index_version"] == real_answer["index_version"]

    again = feedback_for(real_answer, rating="up", comment="  Clear and cited.  ")
    second = httpx.post(f"{base_url}/v1/feedback", json=again, timeout=10)
    assert second.status_code == 201 and second.json()["updated"] is True
    (row,) = stored(corpus_store, real_answer["answer_id"])
    assert (row["rating"], row["comment"]) == ("up", "Clear and cited.")
    assert row["created_at"] <= row["updated_at"]


@pytest.mark.parametrize(
    "change",
    [
        {"rating": "meh"},
        {"rating": None},
        {"answer_id": ""},
        {"answer_id": "../../etc/passwd"},
        {"answer_id": "x" * 101},
        {"question": ""},
        {"question": "q" * 2001},
        {"comment": "c" * 2001},
        {"citations": "not a list"},
        {"citations": [{"n": "one"}]},
        {"history": [{"role": "system", "content": "x"}]},
        {"history": [{"role": "user", "content": "x"}] * 21},
        {"mode": "guess"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_bad_feedback_is_refused_with_422(base_url, real_answer, change):
    response = httpx.post(f"{base_url}/v1/feedback", json=feedback_for(real_answer, **change), timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"answer_id": "a"}', b""])
def test_malformed_bodies_are_422_not_500(base_url, body):
    response = httpx.post(
        f"{base_url}/v1/feedback", content=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 422, response.text


def test_a_store_that_cannot_be_written_is_503(tmp_path):
    (tmp_path / FEEDBACK_FILE).mkdir()  # a directory where the database file should be
    client = TestClient(create_app(Settings(store_dir=tmp_path)))
    body = {"answer_id": "a1", "rating": "up", "question": "q", "answer": "a"}
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 503
    assert "could not be stored" in response.json()["detail"]


def _fill(store_dir: Path) -> None:
    store = FeedbackStore.in_store(store_dir)
    citation = {"n": 1, "doc_id": "d", "title": "T", "section": "T › S", "text": "x", "score": 0.5}
    store.save(Feedback(answer_id="a-up", rating="up", question="q1", answer="a1 [1]", citations=[citation]))
    store.save(Feedback(answer_id="a-down", rating="down", question="q2", answer="a2", comment="wrong",
                        history=[{"role": "user", "content": "earlier"}], mode="abstain", index_version="g7"))
    store.save(Feedback(answer_id="a-down-2", rating="down", question="q3", answer="a3"))


def test_export_writes_a_reviewable_dataset(tmp_path, capsys):
    _fill(tmp_path)
    out = tmp_path / "out" / "feedback.jsonl"
    assert export_main(["--store-dir", str(tmp_path), "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["answer_id"] for r in records] == ["a-up", "a-down", "a-down-2"]
    up, down, _ = records
    assert up["id"] == "fb-a-up" and up["cited_contexts"] == [{"doc_id": "d", "section": "T › S"}]
    assert down["history"] == [{"role": "user", "content": "earlier"}] and down["index_version"] == "g7"
    assert down["tags"] == ["feedback", "rating:down", "mode:abstain", "commented"]
    assert "wrote 3 feedback records (1 up, 2 down)" in capsys.readouterr().err

    assert export_main(["--store-dir", str(tmp_path), "--rating", "down", "--commented"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["answer_id"] for line in lines] == ["a-down"]


def test_export_of_an_empty_or_missing_store(tmp_path, capsys):
    assert export_main(["--store-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no feedback stored yet" in captured.err
    assert export_main(["--store-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
