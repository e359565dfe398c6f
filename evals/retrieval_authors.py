"""Retrieval per independent answer author and retriever, through `/v1/retrieve` (section level).

    python -m evals.retrieval_authors                      # every answers author, hybrid / dense / bm25
    python -m evals.retrieval_authors --authors b4-pharmacist-physio,b6-ortho-sho-practice-nurse

Why per author: fusion weights fitted on one author's phrasing can lose to a single retriever on another's
(lay paraphrases defeat BM25; exact drug names and numbers defeat dense), so the question "is hybrid ever
below the best single retriever?" is asked of every author separately, on authors nothing was fitted to.
Each in-scope question with reference sections is sent with its history (follow-ups included) to each mode;
a passage is relevant when it is inside a reference section (evals/metrics/retrieval.py). The same corpus
plan as the key-fact suite: shipped corpus or open-medicine, each served on 127.0.0.1.

Follow-ups ("and how is that treated?") get their own row: hybrid's section hit@1 / hit@3 with the history,
and the same questions sent without it. The difference is what resolving the reference buys; the figure
with history is the issue's "follow-up resolved to the right topic", apart from whether the answer then
quotes every key fact (evals/keyfacts.py reports that).
"""

from __future__ import annotations

import argparse
import time

from evals.authors import KeyFactItem, command_line_authors, load_batches
from evals.client import ServiceClient
from evals.keyfacts import corpus_plan, on_each_corpus
from evals.metrics.retrieval import mean_metrics, rank_metrics
from evals.redflag_authors import write_record

MODES = ("hybrid", "dense", "bm25")
SHOWN = ("hit@1", "hit@3", "hit@5", "mrr")


def ranked(client: ServiceClient, item: KeyFactItem, mode: str,
           with_history: bool = True) -> dict[str, float]:
    """Section-level rank metrics of one question under one retriever."""
    history = (list(item.history) or None) if with_history else None
    call = client.retrieve(item.question, k=10, mode=mode, history=history)
    passages = (call.body or {}).get("passages") or []
    return rank_metrics(passages, item.reference_contexts, "section")


def summarise(rows: dict[str, list[dict[str, float]]]) -> dict[str, object]:
    """Mean metrics per mode, and whether hybrid is below the best single retriever on hit@1 or MRR."""
    means = {mode: mean_metrics(r) for mode, r in rows.items() if r}
    out: dict[str, object] = {"n": len(next(iter(rows.values()), []))}
    out.update({mode: {k: round(m[k], 3) for k in SHOWN} for mode, m in means.items()})
    singles = [means[m] for m in ("dense", "bm25") if m in means]
    if "hybrid" in means and singles:
        out["hybrid_below_best_single"] = [
            k for k in ("hit@1", "mrr") if means["hybrid"][k] < max(s[k] for s in singles)
        ]
    return out


def follow_up_summary(rows: dict[str, list[dict[str, float]]]) -> dict[str, object]:
    """Hybrid on the follow-ups, with and without their history."""
    out: dict[str, object] = {"n": len(rows["with_history"])}
    for name, r in rows.items():
        if r:
            means = mean_metrics(r)
            out[name] = {k: round(means[k], 3) for k in ("hit@1", "hit@3")}
    return out


def run(authors: set[str] | None = None) -> dict:
    batches = [b for b in load_batches("answers") if not authors or b.author in authors]
    plan = corpus_plan(batches, lambda item: item.expected_mode == "answer" and bool(item.reference_contexts))
    rows: dict[str, dict[str, list[dict[str, float]]]] = {b.author: {m: [] for m in MODES} for b in batches}
    follow: dict[str, dict[str, list[dict[str, float]]]] = {
        b.author: {"with_history": [], "without_history": []} for b in batches}

    def rank_all(client: ServiceClient, items: list[KeyFactItem]) -> None:
        for item in items:
            for mode in MODES:
                rows[item.author][mode].append(ranked(client, item, mode))
            if item.history:
                follow[item.author]["with_history"].append(rows[item.author]["hybrid"][-1])
                alone = ranked(client, item, "hybrid", with_history=False)
                follow[item.author]["without_history"].append(alone)

    on_each_corpus(plan, rank_all)
    return {"authors": {a: {**summarise(r), "follow_ups": follow_up_summary(follow[a]),
                            "sha256": next(b.sha256 for b in batches if b.author == a)}
                        for a, r in rows.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", help="author names or short ids, e.g. b1,b24 (default: all)")
    parser.add_argument("--record", help="write the figures to evals/first_look/NAME.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(command_line_authors("answers", args.authors))
    for author, s in result["authors"].items():
        cells = "  ".join(f"{m} h@1 {s[m]['hit@1']:.3f} mrr {s[m]['mrr']:.3f}" for m in MODES if m in s)
        below = s.get("hybrid_below_best_single")
        print(f"{author:30s} n={s['n']:3d}  {cells}  hybrid below best single: {', '.join(below) or 'no'}")
        fu = s["follow_ups"]
        if fu["n"]:
            with_h, without = fu["with_history"], fu["without_history"]
            print(f"{'':30s} follow-ups n={fu['n']:2d}  hybrid with history h@1 {with_h['hit@1']:.3f} "
                  f"h@3 {with_h['hit@3']:.3f}  without h@1 {without['hit@1']:.3f} "
                  f"h@3 {without['hit@3']:.3f}")
    if args.record:
        print(f"recorded {write_record(args.record, result, started)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
