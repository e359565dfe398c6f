"""The retrieval table of `make bench --retrieval-table`: dense, BM25 and hybrid through the public API.

hit@1, hit@5 and MRR over the top 10 of `/v1/retrieve` (with `mode`), at guideline level (the doc id's part
before '/', i.e. the guideline folder for open-medicine, the document for the shipped corpus) and at section
level (the reference section or one of its subsections, as evals/datasets/README.md defines a hit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx


def _rank(passages: list[dict], refs: list[dict], level: str) -> int | None:
    """1-based rank of the first passage in a reference guideline (doc id before '/') or section."""
    for rank, p in enumerate(passages, 1):
        for ref in refs:
            if level == "guideline" and p["doc_id"].split("/")[0] == ref["doc_id"].split("/")[0]:
                return rank
            if (
                level == "section"
                and p["doc_id"] == ref["doc_id"]
                and (p["section"] == ref["section"] or p["section"].startswith(ref["section"] + " › "))
            ):
                return rank
    return None


def retrieval_table(
    client: httpx.Client, dataset: Path, with_history: bool = False, send_history: bool = True
) -> dict:
    """hit@1, hit@5 and MRR (top 10) per mode and level, through the public /v1/retrieve.

    `with_history` picks the follow-up items; `send_history=False` sends them without their history, to
    show what the history is worth."""
    items = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip() and line[0] != "/"]
    items = [i for i in items if i.get("reference_contexts") and bool(i.get("history")) == with_history]
    table: dict[str, Any] = {"n": len(items)}
    for mode in ("dense", "bm25", "hybrid"):
        ranks: dict[str, list[int | None]] = {"guideline": [], "section": []}
        for item in items:
            history = item.get("history", []) if send_history else []
            payload = {"query": item["question"], "k": 10, "mode": mode, "history": history}
            passages = client.post("/v1/retrieve", json=payload).json()["passages"]
            for level in ranks:
                ranks[level].append(_rank(passages, item["reference_contexts"], level))
        table[mode] = {
            level: {
                "hit@1": sum(r == 1 for r in rs) / len(rs),
                "hit@5": sum(r is not None and r <= 5 for r in rs) / len(rs),
                "mrr": sum(1 / r for r in rs if r) / len(rs),
            }
            for level, rs in ranks.items()
        }
    return table


def print_table(name: str, table: dict) -> None:
    print(f"\n{name} (n={table['n']})      guideline: hit@1  hit@5   MRR | section: hit@1  hit@5   MRR")
    for mode in ("dense", "bm25", "hybrid"):
        g, s = table[mode]["guideline"], table[mode]["section"]
        print(
            f"  {mode:8}{'':22}{g['hit@1']:6.3f} {g['hit@5']:6.3f} {g['mrr']:6.3f} |"
            f"         {s['hit@1']:6.3f} {s['hit@5']:6.3f} {s['mrr']:6.3f}"
        )
