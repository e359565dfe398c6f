"""Retrieval suite: /v1/retrieve for every question with reference contexts, ranked against them.

Each requested retrieval mode ("hybrid", "dense", "bm25"; "default" sends none and gets the service's own)
is a separate pass, so evaluators can see what fusion adds. Follow-ups with history are left to the answers
suite: /v1/retrieve takes a bare query, and scoring a follow-up without its history would measure nothing.
"""

from __future__ import annotations

from evals.client import ServiceClient
from evals.data import QAItem
from evals.metrics.retrieval import LEVELS, mean_metrics, rank_metrics
from evals.suites import SuiteResult, Track, no_progress

DEFAULT_MODE = "default"


def metric_prefix(mode: str, primary: str) -> str:
    """The first mode asked for is "retrieval.*"; the others are "retrieval@MODE.*" beside it."""
    return "retrieval" if mode == primary else f"retrieval@{mode}"


def scorable(item: QAItem) -> bool:
    """An answerable question without history: what /v1/retrieve can be ranked on."""
    return item.expected_mode == "answer" and bool(item.reference_contexts) and not item.history


def run(
    client: ServiceClient, items: list[QAItem], modes: list[str], k: int = 10, track: Track = no_progress
) -> SuiteResult:
    result = SuiteResult("retrieval")
    scored = [it for it in items if scorable(it)]
    result.details["questions"] = len(scored)
    result.details["skipped_follow_ups"] = sum(1 for it in items if it.history)
    per_mode: dict[str, dict] = {}
    for mode in modes:
        prefix = metric_prefix(mode, modes[0])
        rows: dict[str, list[dict]] = {level: [] for level in LEVELS}
        records = []
        for item in track(scored, f"retrieve ({mode})", len(scored)):
            call = client.retrieve(item.question, k=k, mode=None if mode == DEFAULT_MODE else mode)
            if call.body is None:
                result.errors.append({"id": item.id, "mode": mode, "error": call.error})
                if call.status == 422 and mode != DEFAULT_MODE:
                    break  # this service does not know the mode: report it as not run, not as misses
                passages: list[dict] = []
            else:
                passages = call.body.get("passages") or []
            record = {
                "id": item.id,
                "mode": mode,
                "question": item.question,
                "targets": [c.key for c in item.reference_contexts],
                "top": [f"{p.get('doc_id')}#{p.get('section')}" for p in passages[:3]],
            }
            for level in LEVELS:
                m = rank_metrics(passages, item.reference_contexts, level)
                rows[level].append(m)
                record[f"{level}_rank"] = round(1 / m["mrr"]) if m["mrr"] else None
            records.append(record)
        if len(records) < len(scored):
            reason = result.errors[-1]["error"]
            result.not_run[f"{prefix}.*"] = f"mode {mode!r} rejected by the service: {reason}"
            continue
        per_mode[mode] = {}
        for level in LEVELS:
            for name, value in mean_metrics(rows[level]).items():
                result.metrics[f"{prefix}.{level}.{name}"] = value
                per_mode[mode][f"{level}.{name}"] = value
        result.items.extend(records)
    result.details["modes"] = per_mode
    result.details["misses"] = [r for r in result.items if r["section_rank"] is None or r["section_rank"] > 5]
    return result
