"""Append-only JSON-lines audit log of every red-flag trigger.

One line per trigger: time (UTC, ISO 8601), category, the rule or exemplar that matched, the guidance version
shown, the version of the rule files (`rules_version`), where the match was (the question or the latest user
turn of the history) and a keyed fingerprint of the question (`question_hmac`, HMAC-SHA256 with the
deployment's secret: service/fingerprint.py; a plain hash of a short clinical question can be reversed by
guessing). The raw question is written only when
`audit_raw_text` is set: questions can carry patient details, and the log's purpose (showing that and why the
fixed guidance was given) does not need them. The file is created owner-only (0600).

A failure to write is logged and swallowed: the clinician must still get the emergency guidance.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from service.fingerprint import ensure_owner_only

log = logging.getLogger(__name__)


class AuditLog:
    """Writes one JSON object per line to `path` (0600), creating the folder on first use; thread-safe.

    `fingerprint` is the deployment's keyed hash (Fingerprinter); the answer log uses the same one, so an
    audit line can be joined to its request.
    """

    def __init__(self, path: Path, fingerprint: Callable[[str], str], raw_text: bool = False):
        self.path = Path(path)
        self.raw_text = raw_text
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._private = False  # the file's mode is checked once per process, on the first write

    def record(self, *, category: str, rule: str, version: str, question: str, source: str,
               matched_text: str, rules_version: str | None = None) -> dict:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "red_flag",
            "category": category,
            "rule": rule,
            "guidance_version": version,
            "source": source,
            "question_hmac": self.fingerprint(question),
        }
        if rules_version is not None:
            entry["rules_version"] = rules_version
        if source != "question":
            entry["matched_hmac"] = self.fingerprint(matched_text)
        if self.raw_text:
            entry["question"] = question
            if source != "question":
                entry["matched_text"] = matched_text
        try:
            line = json.dumps(entry, ensure_ascii=False) + "\n"
            with self._lock:
                if not self._private:
                    ensure_owner_only(self.path)
                    self._private = True
                # backslashreplace: a lone surrogate in raw text becomes its JSON escape, not a crash
                with self.path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
                    fh.write(line)
        except OSError:
            log.exception("could not write red-flag audit line to %s", self.path)
        return entry
