"""Calibrate the exemplar layer on the calibration split and report every figure in docs/guardrails.md.

    python -m service.guardrails.calibrate [--dataset evals/datasets/redflag.jsonl]

Threshold rule: among calibration negatives in the rules' uncertain band (the only texts the layer sees),
take the highest nearest-positive cosine among those that also beat their nearest negative by `MARGIN`; the
threshold is that value plus a 0.10 gap, rounded up to 0.01 (no calibration negative may fire). The gap is
wide because only about twenty calibration negatives fall in the band, so their maximum is a noisy estimate.
The holdout split is then *reported*, never used.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from .detector import detect
from .exemplars import MARGIN, THRESHOLD, ExemplarMatcher, load_exemplars
from .guard import Guardrail, _latest_user_turn
from .guidance import load_guidance

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "evals" / "datasets" / "redflag.jsonl"
GAP = 0.10


def load_cases(path: Path = DEFAULT_DATASET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def metrics(guard: Guardrail, cases: list[dict]) -> dict:
    """Recall, false-alarm rate and category agreement of `guard.check` on `cases`."""
    pos = [c for c in cases if c["label"]]
    neg = [c for c in cases if not c["label"]]
    missed, alarms, wrong_cat = [], [], []
    for c in cases:
        hit = guard.check(c["text"], c.get("history"))
        if c["label"] and hit is None:
            missed.append(c["id"])
        elif not c["label"] and hit is not None:
            alarms.append(c["id"])
        elif hit is not None and hit.category != c["category"]:
            wrong_cat.append(c["id"])
    return {
        "n": len(cases), "positives": len(pos), "negatives": len(neg),
        "recall": (len(pos) - len(missed)) / len(pos) if pos else 1.0,
        "false_alarm_rate": len(alarms) / len(neg) if neg else 0.0,
        "missed": missed, "false_alarms": alarms, "category_mismatch": wrong_cat,
    }


def propose_threshold(matcher: ExemplarMatcher, rules_only: Guardrail, calibration: list[dict]) -> float:
    """Lowest threshold (with GAP) at which no calibration negative would be flagged by the exemplar layer."""
    worst = 0.0
    for c in calibration:
        if c["label"]:
            continue
        texts = [c["text"]] + ([t] if (t := _latest_user_turn(c.get("history"))) else [])
        for text in texts:
            if not detect(text).uncertain:  # the layer is only consulted in the rules' uncertain band
                continue
            _, sim, neg = matcher.scores(text)
            if sim - neg >= matcher.margin:
                worst = max(worst, sim)
    return math.ceil((worst + GAP) * 100) / 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = parser.parse_args(argv)

    from config import prepare_process
    from ingest.embedding import get_base_embedder
    from service.settings import PROJECT_ROOT

    prepare_process()

    cases = load_cases(args.dataset)
    calibration = [c for c in cases if c["split"] == "calibration"]
    holdout = [c for c in cases if c["split"] == "holdout"]
    guidance = load_guidance(PROJECT_ROOT / "corpus" / "guardrails")
    rules_only = Guardrail(guidance)
    matcher = ExemplarMatcher(get_base_embedder(), load_exemplars(), THRESHOLD, MARGIN)
    proposed = propose_threshold(matcher, rules_only, calibration)
    pos_sims = [matcher.scores(c["text"])[1] for c in calibration if c["label"]]
    print(f"exemplar threshold in use {THRESHOLD}, margin {MARGIN}; proposed from calibration: {proposed}")
    print(f"calibration positives at/above threshold by exemplars alone: "
          f"{sum(s >= THRESHOLD for s in pos_sims)}/{len(pos_sims)}")
    both = Guardrail(guidance, exemplars=matcher)
    for name, split in (("calibration", calibration), ("holdout", holdout), ("all", cases)):
        for label, guard in (("rules", rules_only), ("rules+exemplars", both)):
            m = metrics(guard, split)
            print(f"{name:11s} {label:16s} n={m['n']:3d} recall={m['recall']:.3f} "
                  f"false_alarm={m['false_alarm_rate']:.3f} missed={m['missed']} alarms={m['false_alarms']} "
                  f"category_mismatch={len(m['category_mismatch'])}")
    texts = [c["text"] for c in cases]
    for label, guard in (("rules", rules_only), ("rules+exemplars", both)):
        wall, cpu = [], []
        for t in texts:
            start, start_cpu = time.perf_counter(), time.process_time()
            guard.check(t)
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        wall.sort()
        cpu.sort()
        gated = sum(detect(t).uncertain for t in texts)
        p50, p95 = len(wall) // 2, int(len(wall) * 0.95)
        print(f"latency {label:16s} wall p50={wall[p50]:.2f} p95={wall[p95]:.2f} ms; "
              f"cpu p50={cpu[p50]:.2f} p95={cpu[p95]:.2f} ms "
              f"(uncertain band, exemplars consulted: {gated}/{len(texts)} texts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
