"""Red-flag screen latency: rules alone (the baseline, measured in the same run) and the service's screen
(learned layer), over every independent author's case. `make bench-guardrail`.

Each text is timed cold for the rules (the per-piece memo cleared), CPU time and wall time, so a busy
machine shows up as the gap between the two rather than as a slower screen.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from evals.authors import load_batches
from service.guardrails import Guardrail, detector
from service.guardrails.guidance import load_guidance
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _time(guard: Guardrail, texts: list[tuple[str, list]]) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for text, history in texts:
        detector._detect_piece.cache_clear()
        w, c = time.perf_counter(), time.process_time()
        guard.check(text, history)
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> int:
    texts = [(i.text, i.history) for b in load_batches("redflag") for i in b.items]
    tmp = Path(tempfile.mkdtemp(prefix="gqa-bench-"))
    guidance = ROOT / "corpus" / "guardrails"
    rules = Guardrail(load_guidance(guidance))
    service = Guardrail.from_settings(Settings(store_dir=tmp, audit_log=tmp / "audit.jsonl",
                                               guardrails_dir=guidance))
    for guard in (rules, service):  # warm-up: model load, typo cache, ONNX sessions
        _time(guard, texts[:50])
    rows = {}
    for name, guard in (("rules (baseline)", rules), (f"service ({service.screen_version})", service)):
        wall, cpu = _time(guard, texts)
        rows[name] = (statistics.median(wall), _p(wall, 95), statistics.median(cpu), _p(cpu, 95))
    base = next(iter(rows.values()))
    print(f"{len(texts)} texts from {len(load_batches('redflag'))} authors")
    for name, (w50, w95, c50, c95) in rows.items():
        print(f"{name:48s} wall p50 {w50:6.2f} ms p95 {w95:6.2f} ms | cpu p50 {c50:6.2f} ms p95 {c95:6.2f} ms"
              f" | p95 cpu / baseline {c95 / base[3]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
