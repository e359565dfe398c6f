"""A service to evaluate: the URL given, or one started here on 127.0.0.1 over a store built from --corpus.

The store is kept between runs (ingest re-embeds only what changed, and `--prune` drops what was removed), so
a second run over the same corpus starts in seconds. The server is the same `uvicorn` entry point `make run`
uses, in a subprocess, so what is measured is what ships.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "guideline-qa" / "evals-store"


class ServerError(RuntimeError):
    """Ingest or server start failed; the message carries the tail of its output."""


def default_store(corpus: Path) -> Path:
    """One cached store per corpus folder, named so a person can tell them apart."""
    resolved = corpus.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return CACHE / f"{resolved.name}-{digest}"


def corpus_fingerprint(corpus: Path) -> str:
    """sha256 over the Markdown files' paths and bytes: which corpus text this run measured."""
    h = hashlib.sha256()
    for path in sorted(corpus.rglob("*.md")):
        h.update(str(path.relative_to(corpus)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ingest(corpus: Path, store: Path) -> None:
    store.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "--quiet", "--prune", str(corpus)],
        cwd=ROOT,
        env={**os.environ, "GQA_STORE_DIR": str(store)},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise ServerError(f"ingest of {corpus} failed ({proc.returncode}):\n{tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_server(
    store: Path, port: int, env: dict[str, str] | None = None, log=subprocess.DEVNULL, unset_prefix: str = ""
):
    """`python -m service.serve` (uvicorn with the service's limits) over `store` on 127.0.0.1:`port`, as
    `make run` serves."""
    return subprocess.Popen(
        [sys.executable, "-m", "service.serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **{k: v for k, v in os.environ.items() if not (unset_prefix and k.startswith(unset_prefix))},
            "GQA_STORE_DIR": str(store),
            "GQA_RATE_LIMIT_PER_MINUTE": "0",
            **(env or {}),
        },
    )  # fmt: skip


def wait_until_ready(proc: subprocess.Popen, url: str, timeout: float, log_tail=lambda: "",
                     path: str = "/readyz", expect: int = 200) -> None:
    """Poll `url + path` until it answers `expect`; ServerError with the log tail if the process dies or
    the deadline passes."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if proc.poll() is not None:
            raise ServerError(f"server exited with {proc.returncode}: {log_tail()}")
        try:
            ready = httpx.get(url + path, timeout=2)
            if ready.status_code == expect:
                return
            last = ready.text[:500]
        except httpx.HTTPError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise ServerError(f"server not ready after {timeout:.0f}s; {path} said: {last}\n{log_tail()}")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def started_server(store: Path, timeout: float = 120.0, env: dict[str, str] | None = None) -> Iterator[str]:
    """uvicorn over `store` on a free 127.0.0.1 port; yields its URL and stops it afterwards."""
    port = free_port()
    log_path = store / f"evals-server-{port}.log"
    with open(log_path, "w") as log:
        proc = spawn_server(store, port, env, log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(proc, url, timeout, lambda: log_path.read_text()[-2000:])
            yield url
        finally:
            stop_server(proc)


@contextmanager
def service(url: str | None, corpus: Path, store: Path | None) -> Iterator[str]:
    """The URL to evaluate: `url` as given, else a fresh server over `corpus` ingested into `store`."""
    if url:
        yield url
        return
    store = store or default_store(corpus)
    ingest(corpus, store)
    with started_server(store) as started:
        yield started
