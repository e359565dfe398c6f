"""`POST /v1/feedback` over HTTP and `evals feedback-export`: stored, replaced, refused, exported.

The happy path rates a real answer from the real service (session server over the shipped corpus) and reads
the row back from the SQLite file beside the store, as an evaluator would. What is stored with a verdict
comes from the service's own record of the answer it gave; the quota, size bound and retention cap are
tested in-process with small limits.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from evals.feedback_export import main as export_main
from service.app import create_app
from service.feedback_store import FEEDBACK_FILE, Feedback, FeedbackStore, UnknownAnswer
from service.models import AskRequest, AskResponse
from service.routes.feedback import feedback_store
from service.settings import Settings

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
        {"comment": "c" * 2001},
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


def test_a_store_that_cannot_be_written_is_503_with_a_category_not_a_path(tmp_path):
    (tmp_path / FEEDBACK_FILE).mkdir()  # a directory where the database file should be
    client = TestClient(create_app(Settings(store_dir=tmp_path)))
    body = {"answer_id": "a1", "rating": "up", "question": "q", "answer": "a"}
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 503
    payload = response.json()
    assert "could not be stored" in payload["detail"]
    assert payload["category"] == "feedback_store_unavailable" and payload["request_id"]
    assert str(tmp_path) not in response.text and "Errno" not in response.text


def test_forged_question_answer_and_citations_are_not_stored(base_url, corpus_store):
    """The client names the answer; what was asked and answered comes from the service's own record."""
    asked = httpx.post(f"{base_url}/v1/ask", json={"question": QUESTION}, timeout=60).json()
    forged = feedback_for(asked) | dict(
        question="Is it safe to give 33 mg of morphine?",
        answer="Give 33 mg of morphine [1].",
        citations=[{"n": 1, "doc_id": "forged", "title": "F", "section": "F", "text": "forged", "score": 1}],
        mode="llm",
        index_version="g999",
    )
    response = httpx.post(f"{base_url}/v1/feedback", json=forged, timeout=10)
    assert response.status_code == 201, response.text
    (row,) = stored(corpus_store, asked["answer_id"])
    assert (row["question"], row["answer"]) == (QUESTION, asked["answer"])
    assert json.loads(row["citations"]) == asked["citations"]
    assert (row["mode"], row["index_version"]) == (asked["mode"], asked["index_version"])


@pytest.mark.parametrize("answer_id", ["never-issued-1", "00000000-0000-4000-8000-000000000000"])
def test_feedback_on_an_answer_the_service_never_gave_is_404(base_url, corpus_store, answer_id):
    body = {"answer_id": answer_id, "rating": "down", "question": "made up", "answer": "made up"}
    response = httpx.post(f"{base_url}/v1/feedback", json=body, timeout=10)
    assert response.status_code == 404, response.text
    assert response.json()["category"] == "unknown_answer"
    assert "answer_id" in response.json()["detail"]
    assert stored(corpus_store, answer_id) == []


def test_feedback_database_and_its_sidecars_are_owner_only(base_url, corpus_store, real_answer):
    posted = httpx.post(f"{base_url}/v1/feedback", json=feedback_for(real_answer), timeout=10)
    assert posted.status_code == 201
    for name in (FEEDBACK_FILE, FEEDBACK_FILE + "-wal", FEEDBACK_FILE + "-shm"):
        path = corpus_store / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    path = tmp_path / FEEDBACK_FILE
    sqlite3.connect(path).close()
    path.chmod(0o644)
    _fill(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _answer(answer_id: str, question: str = "q", answer: str = "a", **extra
            ) -> tuple[AskRequest, AskResponse]:
    request = AskRequest(question=question, history=extra.pop("history", []))
    response = AskResponse(answer=answer, answer_id=answer_id, mode=extra.pop("mode", "extractive"), **extra)
    return request, response


def _fill(store_dir: Path) -> None:
    store = FeedbackStore.in_store(store_dir)
    citation = {"n": 1, "doc_id": "d", "title": "T", "section": "T › S", "text": "x", "score": 0.5}
    store.record_answer(*_answer("a-up", "q1", "a1 [1]", citations=[citation]))
    store.record_answer(*_answer("a-down", "q2", "a2", history=[{"role": "user", "content": "earlier"}],
                                 mode="abstain", index_version="g7"))
    store.record_answer(*_answer("a-down-2", "q3", "a3"))
    store.save(Feedback(answer_id="a-up", rating="up"))
    store.save(Feedback(answer_id="a-down", rating="down", comment="wrong"))
    store.save(Feedback(answer_id="a-down-2", rating="down"))


def _app(tmp_path: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(store_dir=tmp_path, rate_limit_per_minute=0, **settings)))


def _issue(client: TestClient, answer_id: str, question: str = "q") -> None:
    """Record an answer as the ask routes do (no index needed for the feedback path)."""
    feedback_store(client.app).record_answer(*_answer(answer_id, question))


def test_per_client_quota_is_429_with_retry_after(tmp_path):
    client = _app(tmp_path, feedback_per_client_per_hour=3)
    for i in range(4):
        _issue(client, f"ans-{i}")
    statuses = [client.post("/v1/feedback", json={"answer_id": f"ans-{i}", "rating": "up"}).status_code
                for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = client.post("/v1/feedback", json={"answer_id": "ans-0", "rating": "down"})
    assert refused.status_code == 429 and refused.json()["category"] == "feedback_quota"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert "3 per client per hour" in refused.json()["detail"]


def test_size_bound_refuses_new_verdicts_with_507_not_500(tmp_path):
    client = _app(tmp_path, feedback_max_bytes=64 * 1024, feedback_per_client_per_hour=0)
    statuses = []
    for i in range(60):
        _issue(client, f"big-{i}", question="x" * 1900)
        body = {"answer_id": f"big-{i}", "rating": "down", "comment": "c" * 1900}
        r = client.post("/v1/feedback", json=body)
        statuses.append(r.status_code)
    assert statuses[0] == 201 and statuses[-1] == 507, statuses
    assert set(statuses) == {201, 507}
    full = client.post("/v1/feedback", json={"answer_id": "big-59", "rating": "up"})
    assert full.json()["category"] == "feedback_store_full"
    db = tmp_path / FEEDBACK_FILE
    assert db.stat().st_size < 3 * 64 * 1024  # bounded (freed answer pages are reused)
    again = client.post("/v1/feedback", json={"answer_id": "big-0", "rating": "up"})
    assert again.status_code == 201 and again.json()["updated"] is True  # a change of mind still goes in


def test_answer_records_are_capped_and_expired_ones_cannot_be_rated(tmp_path):
    store = FeedbackStore.in_store(tmp_path, max_answers=3)
    for i in range(5):
        store.record_answer(*_answer(f"r-{i}"))
    with sqlite3.connect(store.path) as conn:
        kept = [r[0] for r in conn.execute("SELECT answer_id FROM answers ORDER BY rowid")]
    assert kept == ["r-2", "r-3", "r-4"]
    with pytest.raises(UnknownAnswer):
        store.save(Feedback(answer_id="r-0", rating="up"))
    assert store.save(Feedback(answer_id="r-4", rating="up")).updated is False

    aged = FeedbackStore.in_store(tmp_path / "aged", answer_hours=24)
    aged.record_answer(*_answer("old"))
    with sqlite3.connect(aged.path) as conn:
        conn.execute("UPDATE answers SET created_at = '2000-01-01T00:00:00+00:00'")
    aged.record_answer(*_answer("new"))  # pruning runs on every insert
    with pytest.raises(UnknownAnswer):
        aged.save(Feedback(answer_id="old", rating="up"))
    assert aged.save(Feedback(answer_id="new", rating="up")).answer_id == "new"


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
