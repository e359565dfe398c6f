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
    """A reply that never stops arriving ends in `llm_timeout` (the whole-call deadline fired; per-read
    timeouts alone would wait for the trickle to finish and answer `llm`)."""
    body = trickle_client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_timeout", body
    assert body["citations"]


def test_condense_and_answer_share_one_deadline(trickle_client: TestClient, trickling_llm: FakeLLM) -> None:
    # not "What causes new pain after vertebroplasty?": red-flag model v5 flags it (p 0.081, a known false
    # alarm, docs/guardrails.md), and this test is about the LLM deadline, not the screen
    history = [{"role": "user", "content": "What is cement leakage after vertebroplasty?"}]
    before = len(trickling_llm.requests)
    body = trickle_client.post(
        "/v1/ask", json={"question": "and how is that confirmed?", "history": history}
    ).json()
    assert body["mode"] == "extractive" and body["fallback_reason"] == "llm_timeout", body
    # the condense call spent the request's deadline, so the answer call was never started
    assert len(trickling_llm.requests) - before == 1, trickling_llm.requests[before:]


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


@pytest.mark.e2e
def test_trickling_llm_calls_do_not_hold_up_health_or_red_flags(corpus_store: Path) -> None:
    """Twelve asks at once against a trickling LLM with four LLM slots: four wait on it until the deadline,
    the other eight answer at once with `llm_busy`, and while the four are still in flight /healthz,
    /readyz, /metrics and a red-flag question answer promptly."""
    # long enough that the probes surely land while the four calls are in flight (3 s was too short once
    # red-flag model v5 embedded clauses too: twelve screens queue on the embedder before the probes run)
    timeout_s = 6.0
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
            for path in ("/healthz", "/readyz", "/metrics"):
                assert httpx.get(server.url + path, timeout=10).status_code == 200
            flag = httpx.post(server.url + "/v1/ask", json={"question": RED_FLAG}, timeout=10).json()
            assert flag["mode"] == "red_flag"
            # answered while the four LLM-bound requests were still waiting on their deadline
            assert len(results) == 12 - slots, "the probes waited for the LLM-bound requests"
            for t in threads:
                t.join()
            assert len(results) == 12
            reasons = sorted(body.get("fallback_reason") for _, body in results)
            assert reasons == ["llm_busy"] * (12 - slots) + ["llm_timeout"] * slots, reasons
            assert all(body.get("mode") == "extractive" and body["citations"] for _, body in results)
        finally:
            server.stop()
