"""The learned main-passage choice: weights read and checked, applied by the composer, fitted reproducibly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evals.train_passage_choice import Case, fit
from service.composer import WORD_BUDGET, candidate_features, compose, scored_units
from service.passage_choice import FEATURES, PassageChooser, shipped_chooser
from service.question_kind import question_kind
from service.retrieval import Hit
from tests.support.snapshots import tiny_snapshot

PASSAGES = [
    "Bed rest is not advised after a vertebral fracture. Walking is encouraged from the first day.",
    "Calcium and vitamin D are given to every patient with an osteoporotic fracture.",
    "Bisphosphonates are the first treatment for osteoporosis after a vertebral fracture.",
]


def _chooser(feature: str, weight: float, candidates: int = 3) -> PassageChooser:
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index(feature)] = weight
    return PassageChooser(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), coef, 0.0, candidates)


def test_the_composer_quotes_the_passage_the_chooser_scores_highest() -> None:
    snapshot = tiny_snapshot(PASSAGES)
    hits = [Hit(0, 1.0), Hit(1, 0.9), Hit(2, 0.8)]
    question = "what treatment after a vertebral fracture?"
    query = np.zeros(8, np.float32)
    by_rank = compose(snapshot, hits, query, question, question_kind(question), chooser=_chooser("rank", 1.0))
    last = compose(snapshot, hits, query, question, question_kind(question), chooser=_chooser("rank", -1.0))
    assert by_rank[0].hit == 0
    assert last[0].hit == 2 and last[0].text.startswith("Bisphosphonates")
    only_two = compose(snapshot, hits, query, question, question_kind(question),
                       chooser=_chooser("rank", -1.0, candidates=2))
    assert only_two[0].hit == 1  # never beyond its candidate depth


def test_weights_of_another_feature_list_are_refused_and_the_shipped_ones_load() -> None:
    data = _chooser("rank", 1.0).to_json()
    assert PassageChooser.from_json(data).candidates == 3
    with pytest.raises(ValueError, match="retrain"):
        PassageChooser.from_json({**data, "features": ["rank"]})
    shipped = shipped_chooser()
    assert shipped is not None and shipped.coef.shape == (len(FEATURES),) and 1 <= shipped.candidates <= 5


def test_the_fit_is_deterministic_and_learns_the_separating_feature() -> None:
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(40):
        features = rng.normal(size=(3, len(FEATURES)))
        labels = np.zeros(3, np.int64)
        right = int(rng.integers(3))
        labels[right] = 1
        features[right, FEATURES.index("coverage")] += 3.0  # the answering passage covers the question
        cases.append(Case(item=None, retrieved=None, sufficient=True, features=features, labels=labels,  # type: ignore[arg-type]
                          candidates=[0, 1, 2]))
    first, second = fit(cases, 3, 30.0), fit(cases, 3, 30.0)
    np.testing.assert_array_equal(first.coef, second.coef)
    assert int(np.argmax(first.coef)) == FEATURES.index("coverage")
    right = sum(int(np.argmax(first.scores(c.features))) == int(np.argmax(c.labels)) for c in cases)
    assert right >= 38  # the listwise fit ranks nearly every question's answering passage first
    assert fit(cases, 3, 1000.0).coef[FEATURES.index("coverage")] < first.coef[FEATURES.index("coverage")]


def test_the_listwise_fit_learns_within_question_differences_not_the_level() -> None:
    # "coverage" is higher on every candidate of the questions with a positive than of the others (a
    # pointwise fit would reward it), but within a question the positive is the one with the top "rank"
    rng = np.random.default_rng(5)
    cases = []
    for q in range(40):
        features = rng.normal(size=(3, len(FEATURES)))
        features[:, FEATURES.index("coverage")] += 5.0 * (q % 2)
        labels = np.zeros(3, np.int64)
        right = int(rng.integers(3))
        labels[right] = 1
        features[right, FEATURES.index("rank")] += 3.0
        cases.append(Case(item=None, retrieved=None, sufficient=True, features=features, labels=labels,  # type: ignore[arg-type]
                          candidates=[0, 1, 2]))
    chooser = fit(cases, 3, 10.0)
    assert int(np.argmax(np.abs(chooser.coef))) == FEATURES.index("rank")
    assert chooser.intercept == 0.0


def _features(snapshot, hits, question, bm25=None):  # type: ignore[no-untyped-def]
    query = np.zeros(8, np.float32)
    kind = question_kind(question)
    scored = scored_units(snapshot, hits, query, question, kind)
    return candidate_features(snapshot, hits, scored, [0, 1, 2], query, kind, bm25)


def test_the_bm25_features_read_retrievals_bm25_list() -> None:
    snapshot = tiny_snapshot(PASSAGES)
    hits = [Hit(0, 1.0), Hit(1, 0.9), Hit(2, 0.8)]
    question = "what treatment after a vertebral fracture?"
    # BM25 ranked passage 2 first (score 8), passage 0 second (score 4); passage 1 is not in its list
    table = _features(snapshot, hits, question, (np.asarray([2, 0]), np.asarray([8.0, 4.0])))
    rank, score = FEATURES.index("bm25_rank"), FEATURES.index("bm25_score")
    np.testing.assert_allclose(table[:, rank], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(table[:, score], [0.5, 0.0, 1.0])
    without = _features(snapshot, hits, question)  # dense mode: no BM25 list
    assert not without[:, [rank, score]].any()
    by_bm25 = _chooser("bm25_rank", 1.0)
    pieces = compose(snapshot, hits, np.zeros(8, np.float32), question, question_kind(question),
                     chooser=by_bm25, bm25=(np.asarray([2, 0]), np.asarray([8.0, 4.0])))
    assert pieces[0].hit == 2  # the composer hands retrieval's BM25 list to the chooser


def test_the_unit_and_heading_features() -> None:
    texts = ["Most vertebral fractures heal within three months. The physiotherapist advises walking:\n"
             "- every day from the first day\n- with a frame when balance is poor",
             "Osteoporosis drugs are given after every fragility fracture. They reduce new vertebral "
             "fractures by about 40%. Calcium and vitamin D are given with them.",
             "Bisphosphonates are the first line treatment for most patients."]
    snapshot = tiny_snapshot(texts, metas=[{"title": "Rehabilitation"}, {"title": "Osteoporosis drugs"},
                                           {"title": "Other"}])
    table = _features(snapshot, [Hit(0, 1.0), Hit(1, 0.9), Hit(2, 0.8)], "which osteoporosis drugs?")
    col = {name: table[:, FEATURES.index(name)] for name in FEATURES}
    np.testing.assert_array_equal(col["n_units"], [2, 3, 1])
    assert col["title_coverage"][1] > 0 and col["title_coverage"][0] == 0 and col["title_coverage"][2] == 0
    assert col["log_words"][1] > col["log_words"][2]
    np.testing.assert_allclose(col["kind_share"][0], 0.5)  # one of its two units is a list: what "which" asks
    assert col["second_unit"][2] == table[2, FEATURES.index("best_unit")]  # one unit: second = best


def test_the_runner_up_is_quoted_only_when_the_chooser_can_hardly_tell_them_apart() -> None:
    snapshot = tiny_snapshot(PASSAGES)
    hits = [Hit(0, 1.0), Hit(1, 0.9), Hit(2, 0.8)]
    question = "what treatment after a vertebral fracture?"
    kind = question_kind(question)
    query = np.zeros(8, np.float32)
    # scores by rank (1, 1/2, 1/3): the runner-up (hit 1) is 0.5 behind the main passage (hit 0)
    close = _chooser("rank", 1.0)
    wide = dataclasses.replace(close, second_margin=0.4, second_words=60)
    near = dataclasses.replace(close, second_margin=0.6, second_words=60)
    short = dataclasses.replace(near, second_words=5)  # the runner-up's unit has 13 words
    assert 1 not in {p.hit for p in compose(snapshot, hits, query, question, kind, chooser=wide)}
    pieces = compose(snapshot, hits, query, question, kind, chooser=near)
    assert pieces[0].hit == 0 and [p.text for p in pieces if p.hit == 1] == [PASSAGES[1]]
    assert 1 not in {p.hit for p in compose(snapshot, hits, query, question, kind, chooser=short)}
    again = PassageChooser.from_json(near.to_json())
    assert (again.second_margin, again.second_words) == (0.6, 60)


def test_room_is_made_for_the_runner_up_by_dropping_the_main_passages_weakest_units() -> None:
    long_main = " ".join(f"Walking after a vertebral fracture is advised on day {n} of the stay."
                         for n in range(WORD_BUDGET // 12 + 1))  # 13 words each: over the budget
    snapshot = tiny_snapshot([long_main, PASSAGES[1]])
    hits = [Hit(0, 1.0), Hit(1, 0.9)]
    question = "walking after a vertebral fracture"
    kind = question_kind(question)
    query = np.zeros(8, np.float32)
    alone = compose(snapshot, hits, query, question, kind, chooser=_chooser("rank", 1.0))
    assert {p.hit for p in alone} == {0} and sum(len(p.text.split()) for p in alone) > WORD_BUDGET - 13
    both = compose(snapshot, hits, query, question, kind,
                   chooser=dataclasses.replace(_chooser("rank", 1.0), second_margin=1.0, second_words=60))
    assert both[-1].hit == 1 and both[-1].text == PASSAGES[1]
    assert sum(len(p.text.split()) for p in both) <= WORD_BUDGET
    assert len([p for p in both if p.hit == 0]) < len(alone)
