"""The per-request context every operations piece shares: the request id and what the answer turned out to be.

Why a mutable object in a ContextVar: sync routes run in a thread pool with a *copy* of the context, so a
value set there would never reach the middleware; mutating the one object both sides hold does.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# A client's or load balancer's id is kept when it is short and plain, so one id follows a request across
# hops; anything else (too long, spaces, control characters) is replaced, never echoed into logs or headers.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass
class RequestInfo:
    request_id: str
    mode: str = "none"  # the answer mode for /v1/ask*, "none" for everything else
    metrics: Any = None  # the app's Metrics, so answer counts land in the registry of the app serving it
    log_raw_text: bool = False
    fingerprint: Any = None  # the deployment's keyed question hash (service/fingerprint.py)


_current: ContextVar[RequestInfo | None] = ContextVar("gqa_request", default=None)


def request_id_from(header: bytes | None) -> str:
    if header:
        text = header.decode("latin-1")
        if _SAFE_ID.match(text):
            return text
    return uuid.uuid4().hex


def current_request() -> RequestInfo | None:
    """The request being served, or None outside one (scripts, the background index watcher)."""
    return _current.get()


def bind(info: RequestInfo):
    return _current.set(info)


def unbind(token) -> None:
    _current.reset(token)
