"""422 answers that name the field, the rule and the limit, and never echo what was sent.

FastAPI's default 422 repeats each offending `input` (and pydantic's `ctx`, which can hold the input or an
exception). For this service that is the whole question a clinician typed — patient details included — sent
back into proxy logs, browser consoles and error trackers, and it can fail to render at all (a lone UTF-16
surrogate such as "\\ud800", or 1e400 decoding to infinity), turning a 422 into a 500. This handler builds
each error from an allow-list instead: `type`, `loc` (the field path), `msg` (pydantic's messages state the
rule, e.g. "String should have at most 2000 characters", without the value) and, when there is one, `limit`
with only the numeric or pattern bounds from `ctx`.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# ctx keys that describe the rule, not the input; everything else in ctx (error objects, the JSON decoder's
# message) is dropped
_LIMIT_KEYS = ("min_length", "max_length", "ge", "gt", "le", "lt", "expected", "pattern")
_MAX_MSG_CHARS = 300


def _printable(value: object) -> str:
    """A str that is valid UTF-8 (lone surrogates replaced), so the 422 itself always renders."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _loc_part(part: object) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else _printable(part)[:100]


def safe_error(error: dict) -> dict:
    """One pydantic/FastAPI error reduced to what the caller needs to fix the request."""
    safe: dict = {
        "type": _printable(error.get("type", "")),
        "loc": [_loc_part(p) for p in error.get("loc", ())],
        "msg": _printable(error.get("msg", ""))[:_MAX_MSG_CHARS],
    }
    ctx = error.get("ctx") or {}
    limit = {
        key: ctx[key] if isinstance(ctx[key], int | float) and not isinstance(ctx[key], bool)
        else _printable(ctx[key])[:200]
        for key in _LIMIT_KEYS
        if key in ctx
    }
    if limit:
        safe["limit"] = limit
    return safe


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": [safe_error(e) for e in exc.errors()]}, status_code=422)
