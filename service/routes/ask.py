"""`POST /v1/ask` (one JSON answer) and `POST /v1/ask/stream` (the same answer as server-sent events).

Stream format: one `event: sentence` per answer piece (`{"index": i, "text": "<sentence> [n]"}`; the pieces
joined by single spaces are `answer`), then one `event: final` whose data is the full AskResponse (citations,
mode, red_flag, answer_id, index_version). Red-flag and abstain answers are a single piece. Errors found
before the stream starts (bad input, not ready) are ordinary 4xx/503 JSON responses, not events: the answer
is computed in a dependency, before FastAPI's EventSourceResponse (fastapi.sse) frames the events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

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


def answered(request: AskRequest, answerer: AnswererDep, http: Request) -> tuple[AskResponse, list[str]]:
    """The answer and its pieces, logged and kept for feedback: a dependency, so the streaming route has it
    before the first byte and errors (not ready, bad input) keep their status instead of becoming events."""
    response, pieces = answerer.ask(request)
    record_answer(request, response)
    keep_for_feedback(http, request, response)
    return response, pieces


Answered = Annotated[tuple[AskResponse, list[str]], Depends(answered)]


@router.post("/v1/ask", response_model=AskResponse, responses=NOT_READY)
def ask(result: Answered) -> AskResponse:
    return result[0]


def _event(event: str, data: dict) -> ServerSentEvent:
    # raw_data keeps the bytes as they were (UTF-8, not \u escapes; json.dumps spacing)
    return ServerSentEvent(event=event, raw_data=json.dumps(data, ensure_ascii=False))


@router.post("/v1/ask/stream", response_class=EventSourceResponse, responses={**STREAM, **NOT_READY})
def ask_stream(result: Answered) -> Iterator[ServerSentEvent]:
    response, pieces = result
    for i, piece in enumerate(pieces):
        yield _event("sentence", {"index": i, "text": piece})
    yield _event("final", response.model_dump(mode="json"))
