"""`make bench-load`: a bounded HTTP load test of the service on 127.0.0.1, and the middleware's own cost.

Sends `--requests` (default 2,000) requests at `--concurrency` (default 16) with httpx/asyncio: the golden
questions (in scope, follow-ups with history, out of scope, red flags) to `/v1/ask`, one in five as
`/v1/retrieve`. Reports throughput, p50/p95/p99 latency overall and per endpoint, answer modes and every
error; exits 1 on any error (the target is zero). Starts its own server over the shipped corpus (rate
limit off) unless `--url` names one, which must be a loopback address: this tool never loads anything else.

The middleware cost is measured in-process (direct ASGI calls, no network): the same trivial route with and
without `install_operations`, so the figure is what request ids, limits, headers, metrics and the access
log add to each request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np

from evals.server import ROOT, service

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS = 20_000
MAX_CONCURRENCY = 64
DEFAULT_QUESTIONS = ROOT / "evals" / "datasets" / "golden_shipped.jsonl"


def workload(questions_file: Path, n: int) -> list[tuple[str, dict]]:
    """`n` (path, body) pairs cycling through the dataset; every fifth is a retrieval."""
    rows = [json.loads(line) for line in questions_file.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"no questions in {questions_file}")
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        history = row.get("history") or []
        if i % 5 == 4:
            out.append(("/v1/retrieve", {"query": row["question"], "history": history, "k": 10}))
        else:
            out.append(("/v1/ask", {"question": row["question"], "history": history}))
    return out


async def run_load(url: str, jobs: list[tuple[str, dict]], concurrency: int, timeout: float) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    records: list[tuple[str, float, int, str]] = []  # endpoint, seconds, status, mode or error
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    path, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    r = await client.post(path, json=body)
                    mode = r.json().get("mode", "") if r.status_code == 200 and path == "/v1/ask" else ""
                    records.append((path, time.perf_counter() - started, r.status_code, mode))
                except (httpx.HTTPError, ValueError) as exc:
                    records.append((path, time.perf_counter() - started, 0, type(exc).__name__))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return summarise(records, wall, concurrency)


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {}
    ms = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(ms.max()), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def summarise(records: list, wall: float, concurrency: int) -> dict:
    errors = [r for r in records if r[2] != 200]
    by_endpoint = {}
    for endpoint in sorted({r[0] for r in records}):
        mine = [r for r in records if r[0] == endpoint]
        by_endpoint[endpoint] = {"requests": len(mine), **percentiles([r[1] for r in mine])}
    return {
        "requests": len(records),
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(records) / wall, 1) if wall else 0.0,
        "latency": percentiles([r[1] for r in records]),
        "by_endpoint": by_endpoint,
        "modes": dict(Counter(r[3] for r in records if r[0] == "/v1/ask" and r[2] == 200)),
        "errors": len(errors),
        "error_kinds": dict(Counter(f"{r[0]} {r[2] or r[3]}" for r in errors)),
    }


def middleware_overhead(rounds: int = 7, calls: int = 2000) -> dict:
    """Microseconds per request that the operations layers add, from direct ASGI calls on a trivial route."""
    import logging
    import tempfile

    from fastapi import FastAPI

    from service.operations import install_operations
    from service.settings import Settings

    def build(with_operations: bool) -> FastAPI:
        app = FastAPI()
        if with_operations:
            settings = Settings(store_dir=Path(tempfile.mkdtemp()), rate_limit_per_minute=10**6)
            install_operations(app, settings)

        @app.post("/v1/ping")
        async def ping() -> dict:
            return {"ok": True}

        return app

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/ping", "raw_path": b"/v1/ping", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"t"), (b"content-type", b"application/json"), (b"content-length", b"2")],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        pass

    async def per_call(app) -> float:
        for _ in range(100):
            await app(dict(scope), receive, send)
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    async def measure(bare, full) -> tuple[list[float], list[float]]:
        a, b = [], []
        for _ in range(rounds):
            a.append(await per_call(bare))
            b.append(await per_call(full))
        return a, b

    apps = build(False), build(True)  # building configures logging; silence it only afterwards
    root = logging.getLogger()
    handlers = root.handlers[:]
    sink = logging.FileHandler("/dev/null")  # the access log line is part of the cost, the terminal is not
    sink.setFormatter(handlers[0].formatter if handlers else None)
    try:
        root.handlers = [sink]
        bare, full = asyncio.run(measure(*apps))
    finally:
        root.handlers = handlers
        sink.close()
    return {
        "bare_us": round(min(bare), 1),
        "with_operations_us": round(min(full), 1),
        "added_us": round(min(full) - min(bare), 1),
        "added_median_us": round(statistics.median(full) - statistics.median(bare), 1),
    }


def print_report(report: dict) -> None:
    load = report["load"]
    lat = load["latency"]
    print(
        f"{load['requests']} requests at concurrency {load['concurrency']} in {load['wall_s']} s: "
        f"{load['throughput_rps']} req/s; p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
        f"p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms; errors {load['errors']}"
    )
    for endpoint, figures in load["by_endpoint"].items():
        print(
            f"  {endpoint:<14} {figures['requests']:>5} requests  p50 {figures['p50_ms']} ms  "
            f"p95 {figures['p95_ms']} ms  p99 {figures['p99_ms']} ms"
        )
    print(f"  answer modes: {load['modes']}")
    if load["errors"]:
        print(f"  errors by kind: {load['error_kinds']}")
        if any(kind.endswith(" 429") for kind in load["error_kinds"]):
            print("  (429: the server rate-limits this client; start it with GQA_RATE_LIMIT_PER_MINUTE=0)")
    if "middleware" in report:
        mw = report["middleware"]
        print(
            f"middleware (in-process, trivial route): {mw['bare_us']} us bare, {mw['with_operations_us']} us "
            f"with operations: +{mw['added_us']} us per request"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service on 127.0.0.1 (default: start one here)")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="corpus for the started server")
    parser.add_argument("--store", type=Path, help="store for the started server (default: a cached one)")
    parser.add_argument(
        "--questions", type=Path, default=DEFAULT_QUESTIONS, help="JSON lines with `question`"
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--no-middleware", action="store_true", help="skip the in-process middleware timing")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--requests must be 1..{MAX_REQUESTS} and --concurrency 1..{MAX_CONCURRENCY}")
    if args.url and urlparse(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address (127.0.0.1): this benchmark loads only local servers")

    jobs = workload(args.questions, args.requests)
    with service(args.url, args.corpus, args.store) as url:
        asyncio.run(run_load(url, jobs[: min(32, len(jobs))], args.concurrency, args.timeout))  # warm-up
        load = asyncio.run(run_load(url, jobs, args.concurrency, args.timeout))
        report: dict[str, Any] = {"url": url, "load": load}
    if not args.no_middleware:
        report["middleware"] = middleware_overhead()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["load"]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
