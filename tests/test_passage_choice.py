"""The learned main-passage choice: weights read and checked, applied by the composer, fitted reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from evals.train_passage_choice import Case, fit
from service.composer import compose
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
    first, second = fit(cases, 3), fit(cases, 3)
    np.testing.assert_array_equal(first.coef, second.coef)
    assert int(np.argmax(first.coef)) == FEATURES.index("coverage")
