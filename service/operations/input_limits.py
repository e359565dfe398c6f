"""Request body size limit, enforced before the body is read, and per-client rate limiting.

Body size: a declared `Content-Length` over the limit is refused with 413 without reading a byte; a chunked
body is counted as it arrives and refused as soon as it passes the limit, so a huge upload never sits in
memory. The pydantic models then bound every field (question, history turns, k).

Why not Starlette's own `max_body_size` (RequestBodyLimitMiddleware, Starlette ≥ 1.0): a declared oversize
body is refused only when the endpoint reads it, or else after the endpoint has run (its response is replaced
at the start line), where this class refuses before any route or rate-limit work; its 413 is plain text
"Content Too Large" without the limit, where our clients get JSON `detail` naming it
(tests/ops/test_security.py); and a malformed Content-Length is ignored rather than refused with 400.

Rate limiting uses the `limits` library (moving window): it is well kept, has an asyncio API that never
blocks the event loop, and the same code runs on in-process memory (one replica) or a shared Redis or
Memcached (`GQA_RATE_LIMIT_STORAGE`), so N replicas can enforce one budget per client. The client is the
connection's address, which uvicorn rewrites from `X-Forwarded-For` for trusted proxies
(`--forwarded-allow-ips`), so behind a load balancer it is the clinician's address, not the balancer's.
"""

from __future__ import annotations

import json
import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.exceptions import HTTPException

LIMITED_PREFIXES = ("/v1/", "/admin/")  # probes, /metrics and the widget's static files are never limited
UNLIMITED_PATHS = frozenset({"/v1/limits"})  # a constant the widget fetches at start, not a question


async def send_json(send, status: int, payload: dict, headers: tuple = ()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    def __init__(self, app, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | str) -> str:
        return f"request body too large ({size} bytes); the limit is {self.max_bytes} bytes"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit():
                await send_json(send, 400, {"detail": "Content-Length must be a number of bytes"})
            elif int(declared) > self.max_bytes:
                await send_json(send, 413, {"detail": self._too_large(int(declared))})
            else:
                await self.app(scope, receive, send)
            return
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI lets an HTTPException from body reading through, so this becomes a 413
                    raise HTTPException(413, self._too_large(f"over {self.max_bytes}"))
            return message

        await self.app(scope, counted_receive, send)


class RateLimitMiddleware:
    def __init__(self, app, *, per_minute: int, storage_uri: str = "memory://"):
        self.app = app
        self.per_minute = per_minute
        self.item = RateLimitItemPerMinute(per_minute)
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri))

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not scope["path"].startswith(LIMITED_PREFIXES)
            or scope["path"] in UNLIMITED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        if await self.limiter.hit(self.item, client):
            await self.app(scope, receive, send)
            return
        stats = await self.limiter.get_window_stats(self.item, client)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        detail = (
            f"rate limit exceeded: at most {self.per_minute} requests per minute per client; "
            f"retry after {retry_after} s"
        )
        await send_json(send, 429, {"detail": detail}, ((b"retry-after", str(retry_after).encode()),))
