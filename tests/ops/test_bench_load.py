"""`python -m evals.bench_load` end to end, small: figures are reported, errors fail it, only loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e  # `python -m evals.bench_load` subprocesses


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evals.bench_load", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_small_run_reports_throughput_percentiles_and_zero_errors(base_url: str, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = bench("--url", base_url, "--requests", "40", "--concurrency", "4", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    load = report["load"]
    assert load["requests"] == 40 and load["errors"] == 0 and load["throughput_rps"] > 0
    assert 0 < load["latency"]["p50_ms"] <= load["latency"]["p95_ms"] <= load["latency"]["p99_ms"]
    assert set(load["by_endpoint"]) == {"/v1/ask", "/v1/retrieve"}
    assert report["middleware"]["added_us"] < 1000  # well under a millisecond per request
    assert "40 requests at concurrency 4" in proc.stdout


def test_rate_limited_requests_count_as_errors(ops_server) -> None:
    proc = bench("--url", ops_server.url, "--requests", "12", "--concurrency", "2", "--no-middleware")
    assert proc.returncode == 1
    assert "/v1/ask 429" in proc.stdout and "GQA_RATE_LIMIT_PER_MINUTE=0" in proc.stdout


def test_only_loopback_servers_are_loaded() -> None:
    proc = bench("--url", "http://example.org:8000", "--requests", "10")
    assert proc.returncode == 2 and "loopback" in proc.stderr
