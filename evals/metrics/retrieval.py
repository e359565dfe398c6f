"""Ranking metrics for one ranked passage list against the reference contexts: hit@k, MRR, nDCG@10.

Two levels: a passage is relevant at document level when its doc_id is a reference document, and at section
level when it is also inside a reference section (the same heading path or one below it, so a reference to
"Title › Management" accepts a passage from "Title › Management › Drugs").

hit@k and MRR use passage ranks, because the answerer reads the top passages as they come. nDCG@10 counts
each relevant unit (document or section) once, at its best rank: several chunks of one section would
otherwise make a single good hit look like several, and the ideal ranking would be undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evals.data import Context

SECTION_SEP = " › "
HIT_KS = (1, 3, 5, 10)
LEVELS = ("doc", "section")


def _norm(section: str | None) -> str:
    return " ".join((section or "").split()).casefold()


def section_matches(passage_section: str | None, reference_section: str | None) -> bool:
    if not reference_section:
        return True
    got, want = _norm(passage_section), _norm(reference_section)
    return got == want or got.startswith(want + SECTION_SEP)


def relevant_unit(passage: dict, references: Sequence[Context], level: str) -> str | None:
    """The reference unit this passage belongs to at `level`, or None when it is not relevant."""
    for ref in references:
        if passage.get("doc_id") != ref.doc_id:
            continue
        if level == "doc":
            return ref.doc_id
        if section_matches(passage.get("section"), ref.section):
            return ref.key
    return None


def rank_metrics(passages: Sequence[dict], references: Sequence[Context], level: str) -> dict[str, float]:
    """hit@1/3/5/10, reciprocal rank and nDCG@10 of one ranked list."""
    units = [relevant_unit(p, references, level) for p in passages]
    first = next((i for i, unit in enumerate(units) if unit is not None), None)
    out = {f"hit@{k}": float(first is not None and first < k) for k in HIT_KS}
    out["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
    wanted = {ref.doc_id if level == "doc" else ref.key for ref in references}
    seen: set[str] = set()
    dcg = 0.0
    for i, unit in enumerate(units[:10]):
        if unit is not None and unit not in seen:
            seen.add(unit)
            dcg += 1.0 / math.log2(i + 2)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(wanted), 10)))
    out["ndcg@10"] = dcg / ideal if ideal else 0.0
    return out


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Column means of per-question metric dicts (all rows carry the same keys)."""
    if not rows:
        return {}
    return {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}
