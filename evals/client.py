"""The service as evaluators see it: its public HTTP endpoints, timed, and nothing else.

Going through HTTP (not the Python functions) is the point: the numbers then include routing, validation,
serialisation and the guardrail exactly as a clinician's request meets them. A request that fails is kept
as a result with its error, so one bad answer shows up in the report instead of aborting the run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import httpx

from evals.metrics.latency import LatencyLog

MAX_RATE_LIMIT_WAITS = 5


class ServiceUnavailable(RuntimeError):
    """The URL does not answer /healthz; the message says what to check."""


@dataclass
class Call:
    """One request's outcome: the parsed body (or None), HTTP status and error text, and milliseconds."""

    body: dict | None
    status: int
    ms: float
    error: str | None = None
    extra: dict = field(default_factory=dict)


class ServiceClient:
    """Timed calls to /v1/retrieve, /v1/ask and /v1/ask/stream, latencies recorded per endpoint and mode."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.latency = LatencyLog()

    def close(self) -> None:
        self.http.close()

    def check(self) -> dict:
        """Fail fast with a clear message when nothing listens; return /readyz's body for the run metadata."""
        try:
            self.http.get("/healthz").raise_for_status()
            ready = self.http.get("/readyz")
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"no guideline-qa service at {self.base_url} ({exc}); start one with `make run`, "
                "or leave out --url so the evals start their own over --corpus"
            ) from exc
        try:
            body = ready.json()
        except ValueError:
            body = {"text": ready.text[:200]}
        if ready.status_code != 200:
            raise ServiceUnavailable(f"{self.base_url}/readyz answered {ready.status_code}: {body}")
        return body if isinstance(body, dict) else {"readyz": body}

    def _post(self, path: str, payload: dict) -> Call:
        for _ in range(MAX_RATE_LIMIT_WAITS + 1):
            start = time.perf_counter()
            try:
                resp = self.http.post(path, json=payload)
            except httpx.HTTPError as exc:
                elapsed = (time.perf_counter() - start) * 1000
                return Call(None, 0, elapsed, error=f"{type(exc).__name__}: {exc}")
            ms = (time.perf_counter() - start) * 1000
            if resp.status_code != 429:
                break
            # a running service's rate limit is not a quality problem: wait as told, then measure again
            time.sleep(min(float(resp.headers.get("Retry-After", "1") or 1), 60.0))
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict):
            return Call(None, resp.status_code, ms, error=f"HTTP {resp.status_code}: {resp.text[:300]}")
        return Call(body, resp.status_code, ms)

    def retrieve(self, query: str, k: int = 10, mode: str | None = None,
                 history: list[dict] | None = None) -> Call:
        payload: dict = {"query": query, "k": k}
        if mode:
            payload["mode"] = mode
        if history:
            payload["history"] = history
        call = self._post("/v1/retrieve", payload)
        if call.body is not None:
            self.latency.add("retrieve", mode or "default", call.ms)
        return call

    def ask(self, question: str, history: list[dict] | None = None) -> Call:
        payload: dict = {"question": question}
        if history:
            payload["history"] = history
        call = self._post("/v1/ask", payload)
        if call.body is not None:
            self.latency.add("ask", str(call.body.get("mode")), call.ms)
        return call

    def ask_stream(self, question: str, history: list[dict] | None = None) -> Call:
        """Time to the first server-sent event and to the end of the stream (what the widget shows)."""
        payload: dict = {"question": question}
        if history:
            payload["history"] = history
        start = time.perf_counter()
        first: float | None = None
        events = 0
        last_data = None
        try:
            with self.http.stream("POST", "/v1/ask/stream", json=payload) as resp:
                if resp.status_code != 200:
                    resp.read()
                    ms = (time.perf_counter() - start) * 1000
                    error = f"HTTP {resp.status_code}: {resp.text[:300]}"
                    return Call(None, resp.status_code, ms, error=error)
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        events += 1
                        first = first if first is not None else time.perf_counter()
                        last_data = line[5:].strip()
        except httpx.HTTPError as exc:
            return Call(None, 0, (time.perf_counter() - start) * 1000, error=f"{type(exc).__name__}: {exc}")
        ms = (time.perf_counter() - start) * 1000
        first_ms = ((first or time.perf_counter()) - start) * 1000
        try:
            final = json.loads(last_data) if last_data else None
        except ValueError:
            final = None
        mode = final.get("mode") if isinstance(final, dict) and final.get("mode") else "stream"
        self.latency.add("ask_stream", str(mode), ms)
        self.latency.add("ask_stream_first_event", str(mode), first_ms)
        return Call(
            final if isinstance(final, dict) else {},
            200,
            ms,
            extra={"first_event_ms": first_ms, "events": events},
        )
