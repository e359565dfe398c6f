"""Latency samples per endpoint and mode, summarised as p50/p95 (typical and worst waits)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LatencyLog:
    """Milliseconds keyed by "endpoint/mode", e.g. "ask/extractive" or "retrieve/bm25"."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, endpoint: str, mode: str, ms: float) -> None:
        self.samples[f"{endpoint}/{mode}"].append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for key in sorted(self.samples):
            values = np.asarray(self.samples[key], dtype=float)
            out[key] = {
                "n": int(values.size),
                "p50_ms": float(np.percentile(values, 50)),
                "p95_ms": float(np.percentile(values, 95)),
                "max_ms": float(values.max()),
            }
        return out

    def metrics(self) -> dict[str, float]:
        """Flat metric names, e.g. latency.ask/extractive.p95_ms, for floors and comparisons."""
        return {
            f"latency.{key}.{stat}": value
            for key, row in self.summary().items()
            for stat, value in row.items()
            if stat in ("p50_ms", "p95_ms")
        }
