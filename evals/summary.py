"""Run the chosen suites with progress bars, assemble the results document, print the terminal summary."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evals import gates
from evals.client import ServiceClient
from evals.corpus_text import CorpusText
from evals.data import Dataset
from evals.metrics.latency import LatencyLog
from evals.report import fmt
from evals.suites import SuiteResult, answers, keyfacts, redflag, retrieval


def run_suites(
    client: ServiceClient, datasets: dict[str, Dataset], args: argparse.Namespace, console: Console
) -> dict[str, SuiteResult]:
    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )

    def track(items: Iterable, label: str, total: int) -> Iterable:
        task = progress.add_task(label, total=total)
        for item in items:
            yield item
            progress.advance(task)

    results: dict[str, SuiteResult] = {}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()] or ["default"]
    with progress:
        if "retrieval" in datasets:
            results["retrieval"] = retrieval.run(client, datasets["retrieval"].items, modes, args.k, track)
        if "answers" in datasets:
            corpus = None if args.url and args.corpus is None else CorpusText(args.corpus)
            stream = args.stream_sample if args.stream_sample is not None else (3 if args.quick else 10)
            results["answers"] = answers.run(
                client, datasets["answers"].items, corpus, stream, use_ragas=not args.no_ragas, track=track
            )
        if "keyfacts" in datasets:
            results["keyfacts"] = keyfacts.run(client, datasets["keyfacts"].items, track)
        if "redflag" in datasets:
            results["redflag"] = redflag.run(client, datasets["redflag"].items, track)
    return results


def assemble(
    meta: dict,
    results: dict[str, SuiteResult],
    latency: LatencyLog,
    floors: list,
    ceilings: list,
    previous: dict | None,
    previous_path: Path | None,
) -> dict:
    """The results.json document: metadata, flat metrics, what did not run, thresholds, deltas, suites."""
    metrics: dict[str, float | None] = {}
    not_run: dict[str, str] = {}
    for r in results.values():
        metrics.update(r.metrics)
        not_run.update(r.not_run)
    metrics.update(latency.metrics())
    thresholds = gates.check(metrics, floors, ceilings)
    document = {
        "meta": meta,
        "metrics": metrics,
        "not_run": not_run,
        "latency": latency.summary(),
        "thresholds": thresholds,
        "passed": all(t["ok"] for t in thresholds),
        "compare": None,
        "suites": {
            name: {"metrics": r.metrics, "details": r.details, "items": r.items, "errors": r.errors}
            for name, r in results.items()
        },
    }
    if previous is not None:
        document["compare"] = {
            "previous": str(previous_path),
            "previous_meta": previous.get("meta", {}),
            "deltas": gates.deltas(metrics, previous.get("metrics", {})),
        }
    return document


def print_summary(console: Console, document: dict) -> None:
    deltas = (document.get("compare") or {}).get("deltas", {})
    limits = {t["metric"]: t for t in document["thresholds"]}
    table = Table(title="guideline-qa evaluation", show_lines=False)
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    if deltas:
        table.add_column("Δ previous", justify="right")
    table.add_column("threshold")
    for name, value in document["metrics"].items():
        row = [name, fmt(value)]
        if deltas:
            d = deltas.get(name, {})
            style = {True: "green", False: "red"}.get(d.get("better"), "")
            row.append(
                f"[{style}]{d['delta']:+.3f}[/]"
                if d.get("delta") is not None and style
                else fmt(d.get("delta"))
            )
        t = limits.get(name)
        row.append(
            ""
            if not t
            else (
                f"[green]{t['op']} {t['limit']:g} ok[/]"
                if t["ok"]
                else f"[red]{t['op']} {t['limit']:g} FAIL[/]"
            )
        )
        table.add_row(*row)
    console.print(table)
    for name, reason in document["not_run"].items():
        console.print(f"not run: {name} — {reason}", highlight=False)
    for t in document["thresholds"]:
        if not t["ok"]:
            console.print(
                f"[red]FAIL[/] {t['metric']} {t['op']} {t['limit']:g}: {t['reason']}", highlight=False
            )
    console.print("[green]PASSED[/]" if document["passed"] else "[red]FAILED[/]")
