"""FastAPI app factory: builds the app, wires routers; no retrieval or answering logic lives here."""

from __future__ import annotations

from fastapi import FastAPI

from ingest.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for `settings` (the environment's when None)."""
    settings = settings or get_settings()
    app = FastAPI(title="guideline-qa", version="0.1.0")
    app.state.settings = settings

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory service.app:app_from_env`."""
    return create_app()
