"""Prometheus metrics (prometheus-client), one registry per app so several apps in one process never clash.

What is counted and why (docs/operations.md has the operator's view):
* requests and latency by endpoint (the route template, so cardinality stays fixed) and answer mode;
* answers by mode, red flags by category, abstentions and LLM fallbacks by reason code: the safety signals;
* the live index generation, read at scrape time from the live index, so it is never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

disable_created_metrics()  # the `_created` series double the output and no dashboard reads them

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServedIndex(Protocol):
    """What the collector reads of a loaded generation (service.index.Snapshot has these)."""

    @property
    def generation(self) -> str: ...

    @property
    def corpus_version(self) -> str | None: ...

    @property
    def size(self) -> int: ...


class IndexCollector(Collector):
    """Reads the live index when Prometheus scrapes: generation number, passages, readiness."""

    def __init__(self, snapshot: Callable[[], ServedIndex | None], ready_reason: Callable[[], str | None]):
        self._snapshot = snapshot
        self._ready_reason = ready_reason

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ready = GaugeMetricFamily("gqa_ready", "1 when the model, guardrail and an index are loaded")
        ready.add_metric([], 0.0 if self._ready_reason() else 1.0)
        yield ready
        snapshot = self._snapshot()
        generation = GaugeMetricFamily(
            "gqa_index_generation", "number of the index generation being served (g000012 -> 12; 0 = none)"
        )
        info = GaugeMetricFamily(
            "gqa_index_info", "the index generation being served", labels=["generation", "corpus_version"]
        )
        passages = GaugeMetricFamily("gqa_index_passages", "passages in the served generation")
        if snapshot is None:
            generation.add_metric([], 0.0)
            passages.add_metric([], 0.0)
        else:
            digits = "".join(ch for ch in str(snapshot.generation) if ch.isdigit())
            generation.add_metric([], float(digits or 0))
            info.add_metric([str(snapshot.generation), str(snapshot.corpus_version or "")], 1.0)
            passages.add_metric([], float(snapshot.size))
        yield generation
        yield info
        yield passages


class Metrics:
    """Every metric the service exports, registered on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gqa_http_requests",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gqa_http_request_duration_seconds",
            "time from request start to the response's first byte, by endpoint and answer mode",
            ["endpoint", "mode"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("gqa_http_requests_in_flight", "requests being served", registry=r)
        self.answers = Counter("gqa_answers", "answers by mode", ["mode"], registry=r)
        self.red_flags = Counter("gqa_red_flags", "red-flag answers by category", ["category"], registry=r)
        self.abstentions = Counter("gqa_abstentions", "questions the corpus does not cover", registry=r)
        self.llm_fallbacks = Counter(
            "gqa_llm_fallbacks",
            "LLM answers replaced by the extractive one, by reason code",
            ["reason"],
            registry=r,
        )

    def watch_index(self, snapshot: Callable[[], ServedIndex | None], ready_reason: Callable[[], str | None]):
        """Export the served generation; `snapshot()` returns the live Snapshot or None."""
        self.registry.register(IndexCollector(snapshot, ready_reason))

    def observe_answer(self, response) -> None:
        """Count one AskResponse: its mode, and the red flag, abstention or fallback it carries."""
        self.answers.labels(response.mode).inc()
        if response.red_flag is not None:
            self.red_flags.labels(response.red_flag.category).inc()
        if response.mode == "abstain":
            self.abstentions.inc()
        if response.fallback_reason:
            self.llm_fallbacks.labels(fallback_code(response.fallback_reason)).inc()


def fallback_code(reason: str) -> str:
    """`llm_timeout: read timed out after 2s` -> `llm_timeout`: a fixed set of label values, not free text."""
    code = reason.split(":", 1)[0].strip()
    return code if code.replace("_", "").isalnum() and len(code) <= 40 else "other"
