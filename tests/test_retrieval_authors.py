"""The per-author retrieval comparison says when hybrid falls below the best single retriever."""

from __future__ import annotations

from evals.retrieval_authors import follow_up_summary, summarise


def row(hit1: float, rr: float) -> dict[str, float]:
    return {"hit@1": hit1, "hit@3": hit1, "hit@5": hit1, "hit@10": hit1, "mrr": rr, "ndcg@10": rr}


def test_hybrid_below_the_best_single_retriever_is_reported_per_metric() -> None:
    rows = {
        "hybrid": [row(1, 1.0), row(0, 0.5)],  # hit@1 0.5, mrr 0.75
        "dense": [row(1, 1.0), row(1, 1.0)],  # better on both
        "bm25": [row(0, 0.5), row(0, 0.2)],
    }
    out = summarise(rows)
    assert out["n"] == 2
    assert out["hybrid_below_best_single"] == ["hit@1", "mrr"]
    assert out["dense"] == {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "mrr": 1.0}


def test_hybrid_level_with_or_above_both_is_not_reported() -> None:
    rows = {"hybrid": [row(1, 1.0)], "dense": [row(1, 1.0)], "bm25": [row(0, 0.5)]}
    assert summarise(rows)["hybrid_below_best_single"] == []


def test_follow_ups_are_scored_with_and_without_their_history() -> None:
    out = follow_up_summary({"with_history": [row(1, 1.0), row(1, 1.0)],
                             "without_history": [row(0, 0.2), row(1, 1.0)]})
    assert out == {"n": 2, "with_history": {"hit@1": 1.0, "hit@3": 1.0},
                   "without_history": {"hit@1": 0.5, "hit@3": 0.5}}


def test_an_author_without_follow_ups_has_no_follow_up_figures() -> None:
    assert follow_up_summary({"with_history": [], "without_history": []}) == {"n": 0}
