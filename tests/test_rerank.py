"""The learned re-ranking of hybrid candidates: its features, its weights file, how fusion applies it, and the
trainer's leave-one-author-out on hand-made cases. In process, no model; the shipped weights' effect on
independent authors is measured by evals/train_rerank.py and evals/retrieval_authors.py, not asserted here."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evals.authors import ANSWERS_HELD_OUT, ANSWERS_TUNING, named
from evals.boosted_trees import TreeSettings
from evals.train_rerank import (
    DEPTHS,
    SHIPPED_AUTHORS,
    Case,
    _fit,
    _fit_trees,
    loao,
    loao_with,
    main,
    totals,
    training_authors,
    weights_text,
)
from service.followup import QueryText
from service.rerank import (
    FEATURES,
    WEIGHTS_PATH,
    Reranker,
    TreeReranker,
    candidate_features,
    relative_features,
    reranker_from_json,
    shipped_reranker,
)
from service.retrieval import ARTICLE_BOOST, fuse, rerank_features, retrieve
from tests.support.snapshots import tiny_snapshot

TEXTS = [
    "Bed rest is not advised after a vertebral fracture.",
    "Cement leakage into the spinal canal is rare after vertebroplasty.",
    "Bisphosphonates are the first treatment for osteoporosis.",
    "Walking is encouraged from the first day after the procedure.",
]


def _snapshot(**kw):
    snapshot = tiny_snapshot(TEXTS, **kw)
    vecs = np.eye(len(TEXTS), 8, dtype=np.float32)  # passage i points along axis i
    return dataclasses.replace(snapshot, chunk_vecs=vecs)


def _only(feature: str, weight: float, depth: int = 4) -> Reranker:
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index(feature)] = weight
    return Reranker(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), coef, depth)


def test_features_read_the_scores_behind_the_ranks() -> None:
    snapshot = _snapshot()
    query = np.zeros((1, 8), np.float32)
    query[0, 2] = 1.0  # closest to passage 2
    bm25 = [(np.array([1, 0]), np.array([4.0, 2.0], np.float32))]
    x = candidate_features(snapshot, [0, 1, 2], [1.0, 0.8, 0.5], query, [1.0], bm25,
                           ["cement leakage spinal"])
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert x.shape == (3, len(FEATURES))
    assert col["rank"].tolist() == [1.0, 0.5, pytest.approx(1 / 3)]
    assert col["dense_first"].tolist() == [0.0, 0.0, 1.0]
    assert col["dense_gap"].tolist() == [-1.0, -1.0, 0.0]
    assert col["dense_rank"][2] == 1.0
    assert col["bm25_first"].tolist() == [0.5, 1.0, 0.0]  # ÷ the best candidate's BM25 score
    assert col["bm25_any"].tolist() == [1.0, 1.0, 0.0]
    assert col["same_doc"].tolist() == pytest.approx([1 / 3] * 3)  # three documents among three candidates
    assert col["coverage"][1] == pytest.approx(1.0)  # every asked-for word is in the cement passage
    assert col["coverage"][0] == 0.0 and col["coverage"][2] == 0.0
    assert col["sentence_gap"].max() == 0.0 and (col["sentence_gap"] <= 0).all()
    assert candidate_features(snapshot, [], [], query, [1.0], bm25, ["x"]).shape == (0, len(FEATURES))


def test_a_follow_ups_history_texts_count_by_their_weights() -> None:
    snapshot = _snapshot()
    vectors = np.zeros((2, 8), np.float32)
    vectors[0, 0], vectors[1, 3] = 1.0, 1.0  # the question points at passage 0, its history at passage 3
    x = candidate_features(snapshot, [0, 3], [1.0, 0.9], vectors, [1.0, 3.0], [],
                           ["walking", "walking after it"])
    mix = x[:, FEATURES.index("dense_mix")]
    assert mix.tolist() == pytest.approx([0.25, 0.75])
    assert x[:, FEATURES.index("dense_first")].tolist() == [1.0, 0.0]


def test_a_follow_ups_referent_counts_in_the_mixed_word_signals() -> None:
    """"what is advised about that?" after a cement question: the bare question's words are in no passage,
    the joined text's are in the cement passage — the mixed signals (format 3) see it, the first-text ones
    do not, and a text's weight sets its share."""
    snapshot = _snapshot()
    vectors = np.zeros((2, 8), np.float32)
    texts = ["what is advised about that?", "cement leakage spinal canal what is advised about that?"]
    x = candidate_features(snapshot, [0, 1], [1.0, 0.9], vectors, [1.0, 3.0], [], texts)
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert col["coverage_mix"][1] > col["coverage_mix"][0]
    assert col["coverage_mix"][1] > col["coverage"][1]
    alone = candidate_features(snapshot, [0, 1], [1.0, 0.9], vectors, [1.0], [], texts[:1])
    one_to_one = candidate_features(snapshot, [0, 1], [1.0, 0.9], vectors, [1.0, 1.0], [], texts)
    assert alone[:, FEATURES.index("coverage_mix")].tolist() == alone[:, FEATURES.index("coverage")].tolist()
    assert x[1, FEATURES.index("coverage_mix")] > one_to_one[1, FEATURES.index("coverage_mix")]


def test_one_string_is_refused_as_the_query_texts() -> None:
    with pytest.raises(TypeError):
        candidate_features(_snapshot(), [0], [1.0], np.zeros((1, 8), np.float32), [1.0], [], "walking")


def test_fusion_reorders_the_head_and_scores_keep_falling_with_rank() -> None:
    snapshot = _snapshot()
    lists = [(np.array([0, 1, 2, 3]), 1.0)]
    plain = fuse(snapshot, lists, None, 4)
    reversed_head = fuse(snapshot, lists, None, 4, lambda rows, scores: np.array([2, 1, 0]))
    assert [h.row for h in reversed_head] == [2, 1, 0, 3]
    assert [h.score for h in reversed_head] == [h.score for h in plain]  # a rank keeps its score


def test_the_article_preference_still_applies_after_re_ranking() -> None:
    snapshot = _snapshot(doc_ids=["a", "b", "article", "d"])
    lists = [(np.array([0, 1, 2, 3]), 1.0)]
    hits = fuse(snapshot, lists, "article", 4, lambda rows, scores: np.array([1, 0, 2, 3]))
    by_row = {h.row: h.score for h in hits}
    plain = {h.row: h.score for h in fuse(snapshot, lists, None, 4)}
    assert by_row[2] == pytest.approx(plain[2] * ARTICLE_BOOST)
    assert [h.row for h in hits] == [2, 1, 0, 3]  # the article first once preferred, then the new order


def test_retrieve_applies_a_given_reranker_in_hybrid_mode_only() -> None:
    snapshot = _snapshot()
    calls = []

    class Recorder(Reranker):
        def order(self, features: np.ndarray) -> np.ndarray:
            calls.append(features.shape)
            return np.arange(len(features))[::-1]

    model = Recorder(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.zeros(len(FEATURES)), 2)
    query = np.zeros((1, 8), np.float32)
    query[0, 0] = 1.0

    class NoBm25:
        def get_scores(self, terms):
            return np.zeros(len(TEXTS))

    snapshot = dataclasses.replace(snapshot, bm25=NoBm25())
    asked = [QueryText("bed rest", 1.0)]
    dense = retrieve(snapshot, asked, query, k=3, depth=4, mode="dense", reranker=model)
    assert calls == []
    hybrid = retrieve(snapshot, asked, query, k=3, depth=4, mode="hybrid", reranker=model)
    assert calls == [(2, len(FEATURES))]  # only the first `depth` candidates are re-ranked
    assert [h.row for h in hybrid.hits][:2] == [h.row for h in dense.hits][:2][::-1]
    plain = retrieve(snapshot, asked, query, k=3, depth=4, mode="hybrid", reranker=None)
    assert [h.row for h in plain.hits] == [h.row for h in dense.hits]
    # the abstention signals read the plain fused order, which their decision was fitted on
    assert plain.fused_hits is None and plain.support_hits == plain.hits
    assert hybrid.fused_hits == plain.hits and hybrid.support_hits == plain.hits


def test_rerank_features_is_what_the_trainer_and_the_service_share() -> None:
    snapshot = _snapshot()
    query = np.zeros((1, 8), np.float32)
    asked = [QueryText("walking", 1.0)]
    got = rerank_features(snapshot, asked, query, [], np.array([0, 1]), np.array([1.0, 0.5]))
    want = candidate_features(snapshot, [0, 1], [1.0, 0.5], query, [1.0], [], ["walking"])
    assert np.array_equal(got, want)


def test_weights_of_another_feature_list_or_depth_are_refused() -> None:
    good = _only("rank", 1.0).to_json()
    assert Reranker.from_json(good).depth == 4
    with pytest.raises(ValueError, match="evals.train_rerank"):
        Reranker.from_json({**good, "features": list(FEATURES[:-1])})
    with pytest.raises(ValueError, match="depth"):
        Reranker.from_json({**good, "depth": 1})


def test_the_shipped_weights_were_fitted_on_tuning_authors_only() -> None:
    data = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    model = shipped_reranker()
    assert model is not None and model.depth in DEPTHS
    assert set(data["trained_on"]) <= set(ANSWERS_TUNING)
    assert not set(data["trained_on"]) & set(ANSWERS_HELD_OUT)
    assert set(data["leave_one_author_out"]) == set(data["trained_on"])
    # the plain command (no --authors) rebuilds exactly this file's authors
    assert sorted(data["trained_on"]) == sorted(training_authors(None))


def test_the_plain_command_trains_on_the_shipped_authors_and_the_options_widen_or_narrow_it() -> None:
    assert training_authors(None) == named(ANSWERS_TUNING, list(SHIPPED_AUTHORS))
    assert len(training_authors(None)) == len(SHIPPED_AUTHORS)
    assert training_authors(None, all_tuning=True) == tuple(ANSWERS_TUNING)
    assert len(training_authors(None, all_tuning=True)) > len(SHIPPED_AUTHORS)
    assert training_authors(["b1", "b2"]) == named(ANSWERS_TUNING, ["b1", "b2"])
    with pytest.raises(SystemExit):  # one or the other, not both
        main(["--authors", "b1", "--all-tuning", "--dry-run"])


def _cases(author: str, n: int, rng: np.random.Generator) -> list[Case]:
    """Questions whose relevant candidate is the one with the highest `dense_mix`, never first by fusion."""
    out = []
    for _ in range(n):
        feats = rng.normal(size=(30, len(FEATURES)))
        best = int(rng.integers(1, 10))
        feats[best, FEATURES.index("dense_mix")] = 5.0
        labels = np.zeros(30)
        labels[best] = 1.0
        out.append(Case(author, {d: feats[:d] for d in DEPTHS}, labels, dense_first=True))
    return out


def test_leave_one_author_out_learns_what_the_other_authors_show() -> None:
    rng = np.random.default_rng(0)
    cases = [c for a in ANSWERS_TUNING[:3] for c in _cases(a, 20, rng)]
    folds = loao(cases, 10, 1.0)
    t = totals(folds)
    assert t["n"] == 60 and t["fused_hit1"] == 0
    assert t["reranked_hit1"] >= 57
    assert t["authors_below_fused"] == 0
    model = _fit(cases, 10, 1.0)
    assert np.argmax(np.abs(model.coef)) == FEATURES.index("dense_mix")
    again = _fit(cases, 10, 1.0)
    assert np.array_equal(model.coef, again.coef)  # no randomness in the fit


def _interaction_cases(author: str, n: int, rng: np.random.Generator) -> list[Case]:
    """The relevant candidate is the one of middling length among much shorter and much longer ones — a
    rule no single linear weight expresses (a weight on length prefers one extreme or the other)."""
    out = []
    words = FEATURES.index("log_words")
    for _ in range(n):
        feats = rng.normal(size=(10, len(FEATURES))) * 0.1
        feats[:, words] = rng.choice([-2.0, 2.0], size=10) + rng.normal(size=10) * 0.1
        best = int(rng.integers(0, 10))
        feats[best, words] = rng.normal() * 0.1
        labels = np.zeros(10)
        labels[best] = 1.0
        out.append(Case(author, {d: np.vstack([feats] * (d // 10)) if d > 10 else feats for d in DEPTHS},
                        np.concatenate([labels, np.zeros(max(DEPTHS) - 10)]), dense_first=False))
    return out


def test_trees_learn_an_interaction_the_linear_scorer_cannot() -> None:
    rng = np.random.default_rng(0)
    cases = [c for a in ANSWERS_TUNING[:3] for c in _interaction_cases(a, 40, rng)]
    settings = TreeSettings(leaves=7, min_leaf=5, rounds=60, learning_rate=0.2)
    trees = totals(loao_with(cases, lambda train: _fit_trees(train, 10, settings)))
    linear = totals(loao(cases, 10, 1.0))
    assert trees["reranked_hit1"] >= 0.9 * trees["n"]
    assert trees["reranked_hit1"] > linear["reranked_hit1"] + 20


def test_a_tree_reranker_round_trips_and_refuses_what_does_not_fit() -> None:
    rng = np.random.default_rng(1)
    cases = [c for a in ANSWERS_TUNING[:2] for c in _interaction_cases(a, 20, rng)]
    model = _fit_trees(cases, 10, TreeSettings(leaves=7, min_leaf=5, rounds=10))
    data = json.loads(weights_text(model.to_json(trained_on=["x"])))
    again = reranker_from_json(data)
    assert isinstance(again, TreeReranker) and again.depth == 10
    feats = cases[0].features[10]
    assert np.array_equal(again.order(feats), model.order(feats))
    assert isinstance(reranker_from_json(_only("rank", 1.0).to_json()), Reranker)  # no learner: linear
    with pytest.raises(ValueError, match="evals.train_rerank"):
        reranker_from_json({**data, "features": list(FEATURES[:-1])})
    with pytest.raises(ValueError, match="inputs"):
        ensemble = {**data["ensemble"], "n_features": 3 * len(FEATURES) + 1}
        reranker_from_json({**data, "ensemble": ensemble})
    with pytest.raises(ValueError, match="depth"):
        reranker_from_json({**data, "depth": 1})
    with pytest.raises(ValueError, match="re-ranking trees"):
        reranker_from_json({**data, "ensemble": {"trees": "none"}})


def test_relative_features_are_the_value_and_its_gaps_to_the_best_and_the_mean() -> None:
    f = np.array([[1.0, 4.0], [3.0, 2.0]])
    assert relative_features(f).tolist() == [[1.0, 4.0, -2.0, 0.0, -1.0, 1.0],
                                             [3.0, 2.0, 0.0, -2.0, 1.0, -1.0]]
    assert relative_features(np.zeros((0, 2))).shape == (0, 6)
