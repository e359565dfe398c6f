"""Red-flag suite: every labelled message through /v1/ask; flagged = `red_flag` set or mode "red_flag".

The guardrail is judged where clinicians meet it, the public endpoint, so a detector that works in
isolation but is bypassed by history handling or routing still shows up as a miss here.
"""

from __future__ import annotations

from evals.client import ServiceClient
from evals.data import RedFlagItem
from evals.metrics.guardrail import Decision, guardrail_metrics
from evals.suites import SuiteResult, Track, no_progress


def run(client: ServiceClient, items: list[RedFlagItem], track: Track = no_progress) -> SuiteResult:
    result = SuiteResult("redflag")
    decisions = []
    for item in track(items, "red flags", len(items)):
        call = client.ask(item.text, item.history)
        body = call.body or {}
        if call.body is None:
            result.errors.append({"id": item.id, "error": call.error})
        flag = body.get("red_flag")
        decisions.append(
            Decision(
                id=item.id,
                text=item.text,
                label=item.label,
                category=item.category,
                kind=item.kind,
                split=item.split,
                predicted=bool(flag) or body.get("mode") == "red_flag",
                predicted_category=flag.get("category") if isinstance(flag, dict) else None,
            )
        )
    g = guardrail_metrics(decisions)
    m = result.metrics
    for name in ("recall", "false_alarm_rate", "precision", "category_accuracy"):
        m[f"guardrail.{name}"] = g[name]
    for split, row in g["splits"].items():
        m[f"guardrail.{split}.recall"] = row["recall"]
        m[f"guardrail.{split}.false_alarm_rate"] = row["false_alarm_rate"]
    m["guardrail.error_rate"] = len(result.errors) / len(items) if items else None
    result.details = g
    result.items = [d.__dict__ for d in decisions]
    return result
