"""Training the red-flag learned layer: same data gives the same weights, and the service featurises a text
exactly as training did (clause pooling included), so the decision measured in training is the one served.

A hash-seeded fake embedder stands in for MiniLM: the point is the training and serving arithmetic, not the
embedder, and the test then runs in the fast tier.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the train extra (scikit-learn) trains the model")

from service.guardrails.detector import _detect_piece  # noqa: E402
from service.guardrails.learned import MAX_CLAUSES, LearnedModel, LearnedScreen, clauses  # noqa: E402
from service.guardrails.train_learned import Featuriser, fit, load_rows, save, training_units  # noqa: E402
from tests.support.redflag_toy import NEGATIVES, POSITIVES, toy_rows  # noqa: E402


class FakeEmbedder:
    """Unit vectors seeded by each text's hash: deterministic, distinct per text, no model files."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=384)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


def _units() -> list:
    return training_units(toy_rows(["stroke", "anaphylaxis"]))


@pytest.mark.parametrize("hidden", [0, 8])
def test_same_data_same_weights(hidden: int) -> None:
    a, b = (fit(_units(), Featuriser(FakeEmbedder()), (0.1, 0.1), {"version": "x"}, clause_pool=True,
                hidden=hidden) for _ in range(2))
    assert np.array_equal(a.coef, b.coef) and a.intercept == b.intercept
    assert (a.hidden is None) == (hidden == 0)
    if hidden:
        assert np.array_equal(a.hidden, b.hidden)
    assert np.array_equal(a.cat_coef, b.cat_coef) and a.meta["vocabulary"] == b.meta["vocabulary"]
    width = 2 * 384 + len(a.meta["rule_features"]) + len(a.vocab)
    assert a.clause_pool and (a.hidden.shape[0] if hidden else len(a.coef)) == width


@pytest.mark.parametrize(("clause_pool", "hidden"), [(True, 0), (False, 0), (True, 8)])
def test_serving_scores_what_training_featurised(clause_pool: bool, hidden: int) -> None:
    embedder = FakeEmbedder()
    feats = Featuriser(embedder)
    model = fit(_units(), feats, (0.1, 0.1), {"version": "x"}, clause_pool=clause_pool, hidden=hidden)
    screen = LearnedScreen(embedder, model)
    for text in POSITIVES + NEGATIVES:
        pooled = feats.clause_vectors([text])[0] if clause_pool else None
        expected = model.score(feats.embed([text])[0], _detect_piece(text), pooled).probability
        assert screen.score(text).probability == pytest.approx(expected, abs=1e-6)


def test_clause_pooling_changes_the_score_of_a_buried_finding() -> None:
    """The pooled view is really used: the same model without it scores a multi-clause text differently."""
    feats = Featuriser(FakeEmbedder())
    model = fit(_units(), feats, (0.1, 0.1), {"version": "x"}, clause_pool=True)
    text = POSITIVES[2]
    emb = feats.embed([text])[0]
    with_pool = model.score(emb, _detect_piece(text), feats.clause_vectors([text])[0]).probability
    without = model.score(emb, _detect_piece(text), None).probability
    assert with_pool != without


def test_clauses_split_at_sentences_and_but_and_never_at_list_commas() -> None:
    text = ("is it normal that his knees buckle? he was fine yesterday but now he is clammy and grey"
            " - can it wait?")
    assert clauses(text) == ["is it normal that his knees buckle?", "he was fine yesterday",
                             "but now he is clammy and grey", "can it wait?"]
    assert clauses("no fever, no rash, no new weakness") == ["no fever, no rash, no new weakness"]
    long = ". ".join(f"sentence number {i} here" for i in range(20)) + ". now sats 80%"
    parts = clauses(long)
    assert len(parts) == MAX_CLAUSES and parts[-1].endswith("now sats 80%")


def test_training_only_red_flag_batches_keep_their_author() -> None:
    """Leave-one-author-out needs each training-only red-flag batch (a7, a8) under its own author name."""
    groups = {r.group for r in load_rows()}
    assert {"a7-np-paramedic", "a8-fy-daysurgery-carehome", "training-ordinary"} <= groups
    assert "training" not in groups


def test_retraining_the_same_weights_writes_the_same_file(tmp_path) -> None:
    """The saved weights are byte-identical for identical training (np.savez_compressed stamped the time of
    writing into the zip, so every retrain had a new sha256 and a new model version), and load back."""
    meta = {"version": "x", "trained": "2026-12-02"}
    saved = []
    for run in ("first", "second"):
        model = fit(_units(), Featuriser(FakeEmbedder()), (0.1, 0.1), meta, clause_pool=True)
        saved.append(save(model, tmp_path / run))
        if run == "first":
            time.sleep(2.1)  # a zip timestamp has two-second resolution: the second save is in another slot
    first, second = ((tmp_path / run / "redflag.npz").read_bytes() for run in ("first", "second"))
    assert first == second
    assert saved[0]["sha256"] == saved[1]["sha256"] and saved[0]["version"] == saved[1]["version"]
    loaded = LearnedModel.load(tmp_path / "first")
    assert np.array_equal(loaded.coef, model.coef.astype(np.float32).astype(np.float64))
    assert np.array_equal(loaded.cat_coef, model.cat_coef.astype(np.float32).astype(np.float64))


def test_gated_embeddings_are_served_as_trained() -> None:
    """A model with gates (copies of the embedding kept only where the rules saw a feature) scores in serving
    what training featurised, and the gated copy is really read: zeroing its weights changes a gated text."""
    embedder = FakeEmbedder()
    feats = Featuriser(embedder)
    gates = ("verdict", "modified:negated")
    model = fit(_units(), feats, (0.1, 0.1), {"version": "x"}, clause_pool=True, gates=gates)
    assert model.meta["gates"] == list(gates) and len(model.coef) == (
        4 * 384 + len(model.meta["rule_features"]) + len(model.vocab))
    screen = LearnedScreen(embedder, model)
    for text in POSITIVES + NEGATIVES:
        expected = model.score(feats.embed([text])[0], _detect_piece(text),
                               feats.clause_vectors([text])[0]).probability
        assert screen.score(text).probability == pytest.approx(expected, abs=1e-6)
    gated = next(t for t in POSITIVES + NEGATIVES if _detect_piece(t).verdict is not None)
    before = screen.score(gated).probability
    model.coef[2 * 384 + len(model.meta["rule_features"]):4 * 384 + len(model.meta["rule_features"])] = 0.0
    assert screen.score(gated).probability != pytest.approx(before, abs=1e-9)


def test_thresholds_hold_recall_when_asked() -> None:
    """Loao.best(min_recall): the cost model alone gives up a rare emergency to spare many banners; with a
    recall floor it keeps the emergency and is the cheapest pair that does."""
    from service.guardrails.train_learned import Loao

    pooled = [("a1", (True, [(True, 0.9)]))] * 99 + [("a1", (True, [(False, 0.03)]))]
    pooled += [("ordinary-b1", (False, [(False, 0.035)]))] * 10
    scores = Loao(pooled, [])
    assert scores.recall(scores.best()) == 0.99
    held = scores.best(min_recall=1.0)
    assert scores.recall(held) == 1.0 and held[1] == 0.03


def test_the_v8_split_weighs_every_training_author_and_holds_out_later_batches() -> None:
    """v8 trains on thirteen red-flag authors, each case at the author weight (v5's: look-alikes as
    emergencies); a batch the split does not name (written later, e.g. a19) is held out, never trained on."""
    from service.guardrails.train_learned import SPLITS, V5_RECIPE, Row, _in_training, held_out_groups

    split = SPLITS["v8"]
    rows = [Row("a12-spinal-ward-111", "sats 80 on air", None, True, "sepsis"),
            Row("a12-spinal-ward-111", "what is the target sats in COPD?", None, False, None),
            Row("ordinary-b10-hospital-night-anp-gp-partner", "apixaban dose?", None, False, None),
            Row("a19-someone-new", "unread", None, True, None),
            Row("ordinary-b15-someone-new", "unread", None, False, None),
            Row("a4-nonnative-textspeak", "unread", None, True, None)]
    train = [r for r in rows if _in_training(r, None, split.authors, split.ordinary)]
    assert [r.group for r in train] == [rows[0].group, rows[1].group, rows[2].group]
    recipe = V5_RECIPE
    units = training_units(train, recipe.ordinary_weight, recipe.author_weight, recipe.lookalike_weight)
    assert [w for *_, w in units] == [3.0, 3.0, 6.0]
    held = held_out_groups(rows, split)
    assert {"a19-someone-new", "ordinary-b15-someone-new", "a4-nonnative-textspeak"} <= set(held)
    assert not set(held) & {r.group for r in train}


def test_v9_is_v8s_data_and_recipe_with_thresholds_held_to_the_recall_target() -> None:
    """v9 differs from v8 only in how thresholds are chosen: the cheapest pair holding LOAO recall 0.99 (the
    issue's target), not v8's cost-chosen pair; its files record that split and its held-out authors, a21
    and a22 (written after v9 was fixed) among them."""
    import json

    from service.guardrails.learned import MODEL_DIR
    from service.guardrails.train_learned import SPLITS, V9_HOLD_RECALL

    v8, v9 = SPLITS["v8"], SPLITS["v9"]
    assert (v9.authors, v9.ordinary, v9.recipe) == (v8.authors, v8.ordinary, v8.recipe)
    assert v9.hold_recall == V9_HOLD_RECALL == 0.99 and v8.hold_recall is None
    meta = json.loads((MODEL_DIR / "v9" / "redflag.json").read_text(encoding="utf-8"))
    assert {"a21-stroke-nurse-pharmacy-helpline", "a22-care-navigator-cardio-reg"} <= set(meta["held_out"])
    assert not set(meta["held_out"]) & set(meta["trained_on"])
    loao = meta["loao_figures"]["pooled-redflag"]
    assert loao["caught"] / loao["positives"] >= V9_HOLD_RECALL


def test_v10_is_v9_with_four_more_training_authors_and_the_same_threshold_rule() -> None:
    """v10 = v9's recipe and threshold rule on a17-a20 as well; its held-out authors (a23 and a24 among them,
    written after it was fixed) are none of its training authors."""
    import json

    from service.guardrails.learned import MODEL_DIR
    from service.guardrails.train_learned import SPLITS

    v9, v10 = SPLITS["v9"], SPLITS["v10"]
    assert set(v10.authors) - set(v9.authors) == {"a17-crisis-custody", "a18-occhealth-expedition",
                                                   "a19-neurosurg-telehealth", "a20-hca-rural-anp"}
    assert (v10.ordinary, v10.recipe, v10.hold_recall) == (v9.ordinary, v9.recipe, v9.hold_recall)
    meta = json.loads((MODEL_DIR / "v10" / "redflag.json").read_text(encoding="utf-8"))
    assert {"a23-physio-cmh-nurse", "a24-surgical-nurse-family"} <= set(meta["held_out"])
    assert not set(meta["held_out"]) & set(meta["trained_on"])
    assert "a17-crisis-custody" in meta["trained_on"]
