"""Structured logs: one JSON object per line on stderr, each stamped with the request id when there is one.

Why not a logging library: the stdlib formatter below is all the structure we need, and keeping logs on the
standard `logging` module means chromadb's, uvicorn's and our own records all come out the same way.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from service.operations.context import current_request

# attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        info = current_request()
        if info is not None:
            entry["request_id"] = info.request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)  # ASCII-escaped: a lone surrogate can never break a line


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    """Route every logger through one stderr handler (idempotent: several apps in one process share it)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = (
        JsonFormatter() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    ours = [h for h in root.handlers if getattr(h, "_gqa", False)]
    if not ours:
        handler = logging.StreamHandler(sys.stderr)
        handler._gqa = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        ours = [handler]
    for ours_handler in ours:
        ours_handler.setFormatter(formatter)
    # uvicorn keeps its own handlers (set up before the app factory runs): give them the same format, and
    # drop its access log, which our request log replaces with one line that carries the request id.
    for uvicorn_handler in logging.getLogger("uvicorn").handlers:
        uvicorn_handler.setFormatter(formatter)
    logging.getLogger("uvicorn.access").disabled = True
    # bm25s sets its own logger to DEBUG when imported, which lets its "Building index" lines through
    # whatever the service's level is: it follows the service's level like every other library
    logging.getLogger("bm25s").setLevel(level.upper())
