"""Session-wide fixtures: one store of the shipped corpus, ingested in-process, and one app over it.

Ingesting and loading the model cost seconds on two cores, so every test that only reads shares these; both
run inside the test process (tests/support/inprocess.py), so the model loads once. Tests that change the
index (re-ingest, crash, pruning) build their own store under tmp_path; those that need a real process
(`run_ingest`, `ServerProcess`) are marked `e2e`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.keyfacts import open_medicine_dir
from evals.server import free_port, spawn_server, stop_server, wait_until_ready
from service.settings import Settings
from tests.support.inprocess import InProcessServer, ingest_in_process

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
OPEN_MEDICINE = open_medicine_dir()  # the `open-medicine` package, or GQA_OPEN_MEDICINE_DIR, or ../shared

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")



def _count_cores_once() -> None:
    """scikit-learn's boosted trees ask joblib for the physical core count, which runs `cat /proc/cpuinfo`
    once per process and caches it: counted here, at collection, so no fast-tier test starts that process."""
    try:
        import joblib
    except ImportError:  # the train extra is not installed: nothing fits trees
        return
    joblib.cpu_count(only_physical_cores=True)


_count_cores_once()


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
    """A real `uvicorn` serving the app on 127.0.0.1 (started as the evals start it), stopped at teardown."""

    def __init__(self, env: dict[str, str], port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        store = self.store_dir = Path(env["GQA_STORE_DIR"])
        self.log = open(store / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.proc = spawn_server(store, self.port, env, self.log)

    def wait_ready(self, path: str = "/readyz", timeout: float = 120.0, expect: int = 200) -> None:
        wait_until_ready(self.proc, self.url, timeout, self.read_log, path=path, expect=expect)

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-4000:]

    def stop(self) -> None:
        stop_server(self.proc)
        self.log.close()


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory) -> Path:
    """A store holding the shipped corpus/, ingested once per session (in-process)."""
    store = tmp_path_factory.mktemp("corpus-store")
    ingest_in_process(store, CORPUS)
    return store


@pytest.fixture(scope="session")
def server(corpus_store: Path) -> Iterator[InProcessServer]:
    """One service over the shared store for the whole session: real HTTP, served from this process."""
    srv = InProcessServer(Settings(store_dir=corpus_store, rate_limit_per_minute=0))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def base_url(server: InProcessServer) -> str:
    return server.url


@pytest.fixture(scope="session", autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """In-process apps route the root logger to stderr as JSON at their level (service/operations/
    json_logs.py); put it back at the end, so libraries logging at exit (ragas) find no closed stream."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under CI (`GQA_CI=1`, set by .ci/run) a skipped test is a failure: a missing fixture, browser or
    corpus must be installed there, never silently passed over."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("GQA_CI") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under CI (GQA_CI=1), which needs every test to run: {reason}"


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test outside `e2e` that starts a process fails: the fast tier stays in-process (run it with
    `pytest -m "not e2e"`; mark real-process tests `@pytest.mark.e2e`)."""
    if request.node.get_closest_marker("e2e") is not None:
        return
    real = subprocess.Popen.__init__

    def refuse(self, args, *a, **kw):  # noqa: ANN001 - Popen's own signature
        # `git rev-parse` for a report's commit; `fc-list`, which matplotlib runs once to build its font cache
        # on a machine without one: neither is a service or a model
        program = Path(str(args[0] if isinstance(args, list | tuple) else args).split()[0]).name
        if program in ("git", "fc-list"):
            return real(self, args, *a, **kw)
        raise AssertionError(f"{request.node.nodeid} starts a process ({args!r}) but is not marked e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
