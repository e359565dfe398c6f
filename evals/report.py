"""Write a run's reports: results.json (everything), report.md and a self-contained report.html.

The HTML has its figures embedded as base64 PNG and its style inline, so it is one file that opens anywhere
without the run folder. report.md carries the same tables for diffs in review, without the figures.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from evals import plots

LIST_LIMIT = 200


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _suite_of(name: str) -> str:
    head = name.split(".", 1)[0]
    return head.split("@", 1)[0]


def _tables(results: dict) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) in report order; shared by the Markdown and the HTML writer."""
    tables = []
    tables.append(
        (
            "Metrics",
            ["metric", "value"],
            [[k, fmt(v)] for k, v in results["metrics"].items() if not k.startswith("latency.")],
        )
    )
    if results["not_run"]:
        tables.append(("Not run", ["metric", "reason"], [[k, v] for k, v in results["not_run"].items()]))
    if results["thresholds"]:
        tables.append(
            (
                "Thresholds",
                ["metric", "rule", "value", "verdict"],
                [
                    [
                        t["metric"],
                        f"{t['op']} {t['limit']:g}",
                        fmt(t["value"]),
                        "ok" if t["ok"] else f"FAIL {t['reason']}",
                    ]
                    for t in results["thresholds"]
                ],
            )
        )
    if results["latency"]:
        tables.append(
            (
                "Latency (ms)",
                ["endpoint/mode", "n", "p50", "p95", "max"],
                [
                    [k, v["n"], fmt(v["p50_ms"]), fmt(v["p95_ms"]), fmt(v["max_ms"])]
                    for k, v in results["latency"].items()
                ],
            )
        )
    compare = results.get("compare")
    if compare:
        changed = {
            k: d for k, d in compare["deltas"].items() if d["delta"] is None or abs(d["delta"]) > 1e-12
        }
        tables.append(
            (
                f"Against {compare['previous']}",
                ["metric", "before", "after", "delta", ""],
                [
                    [
                        k,
                        fmt(d["before"]),
                        fmt(d["after"]),
                        fmt(d["delta"]),
                        {True: "better", False: "worse", None: ""}[d["better"]],
                    ]
                    for k, d in changed.items()
                ],
            )
        )
    guard = results["suites"].get("redflag", {}).get("details")
    if guard:
        tables.append(
            (
                "Guardrail per category",
                ["category", "tp", "fn", "fp", "tn", "recall", "category match"],
                [
                    [name, r["tp"], r["fn"], r["fp"], r["tn"], fmt(r["recall"]), fmt(r["category_match"])]
                    for name, r in guard["categories"].items()
                ],
            )
        )
        tables.append(
            (
                f"Guardrail misses ({len(guard['misses'])}, every one)",
                ["id", "type", "category", "kind", "split", "text"],
                [
                    [m["id"], m["type"], m["category"] or "—", m["kind"], m["split"], m["text"]]
                    for m in guard["misses"]
                ],
            )
        )
    answers = results["suites"].get("answers", {}).get("details")
    if answers and answers.get("wrong_mode"):
        tables.append(
            (
                "Answers in the wrong mode",
                ["id", "expected", "got", "question"],
                [
                    [r["id"], r["expected_mode"], r["mode"] or "error", r["question"]]
                    for r in answers["wrong_mode"]
                ],
            )
        )
    if answers and answers.get("uncited_or_unsupported"):
        tables.append(
            (
                "Answers with uncited or unsupported sentences",
                ["id", "cited", "supported", "resolved"],
                [
                    [r["id"], fmt(r["sentences_cited"]), fmt(r["supported"]), fmt(r["resolved"])]
                    for r in answers["uncited_or_unsupported"][:LIST_LIMIT]
                ],
            )
        )
    retrieval = results["suites"].get("retrieval", {}).get("details")
    if retrieval and retrieval.get("misses"):
        tables.append(
            (
                "Retrieval: reference section not in the top 5",
                ["id", "mode", "section rank", "question", "wanted", "got (top 3)"],
                [
                    [
                        r["id"],
                        r["mode"],
                        r["section_rank"] or "> 10",
                        r["question"],
                        "; ".join(r["targets"]),
                        "; ".join(r["top"]),
                    ]
                    for r in retrieval["misses"][:LIST_LIMIT]
                ],
            )
        )
    for suite, body in results["suites"].items():
        if body.get("errors"):
            tables.append(
                (
                    f"Request errors in {suite}",
                    ["id", "error"],
                    [[e["id"], e["error"]] for e in body["errors"][:LIST_LIMIT]],
                )
            )
    return tables


def _meta_rows(meta: dict) -> list[tuple[str, str]]:
    rows = [
        (k, meta[k])
        for k in (
            "started",
            "duration_s",
            "git_commit",
            "url",
            "corpus",
            "corpus_version",
            "corpus_fingerprint",
            "index_versions",
            "suites",
        )
        if k in meta
    ]
    rows += [
        (f"dataset {name}", f"{d['path']} (n={d['n']}, sha256 {d['sha256'][:12]})")
        for name, d in meta.get("datasets", {}).items()
    ]
    return [(k, json.dumps(v) if isinstance(v, list | dict) else str(v)) for k, v in rows]


def markdown(results: dict) -> str:
    lines = ["# guideline-qa evaluation", ""]
    verdict = "PASSED" if results["passed"] else "FAILED"
    lines += [f"**{verdict}** — figures are in report.html.", ""]
    lines += ["| run | |", "| --- | --- |"] + [f"| {k} | {_md(v)} |" for k, v in _meta_rows(results["meta"])]
    for title, header, rows in _tables(results):
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _md(cell) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f2f2f2}.pass{color:#228833}.fail{color:#cc3311}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}h2{margin-top:1.6em}"""


def _figures(results: dict, latency_samples: dict[str, list[float]]) -> list[tuple[str, bytes]]:
    figures = []
    by_suite: dict[str, dict] = {}
    for name, value in results["metrics"].items():
        if not name.startswith("retrieval@"):  # other modes are drawn side by side in "Retrieval by mode"
            by_suite.setdefault(_suite_of(name), {})[name] = value
    for suite, metrics in by_suite.items():
        if suite != "latency" and (png := plots.metric_bars(f"{suite} metrics", metrics)):
            figures.append((f"{suite} metrics", png))
    modes = results["suites"].get("retrieval", {}).get("details", {}).get("modes", {})
    if png := plots.mode_comparison(modes):
        figures.append(("Retrieval by mode", png))
    if png := plots.latency_histogram(latency_samples):
        figures.append(("Latency histogram", png))
    redflag = results["suites"].get("redflag")
    if redflag and (png := plots.confusion_matrix(redflag["items"])):
        figures.append(("Guardrail confusion matrix", png))
    compare = results.get("compare")
    if compare and (png := plots.delta_bars(compare["deltas"])):
        figures.append(("Deltas against the previous run", png))
    return figures


def html_report(results: dict, latency_samples: dict[str, list[float]]) -> str:
    esc = html.escape
    verdict = "PASSED" if results["passed"] else "FAILED"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>guideline-qa evaluation</title>"
        f"<style>{CSS}</style></head><body><h1>guideline-qa evaluation</h1>",
        f"<p class='{'pass' if results['passed'] else 'fail'}'><b>{verdict}</b></p><table>",
    ]
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _meta_rows(results["meta"])]
    parts.append("</table>")
    for title, png in _figures(results, latency_samples):
        data = base64.b64encode(png).decode()
        parts.append(f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'>")
    for title, header, rows in _tables(results):
        parts.append(
            f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
        )
        parts += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(out: Path, results: dict, latency_samples: dict[str, list[float]]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    paths["md"].write_text(markdown(results))
    paths["html"].write_text(html_report(results, latency_samples))
    return paths
