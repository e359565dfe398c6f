"""Append-only JSON-lines audit log of every red-flag trigger.

One line per trigger: time (UTC, ISO 8601), category, the rule or exemplar that matched, the guidance version
shown, where the match was (the question or the latest user turn of the history) and a SHA-256 of the
question. The raw question is written only when `audit_raw_text` is set: questions can carry patient details,
and the log's purpose (showing that and why the fixed guidance was given) does not need them.

A failure to write is logged and swallowed: the clinician must still get the emergency guidance.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditLog:
    """Writes one JSON object per line to `path`, creating the folder on first use; thread-safe."""

    def __init__(self, path: Path, raw_text: bool = False):
        self.path = Path(path)
        self.raw_text = raw_text
        self._lock = threading.Lock()

    def record(self, *, category: str, rule: str, version: str, question: str, source: str,
               matched_text: str) -> dict:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "red_flag",
            "category": category,
            "rule": rule,
            "guidance_version": version,
            "source": source,
            "question_sha256": text_hash(question),
        }
        if source != "question":
            entry["matched_sha256"] = text_hash(matched_text)
        if self.raw_text:
            entry["question"] = question
            if source != "question":
                entry["matched_text"] = matched_text
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(entry, ensure_ascii=False) + "\n"
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            log.exception("could not write red-flag audit line to %s", self.path)
        return entry
