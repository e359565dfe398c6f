"""`POST /v1/retrieve`: the ranked passages alone, for evaluators and debugging (DESIGN.md)."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import AnswererDep
from service.models import RetrieveRequest, RetrieveResponse

router = APIRouter(tags=["retrieval"])


@router.post("/v1/retrieve", response_model=RetrieveResponse, responses={503: {"description": "not ready"}})
def retrieve(request: RetrieveRequest, answerer: AnswererDep) -> RetrieveResponse:
    return answerer.retrieve(request)
