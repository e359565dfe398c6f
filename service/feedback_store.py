"""Clinicians' thumbs up/down on answers the service gave, kept in SQLite beside the index for evaluators.

Why the service keeps its own record of each answer: feedback used to carry the question, answer and citations
as the client sent them, so anyone could write a made-up "clinician verdict" on a made-up answer into the
dataset evaluators export (and fill the disk with it). Now every answer the ask routes return is recorded
here (`answers` table: question, history, answer, citations, mode, index generation, article), and feedback
names only the `answer_id` plus the verdict; what is stored with the verdict is copied from that record.
An `answer_id` the service never issued, or one whose record has expired, is refused.

Answer records hold question text, which can carry patient details, so they are kept only as long as
feedback is likely (default 24 h, at most 5,000 records, and at most a quarter of the size bound); a
verdict keeps its copy for review. New verdicts are refused (507) once the database holds the other three
quarters, so the file stays near `GQA_FEEDBACK_MAX_BYTES`. The database is created owner-only (0600).

One feedback row per answer id: a clinician who changes their mind (or adds a comment after the thumb)
replaces their earlier verdict instead of adding a contradictory second one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.fingerprint import ensure_owner_only

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.sqlite3"
MAX_COMMENT_CHARS = 2000
ANSWER_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
# answer records may fill 1/ANSWER_SHARE of the size bound, verdicts the rest: the file stays near it
ANSWER_SHARE = 4

SCHEMA = (
    """
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
""",
    """
CREATE TABLE IF NOT EXISTS answers (
    answer_id     TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,  -- bytes of the text columns, read without touching overflow pages
    question      TEXT NOT NULL,
    answer        TEXT NOT NULL,
    citations     TEXT NOT NULL,  -- JSON list of Citation, as returned
    history       TEXT NOT NULL,  -- JSON list of Turn, as asked with
    mode          TEXT NOT NULL,
    article_id    TEXT,
    index_version TEXT,
    created_at    TEXT NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS answers_created ON answers (created_at)",
)

INSERT_ANSWER = """
INSERT OR REPLACE INTO answers (answer_id, size, question, answer, citations, history, mode, article_id,
                                index_version, created_at)
VALUES (:answer_id, :size, :question, :answer, :citations, :history, :mode, :article_id, :index_version,
        :now)
"""

# the answer's fields are copied from the service's record when the verdict is first given and never
# replaced: a later verdict on the same answer changes only the rating and the comment
UPSERT = """
INSERT INTO feedback (answer_id, rating, comment, question, answer, citations, history, mode, article_id,
                      index_version, created_at, updated_at)
SELECT answer_id, :rating, :comment, question, answer, citations, history, mode, article_id, index_version,
       :now, :now
FROM answers WHERE answer_id = :answer_id
ON CONFLICT (answer_id) DO UPDATE SET
    rating = excluded.rating, comment = excluded.comment, updated_at = excluded.updated_at
"""


class Feedback(BaseModel):
    """`POST /v1/feedback` body: the verdict on one answer the service gave, named by its `answer_id`.

    Other keys (the question, answer and citations older widgets sent) are ignored: what is stored comes
    from the service's own record of the answer.
    """

    model_config = ConfigDict(extra="ignore")

    answer_id: str = Field(min_length=1, max_length=100, pattern=ANSWER_ID_PATTERN)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)

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


class UnknownAnswer(LookupError):
    """The answer id was never issued by this service, or its record has expired."""


class StoreFull(RuntimeError):
    """The feedback database has reached its size bound; nothing more is written until it is exported."""


class FeedbackStore:
    """The `feedback` and `answers` tables in `<store_dir>/feedback.sqlite3`; a connection per call.

    A connection per call (rather than one shared) keeps it safe from FastAPI's worker threads and from the
    export CLI reading while the service writes; WAL lets those readers run without blocking the writer.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        answer_hours: float = 24.0,
        max_answers: int = 5000,
    ):
        self.path = path
        self.max_bytes = max_bytes
        self.answer_hours = answer_hours
        self.max_answers = max_answers
        self._schema_ready = False
        self._lock = threading.Lock()

    @classmethod
    def in_store(cls, store_dir: Path, **limits) -> FeedbackStore:
        return cls(Path(store_dir) / FEEDBACK_FILE, **limits)

    @classmethod
    def from_settings(cls, settings) -> FeedbackStore:
        return cls.in_store(
            settings.store_dir,
            max_bytes=settings.feedback_max_bytes,
            answer_hours=settings.answer_record_hours,
            max_answers=settings.answer_records_max,
        )

    def _connect(self, timeout: float = 10) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=timeout)
        conn.row_factory = sqlite3.Row
        return conn

    def _ensure_schema(self) -> None:
        with self._lock:
            if self._schema_ready:
                return
            ensure_owner_only(self.path)  # before SQLite creates it 0644; its -wal/-shm copy this mode
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                for statement in SCHEMA:
                    conn.execute(statement)
            for suffix in ("-wal", "-shm"):  # files left by a version that created them world-readable
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    ensure_owner_only(side)
            self._schema_ready = True

    @staticmethod
    def _answer_bytes(conn: sqlite3.Connection) -> int:
        """Roughly the bytes the answer records hold (their text columns)."""
        return conn.execute("SELECT coalesce(sum(size), 0) FROM answers").fetchone()[0]

    @staticmethod
    def _used_bytes(conn: sqlite3.Connection) -> int:
        """Bytes in use inside the database (freed pages are reused, so this is what can still grow)."""
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * size

    # --- the service's record of what it answered ----------------------------------------------------
    def record_answer(self, request, response, timeout: float = 0.5) -> None:
        """Keep `response` (AskResponse) to `request` (AskRequest) so feedback can refer to it.

        The short busy timeout is deliberate: the ask routes call this before returning, and an answer
        (a red-flag one above all) must not wait on a locked database; the caller logs a failure and serves
        the answer anyway (feedback on it will then be refused as unknown).
        """
        self._ensure_schema()
        row = {
            "answer_id": response.answer_id,
            "question": request.question,
            "answer": response.answer,
            "citations": json.dumps([c.model_dump(mode="json") for c in response.citations],
                                    ensure_ascii=False),
            "history": json.dumps([t.model_dump(mode="json") for t in request.history], ensure_ascii=False),
            "mode": response.mode,
            "article_id": request.article_id,
            "index_version": response.index_version,
            "now": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        row["size"] = sum(len(row[k].encode("utf-8", "surrogatepass"))
                          for k in ("question", "answer", "citations", "history"))
        conn = self._connect(timeout)
        try:
            with conn:
                conn.execute(INSERT_ANSWER, row)
                self._prune(conn)
        finally:
            conn.close()

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Drop answer records past their age or count cap, and the oldest while they hold more than their
        share of the size bound (verdicts are never dropped: they keep their own copy)."""
        cutoff = (datetime.now(UTC) - timedelta(hours=self.answer_hours)).isoformat(timespec="seconds")
        conn.execute("DELETE FROM answers WHERE created_at < ?", (cutoff,))
        conn.execute(
            "DELETE FROM answers WHERE rowid IN "
            "(SELECT rowid FROM answers ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
            (self.max_answers,),
        )
        while self._answer_bytes(conn) > self.max_bytes // ANSWER_SHARE:
            deleted = conn.execute(
                "DELETE FROM answers WHERE rowid IN "
                "(SELECT rowid FROM answers ORDER BY created_at, rowid LIMIT "
                "(SELECT max(1, count(*) / 10) FROM answers))"
            ).rowcount
            if not deleted:
                break

    # --- verdicts -------------------------------------------------------------------------------------
    def save(self, feedback: Feedback) -> FeedbackSaved:
        """Store (or replace) the verdict on `feedback.answer_id`, with the answer as the service recorded it.

        UnknownAnswer if there is no such record; StoreFull at the size bound (a replaced verdict is still
        accepted: it does not grow the database by more than its comment); sqlite3.Error or OSError if the
        disk refuses.
        """
        self._ensure_schema()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        conn = self._connect()
        try:
            with conn:
                existed = conn.execute(
                    "SELECT 1 FROM feedback WHERE answer_id = ?", (feedback.answer_id,)
                ).fetchone() is not None
                if not existed:
                    known = conn.execute(
                        "SELECT 1 FROM answers WHERE answer_id = ?", (feedback.answer_id,)
                    ).fetchone()
                    if known is None:
                        raise UnknownAnswer(feedback.answer_id)
                    if self._used_bytes(conn) >= self.max_bytes - self.max_bytes // ANSWER_SHARE:
                        raise StoreFull(f"feedback database at its bound of {self.max_bytes} bytes")
                params = {"answer_id": feedback.answer_id, "rating": feedback.rating,
                          "comment": feedback.comment, "now": now}
                if existed:
                    conn.execute(
                        "UPDATE feedback SET rating = :rating, comment = :comment, updated_at = :now "
                        "WHERE answer_id = :answer_id",
                        params,
                    )
                else:
                    conn.execute(UPSERT, params)
        finally:
            conn.close()
        return FeedbackSaved(answer_id=feedback.answer_id, rating=feedback.rating, updated=existed)

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
