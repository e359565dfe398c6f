"""`/healthz` (the process answers) and `/readyz` (model, guardrail and an index generation are loaded).

Both are `async def`: they only read attributes, so they run on the event loop and never queue for the
worker threads that /v1/ask uses, however busy those are.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import AnswererDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; `reason` says why and what to do"}})
async def readyz(answerer: AnswererDep) -> JSONResponse:
    reason = answerer.not_ready_reason()
    if reason:
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    snapshot = answerer.live.current()
    return JSONResponse(
        {
            "status": "ready",
            "index_version": snapshot.generation,
            "corpus_version": snapshot.corpus_version,
            "passages": snapshot.size,
        }
    )
