"""Marked words for the rules' findings (`learned.model_text`): which finding a negation, a past or another
person's event belongs to, as words a linear model can weigh. In process, no embedder."""

from __future__ import annotations

import numpy as np

from service.guardrails.detector import _detect_piece
from service.guardrails.learned import LearnedModel, model_text


def test_unscoped_models_read_the_normalised_text_only() -> None:
    result = _detect_piece("no chest pain but very short of breath now")
    assert model_text(result) == result.normalised
    assert model_text(_detect_piece("what is the dose of alendronate?"), True) == \
        _detect_piece("what is the dose of alendronate?").normalised


def test_a_finding_is_marked_with_its_own_state() -> None:
    negated_pain = model_text(_detect_piece("no chest pain but very short of breath now"), True).split()
    assert {"neg_chest", "neg_pain", "act_breath"} <= set(negated_pain)
    assert "act_pain" not in negated_pain
    current_pain = model_text(_detect_piece("crushing chest pain now, not short of breath"), True).split()
    assert {"act_chest", "act_pain"} <= set(current_pain)
    assert "neg_pain" not in current_pain
    resolved = model_text(_detect_piece("had severe chest pain yesterday, resolved"), True).split()
    assert "res_pain" in resolved and "act_pain" not in resolved


def test_a_scoped_model_sees_the_marked_words_and_an_unscoped_one_does_not() -> None:
    vocabulary = ["neg_pain", "act_pain", "chest"]
    idf = np.ones(len(vocabulary))
    scoped = LearnedModel._bare(vocabulary, idf, 1.0, scoped=True)
    plain = LearnedModel._bare(vocabulary, idf, 1.0)
    embedding = np.zeros(384)
    negated = _detect_piece("no chest pain today")
    current = _detect_piece("chest pain right now")

    def words(model: LearnedModel, result) -> set[str]:
        _, cols, _ = model.features(embedding, result)
        return {vocabulary[c] for c in cols}

    assert words(scoped, negated) == {"neg_pain", "chest"}
    assert words(scoped, current) == {"act_pain", "chest"}
    assert words(plain, negated) == words(plain, current) == {"chest"}
