"""The learned abstention decision: its signals, its weights file, the rule as fallback, and the training
script's leave-one-author-out (no fold sees its held author)."""

from __future__ import annotations

import dataclasses
import json

import bm25s
import numpy as np
import pytest

import service.abstention_model as abstention_model
from evals import train_abstention
from evals.authors import ANSWERS_HELD_OUT
from service.abstention import Evidence
from service.abstention_features import FEATURES, SupportInputs, support_features
from service.abstention_model import AbstentionModel
from service.retrieval import Hit
from service.text import content_terms, passage_text
from tests.support.snapshots import tiny_snapshot

PASSAGES = [
    "Cement leakage occurs in about 30% of vertebroplasty procedures. Most leaks cause no symptoms.",
    "Pain after vertebroplasty usually settles within two days. Paracetamol is enough for most patients.",
    "Osteoporosis treatment with bisphosphonates lowers the risk of a new fracture.",
]


def snapshot_with_bm25():
    snap = tiny_snapshot(PASSAGES)
    bm25 = bm25s.BM25()
    bm25.index([content_terms(passage_text("S", t)) or [""] for t in PASSAGES], show_progress=False)
    dim = snap.sent_vecs.shape[1]
    chunk_vecs = np.eye(len(PASSAGES), dim, dtype=np.float32)  # passage i points along axis i
    return dataclasses.replace(snap, bm25=bm25, chunk_vecs=chunk_vecs)


def features(question: str, hits: list[int], towards: int = 0, unknown: tuple[str, ...] = ()) -> dict:
    snap = snapshot_with_bm25()
    query_vec = np.zeros(snap.chunk_vecs.shape[1], dtype=np.float32)
    query_vec[towards] = 1.0
    inputs = SupportInputs(snap, [Hit(r, 1.0 / (1 + i)) for i, r in enumerate(hits)], question, question,
                           query_vec, 0.6, 0.6, unknown, leaning=False)
    values = support_features(inputs, lambda word: 4)
    assert values.shape == (len(FEATURES),)
    return dict(zip(FEATURES, values.tolist(), strict=True))


def test_a_passage_holding_the_question_words_covers_it_and_the_retrievers_agree() -> None:
    f = features("how common is cement leakage after vertebroplasty?", [0, 1])
    assert f["coverage_top"] < 1.0  # "common" is not in the passage
    g = features("cement leakage vertebroplasty procedures", [0, 1])
    assert g["coverage_top"] == pytest.approx(1.0) and g["coverage_best"] == pytest.approx(1.0)
    assert g["agree_top"] == 1.0 and g["dense_in_bm25"] == 1.0  # BM25 and dense both put passage 0 first
    assert g["top_cos"] == pytest.approx(1.0) and g["fused_top"] == pytest.approx(1.0)
    assert g["bm25_per_idf"] > 0 and g["unknown_plain"] == 0


def test_words_the_corpus_never_uses_and_disagreeing_retrievers_show() -> None:
    f = features("when can the patient drive after vertebroplasty?", [1, 0], towards=2,
                 unknown=("ibandronate",))
    assert f["unknown_plain"] == 1.0  # "drive": one piece, not specialised, still never in the corpus
    assert f["unknown_count"] == 1.0 and f["unknown_pieces"] == 4.0
    assert f["known_share"] < 1.0
    assert f["top_cos"] == 0.0  # the top hit (passage 1) is orthogonal to the query direction
    # the rule's terms: support 1.2 with an unknown specialised word is below its bar of 1.25
    assert f["rule_covers"] == 0.0 and f["rule_margin"] == pytest.approx(1.2 - 1.25)


def test_retrievals_own_bm25_list_gives_the_signals_scoring_the_question_again_would() -> None:
    # judge_support hands the signals retrieval's BM25 list for the question instead of ranking it twice
    from service.abstention_features import BM25_DEPTH
    from service.followup import QueryText
    from service.retrieval import retrieve

    snap = snapshot_with_bm25()
    question = "cement leakage after vertebroplasty"
    query_vec = np.zeros(snap.chunk_vecs.shape[1], dtype=np.float32)
    query_vec[0] = 1.0
    retrieval = retrieve(snap, [QueryText(question, 1.0)], query_vec[None, :], k=3, depth=BM25_DEPTH)
    assert retrieval.depth == BM25_DEPTH and len(retrieval.bm25) == 1
    inputs = SupportInputs(snap, retrieval.hits, question, question, query_vec, 0.6, 0.6, (), leaning=False)
    scored_here = support_features(inputs, lambda word: 4)
    reused = support_features(dataclasses.replace(inputs, bm25=retrieval.bm25[0]), lambda word: 4)
    assert np.array_equal(reused, scored_here)
    assert retrieval.top_bm25 == [float(retrieval.bm25[0][1][0])]


def test_question_kind_is_one_hot() -> None:
    f = features("what dose of paracetamol after vertebroplasty?", [1])
    assert f["kind_quantity"] == 1.0
    assert f["kind_list"] + f["kind_action"] + f["kind_test"] == 0.0


def toy_model(threshold: float = 0.5) -> AbstentionModel:
    """Answers exactly when coverage_top is above 0.5 (all other weights zero)."""
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index("coverage_top")] = 10.0
    mean = np.zeros(len(FEATURES))
    mean[FEATURES.index("coverage_top")] = 0.5
    return AbstentionModel(mean, np.ones(len(FEATURES)), coef, 0.0, threshold)


def signals(coverage_top: float) -> tuple[float, ...]:
    row = [0.0] * len(FEATURES)
    row[FEATURES.index("coverage_top")] = coverage_top
    return tuple(row)


def test_the_shipped_model_decides_over_the_rule(monkeypatch) -> None:
    monkeypatch.setattr(abstention_model, "shipped_model", lambda: toy_model())
    # the rule would answer (support 1.2, no unknown word); the model reads no coverage and abstains
    assert not Evidence(0.6, 0.6, (), signals(0.1)).sufficient
    # the rule would abstain (support 0.8); the model reads full coverage and answers
    assert Evidence(0.4, 0.4, (), signals(0.9)).sufficient


def test_without_weights_or_signals_the_rule_decides(monkeypatch) -> None:
    monkeypatch.setattr(abstention_model, "shipped_model", lambda: None)
    assert Evidence(0.6, 0.6, (), signals(0.1)).sufficient
    assert not Evidence(0.6, 0.6, ("ibandronate",), signals(0.9)).sufficient
    monkeypatch.setattr(abstention_model, "shipped_model", lambda: toy_model())
    assert not Evidence(0.4, 0.4).sufficient  # no signals computed: the rule


def test_weights_round_trip_and_a_stale_file_is_refused() -> None:
    model = toy_model(0.7)
    again = AbstentionModel.from_json(json.loads(json.dumps(model.to_json(note="x"))))
    rows = np.asarray([signals(0.2), signals(0.8)])
    np.testing.assert_allclose(again.probability(rows), model.probability(rows))
    assert again.threshold == 0.7
    stale = model.to_json()
    stale["features"] = stale["features"][:-1]
    with pytest.raises(ValueError, match="feature list"):
        AbstentionModel.from_json(stale)
    short = model.to_json()
    short["features"], short["coef"] = list(FEATURES), short["coef"][:-1]
    with pytest.raises(ValueError, match="one value per feature"):
        AbstentionModel.from_json(short)


def test_the_shipped_weights_load_and_were_fitted_without_the_held_out_authors() -> None:
    assert abstention_model.WEIGHTS_PATH.exists()
    data = json.loads(abstention_model.WEIGHTS_PATH.read_text(encoding="utf-8"))
    model = AbstentionModel.from_json(data)
    assert 0.0 < model.threshold < 1.0
    assert data["trained_on"] and not set(data["trained_on"]) & set(ANSWERS_HELD_OUT)
    assert set(data["leave_one_author_out"]) == set(data["trained_on"])


def toy_cases() -> list[train_abstention.Case]:
    """Three authors; in scope when the first feature is high, with one noisy case each."""
    rng = np.random.default_rng(1)
    cases = []
    for author in ("a", "b", "c"):
        for i in range(30):
            in_scope = i % 3 != 0
            row = rng.normal(size=len(FEATURES))
            row[0] += 2.0 if in_scope else -2.0
            cases.append(train_abstention.Case(author, f"{author}{i}", "shipped", in_scope, row, in_scope))
        cases[-1].in_scope = not cases[-1].in_scope
    return cases


def test_best_threshold_separates_separable_probabilities() -> None:
    probs = np.asarray([0.1, 0.2, 0.3, 0.7, 0.8])
    labels = np.asarray([False, False, False, True, True])
    threshold = train_abstention.best_threshold(probs, labels)
    assert 0.3 < threshold <= 0.7
    assert train_abstention.cost(probs, labels, threshold) == 0


def test_a_fold_never_sees_its_held_author() -> None:
    cases = toy_cases()
    folds = train_abstention.leave_one_author_out(cases, ["a", "b", "c"])
    flipped = [dataclasses.replace(c, in_scope=not c.in_scope, features=-c.features) if c.author == "a" else c
               for c in cases]
    again = train_abstention.leave_one_author_out(flipped, ["a", "b", "c"])
    # the model and threshold for held-out "a" come from "b" and "c" only
    assert (again["a"]["C"], again["a"]["threshold"]) == (folds["a"]["C"], folds["a"]["threshold"])
    assert folds["a"]["learned"]["in_scope"] == sum(c.in_scope for c in cases if c.author == "a")


def test_fitting_is_deterministic() -> None:
    cases = toy_cases()
    one, two = train_abstention.fit(cases, 0.1), train_abstention.fit(cases, 0.1)
    np.testing.assert_array_equal(one.coef, two.coef)
    assert one.intercept == two.intercept
    assert train_abstention.choose(cases) == train_abstention.choose(cases)


def test_saved_cases_round_trip_and_other_signals_are_refused(tmp_path) -> None:
    """Cross-fitting saves signals in one checkout (another dense adapter) and fits them in another."""
    cases = toy_cases()
    path = tmp_path / "cases.json"
    train_abstention.save_cases(cases, path)
    again = train_abstention.load_cases([path])
    assert [(c.author, c.id, c.in_scope, c.rule_answers) for c in again] == \
        [(c.author, c.id, c.in_scope, c.rule_answers) for c in cases]
    np.testing.assert_allclose(np.stack([c.features for c in again]), np.stack([c.features for c in cases]))
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="other signals"):
        train_abstention.load_cases([path])
