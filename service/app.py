"""FastAPI app factory: builds the answering core once, wires routers; no retrieval or answering logic here.

Start-up returns at once and loads the model, the guardrail and the live index in a background thread:
`/healthz` answers immediately, `/readyz` says 503 with the reason until everything is loaded, and a service
started before any ingest becomes ready by itself when one publishes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from config import prepare_process
from service.answering import Answerer
from service.live_index import LiveIndex, NotReady
from service.operations import install_operations
from service.operations.context import current_request
from service.operations.public_errors import not_ready_body
from service.routes import ask, feedback, health, limits, retrieve, widget
from service.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _load_in_background(answerer: Answerer, live: LiveIndex) -> None:
    def load() -> None:
        try:
            answerer.warm_up()
        except Exception:  # noqa: BLE001 - readyz keeps reporting the missing part
            log.exception("loading the embedding model failed")
        live.start()

    threading.Thread(target=load, name="service-loader", daemon=True).start()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for `settings` (the environment's when None)."""
    settings = settings or get_settings()
    live = LiveIndex(settings)
    answerer = Answerer(settings, live)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _load_in_background(answerer, live)
        yield
        live.stop()

    app = FastAPI(
        title="guideline-qa",
        version="0.1.0",
        description="Answers clinicians' follow-up questions from curated guideline content; "
        "every answer sentence cites a returned passage.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.live_index = live
    app.state.answerer = answerer
    install_operations(app, settings)  # request ids, limits, headers, metrics, admin: before routes

    @app.exception_handler(NotReady)
    async def not_ready(_: Request, exc: NotReady) -> JSONResponse:
        # a category and a fixed sentence for the caller; the reason (paths, database errors) to the log
        info = current_request()
        body = not_ready_body(str(exc), info.request_id if info else None)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    for module in (health, ask, retrieve, feedback, limits, widget):
        app.include_router(module.router)
    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory service.app:app_from_env`: this process's switches, then the app.

    An invalid `GQA_*` value raises `InvalidSettings` naming it, so the server does not start.
    """
    settings = get_settings()
    prepare_process(single_threaded_blas=True)
    return create_app(settings)
