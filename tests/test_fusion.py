"""Reciprocal rank fusion (`service.retrieval.fuse`) on a hand-built snapshot: weights, scaling, the article
preference and its limits. In-process, no model; the served retrieval is tested in test_retrieval.py."""

from __future__ import annotations

import numpy as np
import pytest

from service.retrieval import ARTICLE_BOOST, CITED_BOOST, RRF_K, fuse
from tests.support.snapshots import tiny_snapshot

TEXTS = [f"Passage number {i} says something about vertebroplasty." for i in range(5)]


def rows(*r: int) -> np.ndarray:
    return np.asarray(r, dtype=np.int64)


def test_first_in_every_list_scores_one_and_order_follows_the_fused_ranks() -> None:
    snapshot = tiny_snapshot(TEXTS)
    hits = fuse(snapshot, [(rows(2, 0, 1), 1.0), (rows(2, 1, 0), 1.0)], None, 5)
    assert [h.row for h in hits] == [2, 0, 1]  # 0 and 1 tie on rank sum; the stable order keeps 0 first
    assert hits[0].score == pytest.approx(1.0)
    assert hits[1].score == pytest.approx((1 / (RRF_K + 2) + 1 / (RRF_K + 3)) / (2 / (RRF_K + 1)))


def test_weights_decide_between_lists() -> None:
    snapshot = tiny_snapshot(TEXTS)
    lists = [(rows(0, 1), 0.85), (rows(1, 0), 1.0)]
    assert [h.row for h in fuse(snapshot, lists, None, 2)] == [1, 0]
    lists = [(rows(0, 1), 1.0), (rows(1, 0), 0.85)]
    assert [h.row for h in fuse(snapshot, lists, None, 2)] == [0, 1]


def test_k_cuts_and_passages_in_no_list_never_appear() -> None:
    snapshot = tiny_snapshot(TEXTS)
    hits = fuse(snapshot, [(rows(3, 4, 1), 1.0)], None, 2)
    assert [h.row for h in hits] == [3, 4]
    assert fuse(snapshot, [(rows(), 1.0)], None, 5) == []


def test_the_article_and_what_it_cites_are_preferred_among_close_candidates() -> None:
    metas = [{}, {}, {"cites": ["cited"]}, {}, {}]
    snapshot = tiny_snapshot(TEXTS, doc_ids=["a", "b", "article", "cited", "e"], metas=metas)
    ranked = [(rows(0, 1, 2, 3), 1.0)]
    plain = fuse(snapshot, ranked, None, 4)
    assert [h.row for h in plain] == [0, 1, 2, 3]
    preferred = fuse(snapshot, ranked, "article", 4)
    by_row = {h.row: h.score for h in preferred}
    plain_by_row = {h.row: h.score for h in plain}
    assert by_row[2] == pytest.approx(plain_by_row[2] * ARTICLE_BOOST)
    assert by_row[3] == pytest.approx(plain_by_row[3] * CITED_BOOST)
    assert by_row[0] == pytest.approx(plain_by_row[0])
    assert preferred[0].row == 2  # third by rank, first once preferred


def test_a_clearly_better_passage_elsewhere_still_wins() -> None:
    snapshot = tiny_snapshot(TEXTS, doc_ids=["best", "b", "c", "d", "article"])
    ranked = [(rows(0, 1, 2, 3, 4), 1.0), (rows(0, 2, 1, 3), 1.0)]
    assert fuse(snapshot, ranked, "article", 5)[0].row == 0


def test_an_unknown_article_changes_nothing() -> None:
    snapshot = tiny_snapshot(TEXTS)
    ranked = [(rows(4, 3, 2), 1.0)]
    assert fuse(snapshot, ranked, "no-such-article", 3) == fuse(snapshot, ranked, None, 3)
