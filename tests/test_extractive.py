"""Sentence selection for the extractive answer (service/extractive.py) on a hand-built snapshot whose
sentence vectors the test chooses: relevance, the cut-off, near duplicates, fragments, the length budget and
reading order. In-process, no model; the served answers are in test_answering.py."""

from __future__ import annotations

import numpy as np

from service.extractive import (
    MAX_CHARS,
    MAX_SENTENCES,
    best_sentence_similarity,
    candidate_sentences,
    select_quotes,
    usable,
)
from service.retrieval import Hit
from tests.support.snapshots import tiny_snapshot

DIM = 8


def unit(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


QUERY = unit(1.0)


def snapshot_with(passages: list[list[tuple[str, np.ndarray]]]):
    """One passage per list of (sentence, vector); the sentences are joined as the passage text."""
    texts = [" ".join(s for s, _ in p) for p in passages]
    vecs = np.stack([v for p in passages for _, v in p])
    snapshot = tiny_snapshot(texts, sent_vecs=vecs)
    assert len(snapshot.sent_texts) == len(vecs), "each test sentence must be one sentence to ingest"
    return snapshot


def test_fragments_and_lead_ins_are_not_answers() -> None:
    assert usable("Cement leakage is usually asymptomatic.")
    assert not usable("Appropriate medical options include:")
    assert not usable("See below.")


def test_the_most_similar_sentence_is_quoted_and_weak_ones_are_cut() -> None:
    snapshot = snapshot_with([[
        ("Cement leakage occurs in most vertebroplasty procedures.", unit(1.0, 0.1)),
        ("The procedure room should be kept at a comfortable temperature.", unit(0.0, 1.0)),
    ]])
    quotes = select_quotes(snapshot, [Hit(0, 1.0)], QUERY)
    assert [q.text for q in quotes] == ["Cement leakage occurs in most vertebroplasty procedures."]
    assert quotes[0].hit == 0 and quotes[0].sentence_row == 0


def test_near_duplicates_are_quoted_once() -> None:
    same = "Cement leakage occurs in most vertebroplasty procedures and is usually asymptomatic."
    snapshot = snapshot_with([[(same, unit(1.0, 0.05))], [(same.replace("most", "many"), unit(1.0, 0.06))]])
    quotes = select_quotes(snapshot, [Hit(0, 1.0), Hit(1, 0.9)], QUERY)
    assert len(quotes) == 1


def test_at_most_max_sentences_within_the_character_budget() -> None:
    facts = [
        "Cement leakage into the paravertebral veins is seen on most postoperative scans.",
        "Pulmonary cement embolism happens in a small share of augmented levels overall.",
        "Symptomatic leaks are rare and usually present with radicular pain or weakness.",
        "Adjacent level fractures follow in roughly one patient of every ten treated.",
        "Osteoporosis treatment after augmentation lowers the chance of further collapse.",
        "Early mobilisation is encouraged once the anaesthetic has fully worn off.",
        "Infection at the injection site remains an uncommon but serious complication.",
        "Kyphoplasty restores some vertebral height compared with conservative care alone.",
    ]
    sentences = [(fact, unit(1.0, 0.01 * i, 0.02 * (i % 3), 0.03 * (i % 2))) for i, fact in enumerate(facts)]
    snapshot = snapshot_with([sentences[:4], sentences[4:]])
    quotes = select_quotes(snapshot, [Hit(0, 1.0), Hit(1, 1.0)], QUERY)
    assert len(quotes) == MAX_SENTENCES


def test_sentences_past_the_character_budget_are_left_out() -> None:
    words = ["cement", "leak", "embolism", "fracture", "osteoporosis", "pain"]
    long = [(" ".join(f"{w}{i}{j}" for j in range(40)).capitalize() + ".", unit(1.0, 0.01 * i))
            for i, w in enumerate(words)]
    assert all(len(t) > MAX_CHARS / 3 for t, _ in long)
    quotes = select_quotes(snapshot_with([long]), [Hit(0, 1.0)], QUERY)
    assert 1 <= len(quotes) < MAX_SENTENCES
    assert sum(len(q.text) for q in quotes) <= MAX_CHARS


def test_quotes_read_grouped_by_passage_in_document_order() -> None:
    snapshot = snapshot_with([
        [("Pain after vertebroplasty usually settles within two days.", unit(0.9, 0.3)),
         ("Persistent pain needs imaging to look for a new fracture.", unit(1.0, 0.0, 0.3))],
        [("A new fracture is confirmed on MRI with STIR sequences.", unit(0.95, 0.0, 0.0, 0.3))],
    ])
    quotes = select_quotes(snapshot, [Hit(0, 1.0), Hit(1, 0.5)], QUERY)
    assert [(q.hit, q.sentence_row) for q in quotes] == sorted((q.hit, q.sentence_row) for q in quotes)
    assert {q.hit for q in quotes} == {0, 1}


def test_question_words_separate_sentences_of_similar_vectors() -> None:
    snapshot = snapshot_with([[
        ("Teriparatide is an option after vertebral fracture.", unit(1.0, 0.2)),
        ("Denosumab is an option after vertebral fracture.", unit(1.0, 0.2)),
    ]])
    from service.text import content_terms

    quotes = select_quotes(snapshot, [Hit(0, 1.0)], QUERY, frozenset(content_terms("denosumab")))
    assert quotes[0].text.startswith("Denosumab")


def test_no_hits_no_quotes_and_zero_similarity() -> None:
    snapshot = snapshot_with([[("Cement leakage occurs in most vertebroplasty procedures.", unit(1.0))]])
    assert select_quotes(snapshot, [], QUERY) == []
    assert best_sentence_similarity(snapshot, [], QUERY) == 0.0
    rows, owners = candidate_sentences(snapshot, [Hit(0, 1.0)])
    assert rows.tolist() == [0] and owners.tolist() == [0]
    assert best_sentence_similarity(snapshot, [Hit(0, 1.0)], QUERY) == np.float32(1.0)
