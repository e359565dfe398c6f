"""Issue 12, item 2: `GQA_LLM_TIMEOUT_S` is one wall-clock deadline per request, and LLM calls cannot starve
the rest of the service.

The stand-in server's ``trickle`` model sends a valid reply one byte every 0.2 s: every read succeeds long
before any per-read timeout, so only a deadline on the whole call stops it. A real uvicorn process serves
the concurrency test, so the thread pool that /healthz and red-flag answers share is the production one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ServerProcess
from tests.support.app_client import ready_client
from tests.support.fake_llm import FakeLLM

TIMEOUT_S = 1.0
MARGIN_S = 0.75  # retrieval and the extractive answer on a busy two-core machine
QUESTION = "How often does cement leak after vertebroplasty, and does it cause symptoms?"
RED_FLAG = "new leg weakness since this morning after kyphoplasty"
CATEGORIES = {"llm_timeout", "llm_error", "llm_unreachable", "llm_busy", "llm_unsupported"}


@pytest.fixture(scope="module")
def trickling_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def trickle_client(corpus_store: Path, trickling_llm: FakeLLM) -> Iterator[TestClient]:
    client = ready_client(corpus_store, trickling_llm.base_url, "trickle", timeout_s=TIMEOUT_S)
    yield client
    client.__exit__(None, None, None)


def test_a_trickling_llm_falls_back_within_the_deadline(trickle_client: TestClient) -> None:
    started = time.monotonic()
    body = trickle_client.post("/v1/ask", json={"question": QUESTION}).json()
    elapsed = time.monotonic() - started
    assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_timeout", body
    assert body["citations"]
    assert elapsed < TIMEOUT_S + MARGIN_S, elapsed


def test_condense_and_answer_share_one_deadline(trickle_client: TestClient) -> None:
    history = [{"role": "user", "content": "What causes new pain after vertebroplasty?"}]
    started = time.monotonic()
    body = trickle_client.post(
        "/v1/ask", json={"question": "and how is that confirmed?", "history": history}
    ).json()
    elapsed = time.monotonic() - started
    assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_timeout", body
    assert elapsed < TIMEOUT_S + MARGIN_S, elapsed


def test_fallback_reason_is_a_category_not_exception_text(corpus_store: Path) -> None:
    """An unreachable endpoint: the reason is `llm_unreachable`, with no URL, port or exception text."""
    with FakeLLM() as llm:
        dead_url = llm.base_url  # closed below: nothing listens on this port any more
    client = ready_client(corpus_store, dead_url, "good", timeout_s=TIMEOUT_S)
    try:
        body = client.post("/v1/ask", json={"question": QUESTION}).json()
    finally:
        client.__exit__(None, None, None)
    assert body["mode"] == "extractive"
    assert body["fallback_reason"] == "llm_unreachable", body["fallback_reason"]


def test_trickling_llm_calls_do_not_hold_up_health_or_red_flags(corpus_store: Path) -> None:
    """Twelve asks at once against a trickling LLM with four LLM slots: four wait on it until the deadline,
    the other eight answer at once with `llm_busy`, and while the four are still in flight /healthz,
    /readyz, /metrics and a red-flag question answer promptly."""
    timeout_s = 3.0  # long enough that the probes surely land while the four calls are in flight
    slots = 4
    with FakeLLM() as llm:
        server = ServerProcess(
            {
                "GQA_STORE_DIR": str(corpus_store),
                "GQA_RATE_LIMIT_PER_MINUTE": "0",
                "GQA_LLM_BASE_URL": llm.base_url,
                "GQA_LLM_MODEL": "trickle",
                "GQA_LLM_TIMEOUT_S": str(timeout_s),
                "GQA_LLM_MAX_CONCURRENCY": str(slots),
            }
        )
        try:
            server.wait_ready()
            results: list[tuple[float, dict]] = []  # (when the answer came back, its body)

            def one() -> None:
                r = httpx.post(server.url + "/v1/ask", json={"question": QUESTION}, timeout=30)
                results.append((time.monotonic(), r.json() if r.status_code == 200 else {}))

            threads = [threading.Thread(target=one) for _ in range(12)]
            for t in threads:
                t.start()
            until = time.monotonic() + 20
            while len(llm.requests) < slots or len(results) < 12 - slots:  # busy ones done, four waiting
                assert time.monotonic() < until, (len(llm.requests), len(results))
                time.sleep(0.02)
            assert len(results) == 12 - slots, "the LLM-bound requests ended before the probes"
            probes: dict[str, float] = {}
            for path in ("/healthz", "/readyz", "/metrics"):
                started = time.monotonic()
                assert httpx.get(server.url + path, timeout=10).status_code == 200
                probes[path] = time.monotonic() - started
            started = time.monotonic()
            flag = httpx.post(server.url + "/v1/ask", json={"question": RED_FLAG}, timeout=10).json()
            probes["red flag"] = time.monotonic() - started
            assert flag["mode"] == "red_flag"
            for t in threads:
                t.join()
            assert all(elapsed < 0.5 for elapsed in probes.values()), probes
            assert len(results) == 12
            reasons = sorted(body.get("fallback_reason") for _, body in results)
            assert reasons == ["llm_busy"] * (12 - slots) + ["llm_timeout"] * slots, reasons
            assert all(body.get("mode") == "extractive" and body["citations"] for _, body in results)
            # Each LLM-bound answer came back within the deadline of its call reaching the LLM (plus the
            # extractive answer): the trickle would otherwise hold it for about 80 s.
            ended = sorted(at for at, body in results if body["fallback_reason"] == "llm_timeout")
            for arrived, at in zip(sorted(llm.arrivals), ended, strict=True):
                assert at - arrived < timeout_s + MARGIN_S, at - arrived
        finally:
            server.stop()
