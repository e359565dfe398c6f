"""`GET /v1/limits`: the input limits the request models enforce, for clients to apply before sending.

The widget fetches this once at start (with built-in defaults if it cannot), so its text box lengths and the
history it sends follow service/models.py instead of a copy in widget.js.
"""

from __future__ import annotations

from fastapi import APIRouter

from service.feedback_store import MAX_COMMENT_CHARS
from service.models import Limits

router = APIRouter(tags=["widget"])


@router.get("/v1/limits", response_model=Limits)
async def limits() -> Limits:
    return Limits(max_comment_chars=MAX_COMMENT_CHARS)
