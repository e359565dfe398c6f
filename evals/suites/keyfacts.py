"""Key-fact suite: does the answer contain what was asked? Held-out authors' questions through /v1/ask.

The questions and the facts a correct answer must state come from independent authors (see
evals/authors.py); by default only the authors nobody tuned on are scored, so the figure in the report and
the CI floor is a held-out figure.
"""

from __future__ import annotations

from evals.authors import KeyFactItem
from evals.client import ServiceClient
from evals.keyfacts import record
from evals.metrics.keyfacts import keyfact_metrics
from evals.suites import SuiteResult, Track, no_progress


def run(client: ServiceClient, items: list[KeyFactItem], track: Track = no_progress) -> SuiteResult:
    result = SuiteResult("keyfacts")
    records = [record(client, item) for item in track(items, "key facts", len(items))]
    metrics = keyfact_metrics(records)
    for name, value in metrics.items():
        result.metrics[f"keyfacts.{name}"] = value
    result.details = {"authors": sorted({r.author for r in records})}
    result.items = [r.__dict__ | {"complete": r.complete} for r in records]
    return result
