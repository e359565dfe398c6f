"""`/healthz` (the process answers) and `/readyz` (model, guardrail and an index generation are loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import AnswererDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; `reason` says why and what to do"}})
def readyz(answerer: AnswererDep) -> JSONResponse:
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
