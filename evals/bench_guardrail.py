"""Red-flag screen latency: rules alone (the baseline, measured in the same run) and the service's screen
(learned layer), over every independent author's case, then the latency targets (long notes, adversarial
input); exit 1 when one is missed. `make bench-guardrail`.

Each text is timed cold for the rules (the per-piece memo and the literal memo cleared), CPU time and wall
time, so a busy machine shows up as the gap between the two rather than as a slower screen.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import get_args

from evals.authors import load_batches
from service.guardrails import Guardrail, detector
from service.guardrails.guard import model_meta_path
from service.guardrails.guidance import load_guidance
from service.guardrails.literals import NORMALISED
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "evals" / "datasets" / "redflag.jsonl"


def _time(guard: Guardrail, texts: list[tuple[str, list]]) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for text, history in texts:
        detector._detect_piece.cache_clear()
        NORMALISED.forget()  # and the literal memo (literals.py)
        w, c = time.perf_counter(), time.process_time()
        guard.check(text, history)
        wall.append((time.perf_counter() - w) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def _cpu_s(guard: Guardrail, text: str, history: list | None = None) -> float:
    detector._detect_piece.cache_clear()
    NORMALISED.forget()
    start = time.process_time()
    guard.check(text, history)
    return time.process_time() - start


def targets(rules: Guardrail, service: Guardrail, labelled: list[str]) -> list[tuple[str, float, float]]:
    """(what, measured, target) for the latency targets the tests used to assert (tests keep the
    behaviour; a shared two-core machine made the timings flaky there)."""
    for text in labelled:  # warm the per-token typo cache, as a running service would have it
        rules.check(text)
    per_text = []
    for text in labelled:  # the per-piece memo cleared: each text analysed, not looked up
        per_text.append(_cpu_s(rules, text) * 1000)
    note = "Day 2 after L1 vertebroplasty, routine observations, mobilising with physio. " * 120
    start = time.perf_counter()
    service.check(note + " Now sats 83% on air and RR 32.")
    long_note = time.perf_counter() - start
    question = ("cp sob " * 400)[:2000]  # the adversarial inputs of issue 9 (3.3 s and 7.9 s before)
    repeated = _cpu_s(rules, question, [{"role": "user", "content": ("no cp, sats 86% " * 400)[:4000]}] * 20)
    distinct = " ".join(f"pt{i} has cp and sob, no fever, bp {90 + i}/60." for i in range(60))[:2000]
    varied = _cpu_s(rules, distinct, [{"role": "user", "content": (distinct * 2)[:4000]}] * 20)
    return [
        ("rules, labelled set, median cpu ms (warm)", statistics.median(per_text), 5.0),
        ("rules, labelled set, mean cpu ms (warm)", statistics.mean(per_text), 5.0),
        ("service, 9,600-char note, wall s", long_note, 2.0),
        ("rules, 2,000 chars + 20 x 4,000 history, cpu s", repeated, 0.25),
        ("rules, same with distinct sentences, cpu s", varied, 0.25),
    ]


def main() -> int:
    texts = [(i.text, i.history) for b in load_batches("redflag") for i in b.items]
    tmp = Path(tempfile.mkdtemp(prefix="gqa-bench-"))
    guidance = ROOT / "corpus" / "guardrails"
    rules = Guardrail(load_guidance(guidance))
    settings = Settings(store_dir=tmp, audit_log=tmp / "audit.jsonl", guardrails_dir=guidance)
    service = Guardrail.from_settings(settings)
    # every shipped learned layer in one run (issue 11: v6, v7 and static against v5), the default included
    files = {m: model_meta_path(m) for m in get_args(Settings.model_fields["redflag_model"].annotation)}
    layers = {m: Guardrail.from_settings(settings.model_copy(update={"redflag_model": m}))
              for m, path in files.items() if path.exists()}
    guards = [("rules (baseline)", rules)]
    guards += [(f"service {m} ({g.screen_version})", g) for m, g in layers.items()]
    for _, guard in guards:  # warm-up: model load, typo cache, ONNX sessions
        _time(guard, texts[:50])
    rows = {}
    for name, guard in guards:
        wall, cpu = _time(guard, texts)
        rows[name] = (statistics.median(wall), _p(wall, 95), statistics.median(cpu), _p(cpu, 95))
    base = next(iter(rows.values()))
    print(f"{len(texts)} texts from {len(load_batches('redflag'))} authors; default {settings.redflag_model}")
    for name, (w50, w95, c50, c95) in rows.items():
        print(f"{name:48s} wall p50 {w50:6.2f} ms p95 {w95:6.2f} ms | cpu p50 {c50:6.2f} ms p95 {c95:6.2f} ms"
              f" | p95 cpu / baseline {c95 / base[3]:.1f}x")
    by_model = dict(zip(layers, (rows[name] for name, _ in guards[1:]), strict=True))
    for m in (m for m in by_model if m != "v5"):  # every measured layer beside v5 (and statics beside v10)
        for ref in ("v5", "v10") if m.startswith("static") else ("v5",):
            if m in by_model and ref in by_model:
                a, b = by_model[m], by_model[ref]
                print(f"{m} / {ref}: wall p50 {a[0] / b[0]:.2f}x, p95 {a[1] / b[1]:.2f}x; "
                      f"cpu p50 {a[2] / b[2]:.2f}x, p95 {a[3] / b[3]:.2f}x")
    labelled = [json.loads(line)["text"] for line in DATASET.read_text(encoding="utf-8").splitlines() if line]
    failed = 0
    for what, measured, target in targets(rules, service, labelled):
        ok = measured < target
        failed += not ok
        print(f"{'ok  ' if ok else 'SLOW'} {what:48s} {measured:8.3f} (target < {target:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
