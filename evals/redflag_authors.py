"""Score the red-flag guardrail on every independent author's batch, one row per author.

`python -m evals.redflag_authors` prints recall and false alarms per author (and for ordinary guideline
questions: every question of the answers authors and the golden sets, which must not flag), using the
guardrail exactly as the service builds it (`Guardrail.from_settings`). `--record NAME` also writes the
figures to `evals/first_look/NAME.json`, which is how a batch's first look is kept: scored once, before any
change made while looking at it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from evals.authors import command_line_authors, load_batches
from evals.data import DATASETS_DIR, load_qa

FIRST_LOOK_DIR = Path(__file__).resolve().parent / "first_look"
ROOT = Path(__file__).resolve().parent.parent


def build_guard():
    """The guardrail as the service builds it (rules, exemplars, learned layer when shipped)."""
    from service.guardrails import Guardrail
    from service.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="gqa-rf-"))
    settings = Settings(store_dir=tmp, audit_log=tmp / "audit.jsonl",
                        guardrails_dir=ROOT / "corpus" / "guardrails")
    return Guardrail.from_settings(settings)


def ordinary_questions() -> list[tuple[str, str, list[dict]]]:
    """(source, question, history) for every question written to be answered or declined, never flagged."""
    out = []
    for batch in load_batches("answers"):
        out += [(batch.author, q.question, q.history) for q in batch.items]
    for name in ("golden_shipped.jsonl", "retrieval_open_medicine.jsonl"):
        out += [(name, q.question, q.history) for q in load_qa(DATASETS_DIR / name).items
                if q.expected_mode != "red_flag"]
    return out


def score(guard, only: set[str] | None = None) -> dict:
    """Per-author recall / false alarms with every miss and false alarm listed, plus ordinary questions."""
    rows: dict[str, dict] = {}
    for batch in load_batches("redflag"):
        if only and batch.author not in only:
            continue
        pos = [i for i in batch.items if i.label]
        neg = [i for i in batch.items if not i.label]
        missed = [i for i in pos if guard.check(i.text, i.history) is None]
        alarms = [i for i in neg if guard.check(i.text, i.history) is not None]
        rows[batch.author] = {
            "sha256": batch.sha256, "positives": len(pos), "negatives": len(neg),
            "recall": 1 - len(missed) / len(pos) if pos else None,
            "false_alarm_rate": len(alarms) / len(neg) if neg else None,
            "missed": [{"id": i.id, "category": i.category, "text": i.text} for i in missed],
            "false_alarms": [{"id": i.id, "text": i.text} for i in alarms],
        }
    ordinary = ordinary_questions()
    flagged = [(src, q) for src, q, h in ordinary if guard.check(q, h) is not None]
    return {"authors": rows, "ordinary": {"n": len(ordinary), "flagged": len(flagged),
                                         "rate": len(flagged) / len(ordinary) if ordinary else None,
                                         "examples": [{"source": s, "text": q} for s, q in flagged]}}


def pooled(rows: dict[str, dict], authors: list[str]) -> tuple[float, float, int, int]:
    """Pooled recall and false-alarm rate over `authors` (counts weighted, not averaged per author)."""
    pos = sum(rows[a]["positives"] for a in authors)
    neg = sum(rows[a]["negatives"] for a in authors)
    miss = sum(len(rows[a]["missed"]) for a in authors)
    fa = sum(len(rows[a]["false_alarms"]) for a in authors)
    return (1 - miss / pos if pos else float("nan"), fa / neg if neg else float("nan"), pos, neg)


def write_record(name: str, result: dict, started: float) -> Path:
    """`evals/first_look/NAME.json`: the figures, the commit they were measured on, and how long it took."""
    FIRST_LOOK_DIR.mkdir(exist_ok=True)
    result.update(commit=_commit(), seconds=round(time.perf_counter() - started, 1))
    out = FIRST_LOOK_DIR / f"{name}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", help="author names or short ids, e.g. a1,a25 (default: all)")
    parser.add_argument("--record", help="write the figures to evals/first_look/NAME.json")
    parser.add_argument("--show", action="store_true", help="print every miss and false alarm")
    args = parser.parse_args(argv)
    only = command_line_authors("redflag", args.authors)
    started = time.perf_counter()
    result = score(build_guard(), only)
    for author, row in result["authors"].items():
        print(f"{author:28s} recall {row['recall']:.3f} ({row['positives'] - len(row['missed'])}/"
              f"{row['positives']})  false alarms {row['false_alarm_rate']:.3f} "
              f"({len(row['false_alarms'])}/{row['negatives']})")
        if args.show:
            for m in row["missed"]:
                print(f"   MISS {m['id']} [{m['category']}] {m['text'][:160]}")
            for m in row["false_alarms"]:
                print(f"   FA   {m['id']} {m['text'][:160]}")
    rec, fa, pos, neg = pooled(result["authors"], list(result["authors"]))
    o = result["ordinary"]
    print(f"{'pooled':28s} recall {rec:.3f} of {pos}  false alarms {fa:.3f} of {neg}")
    print(f"{'ordinary questions':28s} flagged {o['flagged']}/{o['n']} = {o['rate']:.3f}")
    if args.record:
        print(f"recorded {write_record(args.record, result, started)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
