"""`POST /admin/reload`: load the published index generation now instead of at the watcher's next poll.

Only routed when `GQA_ADMIN_TOKEN` is set (otherwise it is a plain 404), and every call must carry
`Authorization: Bearer <token>`; the comparison is constant-time so the token cannot be guessed by timing.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from service.deps import LiveIndexDep

router = APIRouter(prefix="/admin", tags=["admin"])
UNAUTHORISED: dict[int | str, dict[str, Any]] = {401: {"description": "missing or wrong bearer token"}}


def require_admin(request: Request) -> None:
    expected = request.app.state.settings.admin_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "admin endpoints need `Authorization: Bearer <GQA_ADMIN_TOKEN>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]


@router.post("/reload", responses=UNAUTHORISED)
def reload(_: AdminDep, live: LiveIndexDep) -> dict:
    """Re-read the manifest and swap in its generation if it is new; says what is served afterwards."""
    switched = live.refresh()
    snapshot = None if live.reason else live.current()
    return {
        "reloaded": switched,
        "index_version": snapshot.generation if snapshot else None,
        "reason": live.reason,
    }
