"""Floors, ceilings and comparisons: what turns a run into an exit code and a list of regressions.

A floor on a metric that was not computed fails: a suite that silently stopped measuring must not pass CI.
"""

from __future__ import annotations

import json
from pathlib import Path

LOWER_IS_BETTER = ("latency.", "false_alarm", "error_rate")


def lower_is_better(name: str) -> bool:
    return any(part in name for part in LOWER_IS_BETTER)


def parse_threshold(text: str) -> tuple[str, float]:
    """ "retrieval.section.hit@5=0.6" → ("retrieval.section.hit@5", 0.6); a clear error otherwise."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise ValueError(f"expected METRIC=VALUE, got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {value!r} is not a number") from exc


def check(
    metrics: dict[str, float | None], floors: list[tuple[str, float]], ceilings: list[tuple[str, float]]
) -> list[dict]:
    """One row per threshold with its verdict; `ok` is False for a missing metric too."""
    rows = []
    for op, limits in ((">=", floors), ("<=", ceilings)):
        for name, limit in limits:
            value = metrics.get(name)
            if value is None:
                reason = "not computed in this run" if name in metrics else "no such metric in this run"
                rows.append(
                    {"metric": name, "op": op, "limit": limit, "value": None, "ok": False, "reason": reason}
                )
                continue
            ok = value >= limit if op == ">=" else value <= limit
            rows.append(
                {
                    "metric": name,
                    "op": op,
                    "limit": limit,
                    "value": value,
                    "ok": ok,
                    "reason": "" if ok else f"{value:.4g} {'<' if op == '>=' else '>'} {limit:g}",
                }
            )
    return rows


def load_previous(path: Path) -> dict:
    """A previous run's results.json, given the file or the --out folder that holds it."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"--compare {path}: no results.json there (pass a previous --out folder)")
    return json.loads(file.read_text())


def deltas(current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, dict]:
    """before/after/delta for every metric in either run; `better` None when unchanged or not comparable."""
    out = {}
    for name in sorted(set(current) | set(previous)):
        before, after = previous.get(name), current.get(name)
        delta = after - before if before is not None and after is not None else None
        better = None
        if delta:
            better = (delta < 0) if lower_is_better(name) else (delta > 0)
        out[name] = {"before": before, "after": after, "delta": delta, "better": better}
    return out
