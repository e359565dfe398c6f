"""Faults while serving, over real processes: re-ingest, SIGKILL mid-ingest, a deleted store, a hanging LLM.

The first three share one server and one store, in order; each starts from whatever generation is live.
Every request sent while a fault is under way is recorded, and the assertion is on all of them: the contract
is zero failed requests during a switch, and a clear 503 (never a 500) while there is no index.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CORPUS, ROOT, ServerProcess, run_ingest
from tests.ops.conftest import ADMIN_TOKEN
from tests.support.fake_llm import FakeLLM

pytestmark = pytest.mark.e2e  # real servers, real ingests, SIGKILL and a Chroma server

QUESTION = "How often does cement leak after vertebroplasty, and is it usually symptomatic?"
FIRST_DOCS = (
    "vertebroplasty_increased_pain_2025.md",
    "pulmonary_cement_embolism_after_vertebral_augmentation.md",
)
ADDED_DOC = "kyphoplasty_vs_vertebroplasty.md"


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not met within {timeout:.0f}s")


def readyz(url: str) -> httpx.Response:
    return httpx.get(url + "/readyz", timeout=10)


def generation(url: str) -> str | None:
    r = readyz(url)
    return r.json()["index_version"] if r.status_code == 200 else None


class RequestLoop:
    """Asks and retrieves back to back in a thread, recording (status, index_version) for every request."""

    def __init__(self, url: str):
        self.url = url
        self.results: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                for path, body in (
                    ("/v1/ask", {"question": QUESTION}),
                    ("/v1/retrieve", {"query": QUESTION}),
                ):
                    try:
                        r = client.post(path, json=body)
                        version = r.json().get("index_version") if r.status_code == 200 else None
                        self.results.append((r.status_code, version))
                    except httpx.HTTPError as exc:
                        self.results.append((0, repr(exc)))

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    @property
    def failures(self) -> list:
        return [r for r in self.results if r[0] != 200]

    @property
    def versions(self) -> set:
        return {v for status, v in self.results if status == 200}


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[ServerProcess, Path, Path]]:
    """A server over its own store of two documents; the tests below change that store under it."""
    root = tmp_path_factory.mktemp("faults")
    corpus, store = root / "corpus", root / "store"
    corpus.mkdir()
    for name in FIRST_DOCS:
        shutil.copy(CORPUS / name, corpus / name)
    run_ingest(store, corpus)
    server = ServerProcess(
        {"GQA_STORE_DIR": str(store), "GQA_RATE_LIMIT_PER_MINUTE": "0", "GQA_ADMIN_TOKEN": ADMIN_TOKEN}
    )
    try:
        server.wait_ready()
        yield server, store, corpus
    finally:
        server.stop()


def test_reingest_while_serving_switches_generation_without_a_failed_request(live) -> None:
    server, store, corpus = live
    before = generation(server.url)
    shutil.copy(CORPUS / ADDED_DOC, corpus / ADDED_DOC)
    with RequestLoop(server.url) as loop:
        time.sleep(1.0)
        run_ingest(store, corpus)
        reload = httpx.post(
            server.url + "/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )
        assert reload.status_code == 200, reload.text
        after = reload.json()["index_version"]  # live at once, whether the reload or the watcher swapped it
        assert after and after != before
        seen_before_switch = len(loop.results)
        wait_for(lambda: len(loop.results) > seen_before_switch + 4, what="requests after the switch")
    assert len(loop.results) >= 10 and loop.failures == []
    assert loop.versions == {before, after}
    assert loop.results[-1][1] == after
    answer = httpx.post(
        server.url + "/v1/ask", json={"question": "kyphoplasty versus vertebroplasty"}, timeout=60
    )
    assert any(c["doc_id"] == ADDED_DOC[:-3] for c in answer.json()["citations"])


def synthetic_documents(folder: Path, n: int) -> None:
    """Enough text that embedding it takes several seconds, so the kill lands mid-ingest."""
    folder.mkdir(parents=True)
    for i in range(n):
        sections = "\n\n".join(
            f"## Section {s}\n"
            + " ".join(
                f"Finding {i}-{s}-{k} concerns vertebral level T{k + 1} and follow-up week {s}."
                for k in range(6)
            )
            for s in range(6)
        )
        (folder / f"synthetic_{i}.md").write_text(
            f"---\nid: synthetic_{i}\ntitle: Synthetic {i}\ntype: guideline\norganisation: Test\nyear: 2024\n"
            f"source: Test {i}\n---\n# Synthetic {i}\n\n{sections}\n"
        )


def test_sigkill_during_ingest_keeps_serving_the_live_generation(live, tmp_path: Path) -> None:
    server, store, corpus = live
    before = generation(server.url)
    big = tmp_path / "big"
    shutil.copytree(corpus, big / "current")
    synthetic_documents(big / "synthetic", 120)
    with RequestLoop(server.url) as loop:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--quiet", str(big)],
            cwd=ROOT,
            env={**os.environ, "GQA_STORE_DIR": str(store), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout.readline().startswith("plan:")  # printed just before embedding starts
        time.sleep(2.0)
        assert proc.poll() is None, "ingest finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(3.5)  # two watcher polls: nothing new may go live
    assert loop.failures == [] and len(loop.results) >= 4
    assert loop.versions == {before}
    assert generation(server.url) == before


def test_deleted_store_is_503_with_a_reason_then_recovers_after_an_ingest(live) -> None:
    server, store, corpus = live
    shutil.rmtree(store / "chroma")
    reason = wait_for(
        lambda: (r := readyz(server.url)).status_code == 503 and r.json()["reason"], what="readyz 503"
    )
    assert "ingest" in reason
    ask = httpx.post(server.url + "/v1/ask", json={"question": QUESTION}, timeout=30)
    assert ask.status_code == 503 and "not ready" in ask.json()["detail"] and "ingest" in ask.json()["detail"]
    assert ask.headers["retry-after"]
    assert ask.json()["category"] == "store_missing" and str(store) not in ask.text  # no paths to callers
    assert str(store) not in readyz(server.url).text
    assert httpx.post(server.url + "/v1/retrieve", json={"query": QUESTION}, timeout=30).status_code == 503

    run_ingest(store, corpus)
    recovered = wait_for(lambda: generation(server.url), what="recovery without restart")
    again = httpx.post(server.url + "/v1/ask", json={"question": QUESTION}, timeout=30)
    assert again.status_code == 200 and again.json()["index_version"] == recovered


def test_hanging_llm_falls_back_to_extractive_within_the_timeout(corpus_store: Path) -> None:
    timeout_s = 5.0  # long enough that the readiness probe surely lands while the calls hang
    with FakeLLM() as llm:
        server = ServerProcess(
            {
                "GQA_STORE_DIR": str(corpus_store),
                "GQA_RATE_LIMIT_PER_MINUTE": "0",
                "GQA_LLM_BASE_URL": llm.base_url,
                "GQA_LLM_MODEL": "hang",
                "GQA_LLM_TIMEOUT_S": str(timeout_s),
            }
        )
        try:
            server.wait_ready()
            results: list[tuple[float, dict]] = []

            def one() -> None:
                started = time.monotonic()
                r = httpx.post(server.url + "/v1/ask", json={"question": QUESTION}, timeout=30)
                results.append(
                    (
                        time.monotonic() - started,
                        r.json() if r.status_code == 200 else {"status": r.status_code},
                    )
                )

            threads = [threading.Thread(target=one) for _ in range(3)]
            for t in threads:
                t.start()
            wait_for(lambda: len(llm.requests) >= 3, what="three LLM calls in flight")
            assert readyz(server.url).status_code == 200  # hung LLM calls do not block the server
            assert len(results) < 3, "the probe answered only after every hung call gave up"
            for t in threads:
                t.join()
            assert len(results) == 3
            for _, body in results:  # how long the fallback takes is measured by `make bench`, not here
                assert body.get("mode") == "extractive", body
                assert body["fallback_reason"].startswith("llm_timeout") and body["citations"]
            metrics = httpx.get(server.url + "/metrics").text
            assert 'gqa_llm_fallbacks_total{reason="llm_timeout"} 3.0' in metrics
        finally:
            server.stop()


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI is installed with chromadb"
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200,
        timeout=60,
        what="chroma heartbeat",
    )
    return proc


def test_two_replicas_share_one_chroma_server(tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    chroma_url = f"http://127.0.0.1:{port}"
    chroma = start_chroma(tmp_path / "chroma-data", port)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in FIRST_DOCS:
        shutil.copy(CORPUS / name, corpus / name)
    env = {"GQA_CHROMA_URL": chroma_url}
    replicas: list[ServerProcess] = []
    try:
        run_ingest(tmp_path / "ingest-local", corpus, env=env)
        for i in range(2):
            local = tmp_path / f"replica-{i}"
            local.mkdir()
            replicas.append(
                ServerProcess({**env, "GQA_STORE_DIR": str(local), "GQA_RATE_LIMIT_PER_MINUTE": "0"})
            )
        for replica in replicas:
            replica.wait_ready()
        first = {generation(r.url) for r in replicas}
        assert len(first) == 1 and None not in first
        answers = [
            httpx.post(r.url + "/v1/ask", json={"question": QUESTION}, timeout=60).json() for r in replicas
        ]
        assert answers[0]["answer"] == answers[1]["answer"] and answers[0]["index_version"] in first
        assert not any((tmp_path / f"replica-{i}" / "chroma").exists() for i in range(2))

        shutil.copy(CORPUS / ADDED_DOC, corpus / ADDED_DOC)
        run_ingest(tmp_path / "ingest-local", corpus, env=env)
        second = wait_for(
            lambda: len(gens := {generation(r.url) for r in replicas}) == 1 and gens != first and gens,
            what="both replicas on the new generation",
        )
        assert None not in second

        chroma.terminate()
        chroma.wait(timeout=20)
        for replica in replicas:
            body = wait_for(lambda r=replica: (x := readyz(r.url)).status_code == 503 and x.json())
            assert body["category"] == "store_unreachable" and chroma_url not in body["reason"]
            assert chroma_url in replica.read_log()  # the operator finds the server's address in the log
            assert (
                httpx.post(replica.url + "/v1/ask", json={"question": QUESTION}, timeout=30).status_code
                == 503
            )
        chroma = start_chroma(tmp_path / "chroma-data", port)
        for replica in replicas:
            assert wait_for(lambda r=replica: generation(r.url), what="replica recovers") in second
    finally:
        for replica in replicas:
            replica.stop()
        chroma.terminate()
        chroma.wait(timeout=20)
