"""`POST /v1/feedback`: a clinician's thumbs up/down (and optional comment) on one answer, into SQLite.

Bad bodies get a 422 from validation; a store that cannot be written (disk full, locked, read-only) gets a
503 saying so — the clinician's answer is unaffected and the widget tells them the feedback was not saved.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import APIRouter, HTTPException, Request, status

from service.feedback_store import Feedback, FeedbackSaved, FeedbackStore

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])


def feedback_store(request: Request) -> FeedbackStore:
    """The app's store, created on first use beside the index (settings.store_dir)."""
    state = request.app.state
    store = getattr(state, "feedback_store", None)
    if store is None:
        store = state.feedback_store = FeedbackStore.in_store(state.settings.store_dir)
    return store


@router.post(
    "/v1/feedback",
    response_model=FeedbackSaved,
    status_code=status.HTTP_201_CREATED,
    responses={503: {"description": "the feedback could not be written; `detail` says why"}},
)
def post_feedback(feedback: Feedback, request: Request) -> FeedbackSaved:
    try:
        return feedback_store(request).save(feedback)
    except (sqlite3.Error, OSError) as exc:
        log.error("feedback on %s not stored: %s", feedback.answer_id, exc)
        detail = f"feedback could not be stored: {exc}"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from exc
