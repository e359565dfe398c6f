"""`POST /v1/ask` (one JSON answer) and `POST /v1/ask/stream` (the same answer as server-sent events).

Stream format: one `event: sentence` per answer piece (`{"index": i, "text": "<sentence> [n]"}`; the pieces
joined by single spaces are `answer`), then one `event: final` whose data is the full AskResponse (citations,
mode, red_flag, answer_id, index_version). Red-flag and abstain answers are a single piece. Errors found
before the stream starts (bad input, not ready) are ordinary 4xx/503 JSON responses, not events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from service.deps import AnswererDep
from service.models import AskRequest, AskResponse
from service.operations import record_answer
from service.routes.feedback import feedback_store

log = logging.getLogger(__name__)
router = APIRouter(tags=["answers"])
OpenAPIResponses = dict[int | str, dict[str, Any]]
NOT_READY: OpenAPIResponses = {503: {"description": "the index or model is not loaded; `detail` says why"}}
STREAM: OpenAPIResponses = {
    200: {"content": {"text/event-stream": {}}, "description": "sentence events, then a final event"}
}


def keep_for_feedback(http: Request, request: AskRequest, response: AskResponse) -> None:
    """Record the answer so `POST /v1/feedback` can refer to it by `answer_id` (service/feedback_store.py).

    A failure is logged and swallowed: the clinician gets the answer regardless (a red-flag one above all);
    only feedback on this answer will be refused as unknown.
    """
    try:
        feedback_store(http.app).record_answer(request, response)
    except (sqlite3.Error, OSError) as exc:
        log.warning("answer not recorded for feedback", extra={"answer_id": response.answer_id,
                                                                "error_type": type(exc).__name__})


@router.post("/v1/ask", response_model=AskResponse, responses=NOT_READY)
def ask(request: AskRequest, answerer: AnswererDep, http: Request) -> AskResponse:
    response, _ = answerer.ask(request)
    record_answer(request, response)
    keep_for_feedback(http, request, response)
    return response


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/v1/ask/stream",
    responses={**STREAM, **NOT_READY},
)
def ask_stream(request: AskRequest, answerer: AnswererDep, http: Request) -> StreamingResponse:
    response, pieces = answerer.ask(request)  # computed before the first byte, so errors keep their status
    record_answer(request, response)
    keep_for_feedback(http, request, response)

    def events() -> Iterator[str]:
        for i, piece in enumerate(pieces):
            yield sse("sentence", {"index": i, "text": piece})
        yield sse("final", response.model_dump(mode="json"))

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
