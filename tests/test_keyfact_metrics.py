"""The key-fact figures: what counts as a complete answer, a false abstention, an abstained out-of-scope
question — and why a both-corpora author's out-of-scope question must be refused by both corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.authors import AuthorBatch, KeyFactItem, command_line_authors, named
from evals.data import Context
from evals.keyfacts import asked_twice
from evals.metrics.keyfacts import KeyFactRecord, keyfact_metrics


def rec(id_: str, expected: str, mode: str, found: int | None = None, n: int = 2,
        second: bool = False) -> KeyFactRecord:
    return KeyFactRecord(id=id_, author="x", expected_mode=expected, mode=mode, n_facts=n, facts_found=found,
                         words=10 if found is not None else 0, follow_up=False, second_corpus=second)


def test_complete_answers_false_abstentions_and_banners() -> None:
    m = keyfact_metrics([rec("1", "answer", "extractive", 2), rec("2", "answer", "extractive", 1),
                         rec("3", "answer", "abstain"), rec("4", "answer", "red_flag")])
    assert m["all_facts"] == 0.25
    assert m["fact_share"] == 3 / 8
    assert m["false_abstentions"] == 1 and m["red_flag_banners"] == 1


def test_a_banner_counts_below_it_only_when_its_related_answer_holds_every_fact() -> None:
    from dataclasses import replace

    records = [rec("1", "answer", "extractive", 2), replace(rec("2", "answer", "red_flag"), related_found=2),
               replace(rec("3", "answer", "red_flag"), related_found=1), rec("4", "answer", "red_flag")]
    m = keyfact_metrics(records)
    assert m["all_facts"] == 0.25  # the strict figure never counts a banner
    assert m["all_facts_with_related_answers"] == 0.5


def test_an_out_of_scope_question_answered_by_its_second_corpus_is_not_abstained_on_every_corpus() -> None:
    records = [rec("o1", "abstain", "abstain"), rec("o1", "abstain", "extractive", second=True),
               rec("o2", "abstain", "abstain"), rec("o2", "abstain", "abstain", second=True),
               rec("o3", "abstain", "abstain"), rec("a", "answer", "extractive", 2)]
    m = keyfact_metrics(records)
    assert m["n_out_of_scope"] == 3  # the second asks are not extra questions
    assert m["abstain_rate_out_of_scope"] == 1.0  # as first asked
    assert m["abstain_rate_out_of_scope_every_corpus"] == 2 / 3
    assert m["n_out_of_scope_asked_twice"] == 2
    assert m["n_in_scope"] == 1 and m["all_facts"] == 1.0


def batch(about: str, items: list[KeyFactItem]) -> AuthorBatch:
    return AuthorBatch("x", "2026-12-02", about, Path("x.jsonl"), "0" * 64, items)


def test_only_both_corpora_authors_unreferenced_out_of_scope_questions_are_asked_twice() -> None:
    oos = KeyFactItem("o", "can she drive after her vertebroplasty?", expected_mode="abstain")
    seed_oos = KeyFactItem("s", "cost of a kyphoplasty kit?", expected_mode="abstain", tags=["seed"])
    inscope = KeyFactItem("i", "PE signs?", reference_contexts=[Context("pulmonary_cement_embolism", None)])
    both = batch("corpus: shipped and open-medicine", [oos, seed_oos, inscope])
    only_open = batch("corpus: open-medicine", [KeyFactItem("p", "x?", expected_mode="abstain")])
    assert [i.id for i in asked_twice([both, only_open])] == ["o"]


def test_authors_named_by_short_id_are_whole_ids_in_the_lists_order() -> None:
    authors = ("b1-ward-nurse", "b10-night-anp", "b24-radiographer")
    assert named(authors, ["b24", "b1"]) == ("b1-ward-nurse", "b24-radiographer")  # never b10 for b1
    assert named(authors, ["b10-night-anp"]) == ("b10-night-anp",)
    assert named(authors, None) == named(authors, []) == authors


def test_command_line_authors_take_short_ids_and_refuse_a_name_no_batch_has() -> None:
    assert command_line_authors("answers", None) is None
    assert command_line_authors("answers", "b1,b24") == {"b1-ward-nurse-physio",
                                                         "b24-radiographer-palliative-nurse"}
    assert command_line_authors("redflag", "a1") == {"a1-ed-nurse"}
    with pytest.raises(SystemExit, match="b99"):
        command_line_authors("answers", "b1,b99")
