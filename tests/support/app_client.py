"""An in-process app (FastAPI TestClient) pointed at a stand-in LLM, ready to answer."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def ready_client(store: Path, llm_base_url: str, model: str, timeout_s: float, **settings) -> TestClient:
    """A started TestClient whose /readyz is 200; the caller closes it with `__exit__`."""
    config = Settings(
        store_dir=store,
        llm_base_url=llm_base_url,
        llm_model=model,
        llm_timeout_s=timeout_s,
        rate_limit_per_minute=0,
        **settings,
    )
    client = TestClient(create_app(config))
    client.__enter__()
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.1)
    return client
