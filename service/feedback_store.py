"""Clinicians' thumbs up/down on answers, kept in SQLite beside the index so evaluators can review them.

One row per answer id: a clinician who changes their mind (or adds a comment after the thumb) replaces their
earlier verdict instead of adding a contradictory second one. Each row carries what was asked, what was
answered, the citations shown and the index generation, so a reviewer can judge it without replaying the
service (the index may have moved on since).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from service.models import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, Citation, Turn

FEEDBACK_FILE = "feedback.sqlite3"
MAX_COMMENT_CHARS = 2000
MAX_ANSWER_CHARS = 20_000
MAX_CITATIONS = 50

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    answer_id     TEXT PRIMARY KEY,
    rating        TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment       TEXT,
    question      TEXT NOT NULL,
    answer        TEXT NOT NULL,
    citations     TEXT NOT NULL,  -- JSON list of Citation
    history       TEXT NOT NULL,  -- JSON list of Turn
    mode          TEXT,
    article_id    TEXT,
    index_version TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
)
"""

UPSERT = """
INSERT INTO feedback (answer_id, rating, comment, question, answer, citations, history, mode, article_id,
                      index_version, created_at, updated_at)
VALUES (:answer_id, :rating, :comment, :question, :answer, :citations, :history, :mode, :article_id,
        :index_version, :now, :now)
ON CONFLICT (answer_id) DO UPDATE SET
    rating = excluded.rating, comment = excluded.comment, question = excluded.question,
    answer = excluded.answer, citations = excluded.citations, history = excluded.history,
    mode = excluded.mode, article_id = excluded.article_id, index_version = excluded.index_version,
    updated_at = excluded.updated_at
"""


class Feedback(BaseModel):
    """`POST /v1/feedback` body: the verdict plus the answer it is about, as the widget showed it."""

    answer_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str = Field(max_length=MAX_ANSWER_CHARS)
    citations: list[Citation] = Field(default_factory=list, max_length=MAX_CITATIONS)
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    mode: Literal["extractive", "llm", "red_flag", "abstain"] | None = None
    article_id: str | None = Field(default=None, max_length=300)
    index_version: str | None = Field(default=None, max_length=200)

    @field_validator("comment")
    @classmethod
    def _blank_comment_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None


class FeedbackSaved(BaseModel):
    status: Literal["stored"] = "stored"
    answer_id: str
    rating: Literal["up", "down"]
    updated: bool = Field(description="true when an earlier verdict on this answer was replaced")


class FeedbackStore:
    """The feedback table in `<store_dir>/feedback.sqlite3`; a short-lived connection per call.

    A connection per call (rather than one shared) keeps it safe from FastAPI's worker threads and from the
    export CLI reading while the service writes; WAL lets those readers run without blocking the writer.
    """

    def __init__(self, path: Path):
        self.path = path
        self._schema_ready = False
        self._lock = threading.Lock()

    @classmethod
    def in_store(cls, store_dir: Path) -> FeedbackStore:
        return cls(Path(store_dir) / FEEDBACK_FILE)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _ensure_schema(self) -> None:
        with self._lock:
            if self._schema_ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SCHEMA)
            self._schema_ready = True

    def save(self, feedback: Feedback) -> FeedbackSaved:
        """Store (or replace) the verdict on `feedback.answer_id`; sqlite3.Error if the disk refuses."""
        self._ensure_schema()
        row = feedback.model_dump(mode="json")
        row["citations"] = json.dumps(row["citations"], ensure_ascii=False)
        row["history"] = json.dumps(row["history"], ensure_ascii=False)
        row["now"] = datetime.now(UTC).isoformat(timespec="seconds")
        conn = self._connect()
        try:
            with conn:
                existed = conn.execute(
                    "SELECT 1 FROM feedback WHERE answer_id = ?", (feedback.answer_id,)
                ).fetchone()
                conn.execute(UPSERT, row)
        finally:
            conn.close()
        replaced = existed is not None
        return FeedbackSaved(answer_id=feedback.answer_id, rating=feedback.rating, updated=replaced)

    def records(self) -> Iterator[dict]:
        """Every stored verdict in the order first given, JSON columns decoded; none if no feedback yet."""
        if not self.path.exists():
            return
        conn = self._connect()
        try:
            has_table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feedback'"
            ).fetchone()
            if not has_table:
                return
            for row in conn.execute("SELECT * FROM feedback ORDER BY rowid"):
                record = dict(row)
                record["citations"] = json.loads(record["citations"])
                record["history"] = json.loads(record["history"])
                yield record
        finally:
            conn.close()
