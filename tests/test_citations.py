"""From answer sentences to `answer`, `citations` and `answer_parts` (service/citations.py): numbering by
first use, only cited passages listed, provenance labels, locators. In-process, on a hand-built snapshot."""

from __future__ import annotations

from service.citations import (
    AnswerSentence,
    numbering,
    passage,
    provenance_fields,
    provenance_label,
    render,
    structured,
)
from service.retrieval import Hit
from tests.support.snapshots import tiny_snapshot

TEXTS = ["Cement leaks are common.", "Most leaks cause no symptoms.", "Unused passage text here."]
HITS = [Hit(0, 1.0), Hit(1, 0.8), Hit(2, 0.5)]


def test_numbers_follow_first_use_and_only_cited_passages_are_listed() -> None:
    snapshot = tiny_snapshot(TEXTS, metas=[{"organisation": "Society", "year": 2020}, {}, {}])
    sentences = [AnswerSentence("Leaks are common.", (1,)), AnswerSentence("Mostly silent.", (0, 1, 0))]
    pieces, citations = render(snapshot, HITS, sentences)
    assert pieces == ["Leaks are common. [1]", "Mostly silent. [2][1]"]
    assert [(c.n, c.chunk_id) for c in citations] == [(1, "c1"), (2, "c0")]
    assert citations[1].organisation == "Society" and citations[1].year == 2020
    assert numbering(sentences) == {1: 1, 0: 2}


def test_structured_parts_carry_the_same_numbers_as_the_text() -> None:
    sentences = [AnswerSentence("A.", (2,)), AnswerSentence("B.", (0, 2))]
    parts = structured(sentences)
    assert [(p.text, p.citations) for p in parts] == [("A.", [1]), ("B.", [2, 1])]


def test_provenance_label_says_kind_year_and_review() -> None:
    assert provenance_label({"source_kind": "research"}, 2011) == "Research article, 2011"
    assert provenance_label({"source_kind": "answer-page", "review_status": "pending-review"}, 2025) == (
        "AI-generated answer page, 2025, pending review"
    )
    assert provenance_label({}) == ""


def test_unknown_provenance_values_from_an_old_store_are_dropped_not_a_500() -> None:
    fields = provenance_fields({"source_kind": "blog", "review_status": "maybe", "reviewer_role": "GP"})
    assert fields == {"reviewer_role": "GP", "provenance": None}


def test_passage_scores_are_capped_and_locators_carried() -> None:
    snapshot = tiny_snapshot(TEXTS, metas=[{"page": 4, "anchor": ""}, {}, {}])
    p = passage(snapshot, Hit(0, 1.7))
    assert p.score == 1.0 and p.page == "4" and p.anchor is None
    assert p.doc_id == "d0" and p.text == TEXTS[0]
