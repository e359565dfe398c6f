"""`/healthz` (the process answers) and `/readyz` (model, guardrail and an index generation are loaded).

Both are `async def`: they only read attributes, so they run on the event loop and never queue for the
worker threads that /v1/ask uses, however busy those are.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import AnswererDep
from service.operations.public_errors import not_ready_category

log = logging.getLogger("gqa.errors")
router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


_last_logged: dict[str, str | None] = {"reason": None}


@router.get(
    "/readyz",
    responses={503: {"description": "not ready; `category` and `reason` say why and what to do"}},
)
async def readyz(answerer: AnswererDep) -> JSONResponse:
    """Probes may reach this through the public balancer, so a 503 carries the category and a fixed sentence;
    the internal reason (store path, Chroma address, database error) is logged once each time it changes,
    not on every probe."""
    reason = answerer.not_ready_reason()
    if reason:
        category, sentence = not_ready_category(reason)
        if reason != _last_logged["reason"]:
            _last_logged["reason"] = reason
            log.warning("not ready", extra={"category": category, "reason": reason})
        return JSONResponse(
            {"status": "not ready", "category": category, "reason": sentence}, status_code=503
        )
    snapshot = answerer.live.current()
    return JSONResponse(
        {
            "status": "ready",
            "index_version": snapshot.generation,
            "corpus_version": snapshot.corpus_version,
            "passages": snapshot.size,
        }
    )
