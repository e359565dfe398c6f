"""The fast tier's stand-ins for subprocesses: ingest through `ingest.pipeline.run` and the app served by
uvicorn on a thread of the test process.

Why not subprocesses: each `python -m ingest` or `python -m service.serve` imports torch and loads the
embedding model again (seconds on two cores); in-process, the session loads it once and every HTTP test
still talks to a real socket through the same uvicorn options `make run` uses (service.serve). Tests that
need a real process (SIGKILL, a second replica, the launcher itself) are marked `e2e` and use
tests.conftest.ServerProcess / run_ingest.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from evals.server import free_port
from ingest.pipeline import Result, run
from service.app import create_app
from service.operations.json_logs import JsonFormatter
from service.serve import uvicorn_options
from service.settings import Settings


def ingest_in_process(store_dir: Path, *paths: Path, **settings: Any) -> Result:
    """What `python -m ingest --quiet PATH…` does, without the process: one call of the pipeline."""
    return run(list(paths), Settings(store_dir=store_dir, **settings))


class InProcessServer:
    """The app over `settings` on 127.0.0.1, on a uvicorn daemon thread; `url` as ServerProcess has."""

    def __init__(self, settings: Settings, port: int | None = None, log_path: Path | None = None):
        """`log_path`: also write the process's log records there as the service's JSON lines (`self.log`
        is that file, as ServerProcess's is its server's output)."""
        self.settings = settings
        self.store_dir = Path(settings.store_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = {k: v for k, v in uvicorn_options(settings).items() if k != "factory"}
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", **options
        )
        self.audit_log: Path | None = settings.audit_log
        self.handler: logging.FileHandler | None = None
        if log_path is not None:
            self.handler = logging.FileHandler(log_path, encoding="utf-8")
            self.handler.setFormatter(JsonFormatter())
            logging.getLogger().addHandler(self.handler)
            self.log = self.handler.stream
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.thread.start()

    def wait_ready(self, path: str = "/readyz", timeout: float = 120.0, expect: int = 200) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise AssertionError(f"in-process server on {self.url} stopped; last answer: {last}")
            try:
                response = httpx.get(self.url + path, timeout=2)
                if response.status_code == expect:
                    return
                last = response.text[:500]
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise AssertionError(f"in-process server not ready after {timeout:.0f}s; {path} said: {last}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
