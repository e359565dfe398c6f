"""The outermost middleware: request id, security headers, metrics, one access log line, and the global error
handler — everything that must see every request, including those the inner layers refuse (413, 429).

Pure ASGI rather than `BaseHTTPMiddleware`: it adds a few microseconds per request, leaves streaming
responses alone and keeps the context variable visible to the route.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable

from service.operations.context import RequestInfo, bind, request_id_from, unbind
from service.operations.metrics import Metrics
from service.operations.security_headers import SecurityHeaders

access_log = logging.getLogger("gqa.access")
error_log = logging.getLogger("gqa.errors")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED = 499  # nginx's code for "the client closed the connection before the answer"
TRACEBACK_FRAMES = 12  # the innermost frames say where it broke; the outer ones are the ASGI stack


def client_hash(scope: dict, fingerprint: Callable[[str], str] | None = None) -> str:
    """A pseudonymous client key for logs: enough to follow one client, without storing its address.

    Keyed with the deployment's fingerprint secret when there is one: there are only 2^32 IPv4 addresses,
    so an unkeyed hash of one is reversed by trying them all.
    """
    host = (scope.get("client") or ("-",))[0]
    if fingerprint is not None:
        return fingerprint("client:" + host)[:12]
    return hashlib.sha256(host.encode()).hexdigest()[:12]


class RequestMiddleware:
    def __init__(
        self,
        app,
        *,
        metrics: Metrics,
        headers: SecurityHeaders,
        known_paths: Callable[[], set[str]],
        log_raw_text: bool = False,
        fingerprint: Callable[[str], str] | None = None,
    ):
        self.app = app
        self.metrics = metrics
        self.headers = headers
        self.known_paths = known_paths
        self.log_raw_text = log_raw_text
        self.fingerprint = fingerprint
        self._known: set[str] | None = None

    def endpoint_of(self, scope: dict) -> str:
        """The route template (fixed label set); requests refused before routing get their path if known."""
        route = scope.get("route")
        if route is not None and getattr(route, "path", None) is not None:
            return route.path or "/"
        if self._known is None:
            try:
                self._known = self.known_paths()
            except Exception:  # noqa: BLE001 - a label is not worth failing a request over
                self._known = set()
        return scope["path"] if scope["path"] in self._known else "unmatched"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        info = RequestInfo(
            request_id_from(incoming),
            metrics=self.metrics,
            log_raw_text=self.log_raw_text,
            fingerprint=self.fingerprint,
        )
        token = bind(info)
        rid = info.request_id.encode()
        path = scope["path"]
        https = scope.get("scheme") == "https"
        state = {"status": 500, "started": False}

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid)]
                message["headers"] = self.headers.add(headers, path=path, https=https)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a clean 500
            self._log_error(exc, scope)
            if not state["started"]:
                await self._send_500(send_with_headers, info.request_id)
        except asyncio.CancelledError:  # the client went away: not a server error, and nothing to send
            if not state["started"]:
                state["status"] = CLIENT_CLOSED
            raise
        finally:
            elapsed = time.perf_counter() - started
            endpoint = self.endpoint_of(scope)
            status = state["status"]
            self.metrics.in_flight.dec()
            method = scope["method"] if scope["method"] in METHODS else "other"  # fixed label values
            self.metrics.requests.labels(endpoint, method, str(status)).inc()
            self.metrics.latency.labels(endpoint, info.mode).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": endpoint,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "mode": info.mode,
                    "client": client_hash(scope, self.fingerprint),
                },
            )
            unbind(token)

    def _log_error(self, exc: Exception, scope: dict) -> None:
        # The exception's message can quote the request (pydantic errors carry input values), so by default
        # the log gets its type and where it was raised, not its text.
        detail = (
            "".join(traceback.format_exception(exc))
            if self.log_raw_text
            else "".join(traceback.format_tb(exc.__traceback__, limit=-TRACEBACK_FRAMES))
        )
        error_log.error(
            "unhandled error",
            extra={"error_type": type(exc).__name__, "path": scope["path"], "traceback": detail},
        )

    @staticmethod
    async def _send_500(send, request_id: str) -> None:
        body = json.dumps(
            {"detail": f"internal error; please report request id {request_id}", "request_id": request_id}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
