"""422 answers that can always be rendered.

FastAPI's default 422 echoes each offending `input`; when that input is not valid JSON output (a lone UTF-16
surrogate such as "\\ud800", or a number like 1e400 that decodes to infinity) rendering the 422 itself fails
and the client gets a 500. This handler renders the usual body and, only when that fails, drops the echoed
inputs and keeps the field and the reason.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _printable(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = jsonable_encoder(exc.errors())
    try:
        return JSONResponse({"detail": errors}, status_code=422)
    except (ValueError, UnicodeError):
        slim = [
            {"type": e.get("type"), "loc": _printable(e.get("loc", [])), "msg": _printable(e.get("msg", ""))}
            for e in errors
        ]
        return JSONResponse({"detail": slim}, status_code=422)
