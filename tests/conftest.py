"""Session-wide fixtures: one ingested store of the shipped corpus and one real uvicorn server over it.

Ingesting and loading the model cost seconds on two cores, so every test that only reads shares these.
Tests that change the index (re-ingest, crash, pruning) build their own store under tmp_path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
OPEN_MEDICINE = ROOT.parent / "shared" / "corpora" / "open-medicine" / "content"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ingest(
    store_dir: Path, *paths: Path, extra: tuple[str, ...] = (), env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """`python -m ingest` in a subprocess, exactly as the content team runs it."""
    full_env = {**os.environ, "GQA_STORE_DIR": str(store_dir), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "--quiet", *map(str, paths), *extra],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ingest failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


class ServerProcess:
    """A real `uvicorn` serving the app on 127.0.0.1, stopped at teardown."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(env.get("GQA_STORE_DIR", ".")) / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "service.app:app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str = "/readyz", timeout: float = 120.0, expect: int = 200) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.read_log()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == expect:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not ready after {timeout}s: {self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory) -> Path:
    """A store holding the shipped corpus/, ingested once per session."""
    store = tmp_path_factory.mktemp("corpus-store")
    run_ingest(store, CORPUS)
    return store


@pytest.fixture(scope="session")
def server(corpus_store: Path) -> Iterator[ServerProcess]:
    """One real service over the shared store for the whole session."""
    srv = ServerProcess({"GQA_STORE_DIR": str(corpus_store), "GQA_RATE_LIMIT_PER_MINUTE": "0"})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    return server.url
