"""Operations: what makes the service safe to run in front of clinicians, on one machine or many.

`install_operations(app, settings)` is the one call the app factory makes. Layers, outermost first:

1. request id, security headers, metrics, access log and the global error handler (request_log.py);
2. CORS for the allow-listed origins that embed the widget (Starlette's CORSMiddleware);
3. per-client rate limiting on /v1/ and /admin/ (input_limits.py);
4. the request body size limit, before the body is read (input_limits.py).

It renders every 422 safely (validation_errors.py), routes `/metrics`, and `/admin/*` when `GQA_ADMIN_TOKEN`
is set. Routes that produce answers call
`record_answer(request, response)` so modes, red flags, abstentions and fallbacks are counted and logged.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.middleware.cors import CORSMiddleware

from service.fingerprint import Fingerprinter
from service.operations.answers import record_answer
from service.operations.input_limits import BodySizeLimitMiddleware, RateLimitMiddleware
from service.operations.json_logs import configure_logging
from service.operations.metrics import Metrics
from service.operations.request_log import RequestMiddleware
from service.operations.security_headers import SecurityHeaders
from service.operations.validation_errors import validation_error
from service.settings import Settings

__all__ = ["install_operations", "record_answer"]


def _live_snapshot(app: FastAPI):
    live = getattr(app.state, "live_index", None)
    if live is None or live.reason:
        return None
    try:
        return live.current()
    except Exception:  # noqa: BLE001 - swapped out between the two reads: report "none" for this scrape
        return None


def _ready_reason(app: FastAPI) -> str | None:
    answerer = getattr(app.state, "answerer", None)
    return answerer.not_ready_reason() if answerer is not None else "service not started"


def install_operations(app: FastAPI, settings: Settings) -> Metrics:
    """Add the operations middleware and routes to `app`; call it before mounting catch-all routes."""
    from service.routes import admin
    from service.routes import metrics as metrics_route

    configure_logging(settings.log_level, settings.log_json)
    metrics = Metrics()
    metrics.watch_index(lambda: _live_snapshot(app), lambda: _ready_reason(app))
    app.state.metrics = metrics
    fingerprint = app.state.fingerprint = Fingerprinter.from_settings(settings)

    # add_middleware wraps what is there, so the last added is the outermost
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.rate_limit_per_minute > 0:
        app.add_middleware(
            RateLimitMiddleware,
            per_minute=settings.rate_limit_per_minute,
            storage_uri=settings.rate_limit_storage,
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        headers=SecurityHeaders(settings.cors_origins),
        known_paths=lambda: set(app.openapi().get("paths", {})),  # for requests refused before routing
        log_raw_text=settings.log_raw_text,
        fingerprint=fingerprint,
    )

    # Starlette types handlers as taking any Exception; this one is registered for RequestValidationError only
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.include_router(metrics_route.router)
    if settings.admin_token:
        app.include_router(admin.router)
    return metrics
