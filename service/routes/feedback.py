"""`POST /v1/feedback`: a clinician's thumbs up/down (and optional comment) on one answer the service gave.

Refusals are all 4xx/5xx with a `category`, never a 500:

* 422 — a bad body (the field and the limit, without echoing it);
* 404 `unknown_answer` — the `answer_id` was not issued by this service or its record has expired, so there
  is nothing genuine to attach the verdict to;
* 429 `feedback_quota` — more than `GQA_FEEDBACK_PER_CLIENT_PER_HOUR` posts from one client, with
  `Retry-After` (the general rate limit allows ~30 MB a minute of writes; this keeps one client from filling
  the dataset evaluators read);
* 507 `feedback_store_full` — the database has reached `GQA_FEEDBACK_MAX_BYTES`;
* 503 `feedback_store_unavailable` — the disk refused (full, locked, read-only); the reason is logged with
  the request id, not sent (it names files and database internals).

The clinician's answer is unaffected by any of these; the widget says the feedback was not saved.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerHour
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.feedback_store import Feedback, FeedbackSaved, FeedbackStore, StoreFull, UnknownAnswer
from service.operations.context import current_request
from service.operations.public_errors import FEEDBACK_UNAVAILABLE

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])


def feedback_store(app) -> FeedbackStore:
    """The app's store, created on first use beside the index (settings.store_dir)."""
    state = app.state
    store = getattr(state, "feedback_store", None)
    if store is None:
        store = state.feedback_store = FeedbackStore.from_settings(state.settings)
    return store


class FeedbackQuota:
    """Posts per client per hour, counted in the rate limiter's storage (in-process or shared Redis)."""

    def __init__(self, per_hour: int, storage_uri: str):
        self.per_hour = per_hour
        self.item = RateLimitItemPerHour(per_hour)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri.removeprefix("async+")))

    def retry_after(self, client: str) -> int | None:
        """None when `client` may post now (and the post is counted); else seconds until it may."""
        if self.limiter.hit(self.item, "feedback", client):
            return None
        stats = self.limiter.get_window_stats(self.item, "feedback", client)
        return max(1, math.ceil(stats.reset_time - time.time()))


def _quota(app) -> FeedbackQuota | None:
    settings = app.state.settings
    if settings.feedback_per_client_per_hour <= 0:
        return None
    quota = getattr(app.state, "feedback_quota", None)
    if quota is None:
        quota = app.state.feedback_quota = FeedbackQuota(
            settings.feedback_per_client_per_hour, settings.rate_limit_storage
        )
    return quota


def _refusal(status_code: int, category: str, detail: str, headers: dict | None = None) -> JSONResponse:
    body = {"detail": detail, "category": category}
    info = current_request()
    if info is not None:
        body["request_id"] = info.request_id
    return JSONResponse(body, status_code=status_code, headers=headers)


@router.post(
    "/v1/feedback",
    response_model=FeedbackSaved,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "`unknown_answer`: not an answer this service gave, or its record expired"},
        429: {"description": "`feedback_quota`: too many feedback posts from this client; see Retry-After"},
        503: {"description": "`feedback_store_unavailable`: the feedback could not be written"},
        507: {"description": "`feedback_store_full`: the feedback database is at its size bound"},
    },
)
def post_feedback(feedback: Feedback, request: Request) -> FeedbackSaved | JSONResponse:
    settings = request.app.state.settings
    quota = _quota(request.app)
    client = request.client.host if request.client else "unknown"
    if quota is not None and (retry := quota.retry_after(client)) is not None:
        return _refusal(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "feedback_quota",
            f"feedback quota exceeded: at most {quota.per_hour} per client per hour; retry after {retry} s",
            {"Retry-After": str(retry)},
        )
    try:
        return feedback_store(request.app).save(feedback)
    except UnknownAnswer:
        return _refusal(
            status.HTTP_404_NOT_FOUND,
            "unknown_answer",
            "no answer with this answer_id was given by this service, or it can no longer be rated "
            f"(answers can be rated for {settings.answer_record_hours:g} h)",
        )
    except StoreFull:
        log.error("feedback refused: the database is at its bound of %s bytes", settings.feedback_max_bytes)
        return _refusal(
            status.HTTP_507_INSUFFICIENT_STORAGE,
            "feedback_store_full",
            "feedback storage is full; an operator must export and archive it "
            "(python -m evals feedback-export)",
        )
    except (sqlite3.Error, OSError) as exc:
        log.error("feedback not stored", extra={"category": FEEDBACK_UNAVAILABLE, "error_type":
                                                 type(exc).__name__, "error": str(exc)})
        return _refusal(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            FEEDBACK_UNAVAILABLE,
            "feedback could not be stored; please try again later",
        )
