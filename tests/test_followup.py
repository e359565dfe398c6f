"""Fast, in-process tests of follow-up resolution (service/followup.py) and of the composer not repeating the
conversation: no server, no model."""

from __future__ import annotations

import pytest

from service.composer import repeats
from service.followup import (
    answer_head,
    context_turns,
    depends_on_context,
    listed_items,
    ordinal_item,
    previous_answer,
    query_texts,
    resolved_question,
)
from service.models import Turn
from service.question_kind import QuestionKind, question_kind
from service.text import content_terms

DRUGS_Q = "Which osteoporosis drugs are options after VP?"
DRUGS_A = "Bisphosphonates, denosumab and teriparatide."


def _history(user: str, assistant: str) -> list[Turn]:
    return [Turn(role="user", content=user), Turn(role="assistant", content=assistant)]


def test_ordinal_reference_resolves_to_the_listed_item() -> None:
    history = _history(DRUGS_Q, DRUGS_A)
    question = "what about the second one - anything we need to watch for?"
    assert resolved_question(question, history) == "what about denosumab - anything we need to watch for?"
    texts = query_texts(question, history)
    assert texts[0].text == question  # the question as asked always comes first
    assert any(t.text.startswith("what about denosumab") and t.weight > 1.5 for t in texts)


def test_listed_items_drop_clauses_and_qualifiers() -> None:
    answer = ("Teriparatide or abaloparatide for up to 2 years, or romosozumab for 12 months, "
              "followed by an antiresorptive.")
    assert listed_items(answer) == ["Teriparatide", "abaloparatide", "romosozumab"]
    found = ordinal_item("is the last one still an option for her?", answer)
    assert found is not None and found[1] == "romosozumab"
    assert listed_items("- aspirin\n- clopidogrel [2]") == ["aspirin", "clopidogrel"]


def test_the_enumerating_clause_names_the_items() -> None:
    lead_in = ("Treatment should start after the fracture heals; options include alendronate, zoledronate "
               "and denosumab.")
    assert listed_items(lead_in) == ["alendronate", "zoledronate", "denosumab"]
    assert listed_items("Apixaban and rivaroxaban — both need a dose check in renal impairment.") == \
        ["Apixaban", "rivaroxaban"]
    assert listed_items("Anabolic drugs: teriparatide, romosozumab, each followed by an antiresorptive.") == \
        ["teriparatide", "romosozumab"]
    found = ordinal_item("the second one - how often is it given?", lead_in)
    assert found is not None and found[1] == "zoledronate"


def test_an_ordinal_inside_a_longer_noun_phrase_is_not_a_reference() -> None:
    listed = "Labetalol, nifedipine or methyldopa."
    assert ordinal_item("what blood pressure do we aim for in the first hour?", listed) is None
    assert ordinal_item("can we stop the drip when the first subcutaneous dose goes in?", listed) is None
    assert ordinal_item("is the last one safe in asthma?", listed)[1] == "methyldopa"
    assert ordinal_item("and the second?", listed)[1] == "nifedipine"


def test_pronoun_follow_up_names_the_previous_answers_entity() -> None:
    history = _history("what's the commonest cause of increased pain after VP?",
                       "A new compression fracture at an adjacent vertebral level. [1]")
    resolved = resolved_question("how do we confirm it?", history)
    assert "compression fracture" in resolved and "[1]" not in resolved
    assert "commonest cause" in resolved  # the user turn it answered, too
    weights = [t.weight for t in query_texts("how do we confirm it?", history)]
    assert len(weights) == 3 and weights[0] == 1.0


@pytest.mark.parametrize("question", [
    "n if warfarin instead, INR 3.4?",  # text-speak "and", and "instead"
    "What if she'd been on tofacitinib instead?",
    "ok and her total comes to 4.5, do we do a d-dimer first",  # an acknowledgement before "and"
    "thx. and when she starts allopurinol how long does she stay on the colchicine cover?",
    "should she wear a back brace in the meantime?",
    "Which ones have the lowest transfer into breast milk?",
])
def test_conversational_cues_mark_a_question_as_leaning(question: str) -> None:
    assert depends_on_context(question)


@pytest.mark.parametrize("question", [
    "Nitrofurantoin or trimethoprim for an uncomplicated UTI in a woman of 30?",
    "Okra and constipation: is a high-fibre diet advised after a vertebral fracture?",  # "ok" inside a word
    "Nausea after a zoledronic acid infusion: how many days does the reaction usually last in older adults?",
])
def test_a_self_contained_question_is_not_taken_for_a_continuation(question: str) -> None:
    assert not depends_on_context(question)


def test_self_contained_question_is_not_resolved() -> None:
    history = _history(DRUGS_Q, DRUGS_A)
    question = "What imaging is needed for suspected cauda equina syndrome after kyphoplasty?"
    assert not depends_on_context(question)
    assert resolved_question(question, history) == question
    texts = query_texts(question, history)
    assert all(t.weight < 1.0 for t in texts[1:])
    # "first" in an ordinary phrase is not a reference to a list
    listed = "Amoxicillin, doxycycline or clarithromycin."
    assert ordinal_item("what is the first-line treatment?", listed) is None


def test_units_repeating_the_conversation_are_recognised() -> None:
    said = frozenset(content_terms("commonest cause of increased pain after vertebroplasty? "
                                   "A new compression fracture at an adjacent vertebral level."))
    restated = frozenset(content_terms(
        "A new compression fracture at an adjacent vertebral level is the common cause of increased pain."))
    new = frozenset(content_terms("MRI with STIR sequences should be obtained to identify an acute fracture"))
    assert repeats(restated, said)
    assert not repeats(new, said)


def test_confirmation_questions_want_tests_and_treatment_questions_actions() -> None:
    assert question_kind("how do we confirm it?") is QuestionKind.TEST
    assert question_kind("which scan for it?") is QuestionKind.TEST
    assert question_kind("and how is it treated if they are symptomatic?") is QuestionKind.ACTION


def test_one_lexicon_table_serves_queries_and_the_guardrail() -> None:
    from service.guardrails.normalise import ABBREVIATIONS
    from service.lexicon import expand_query, lexicon
    from service.lexicon_table import rows

    uses = {use for _, _, use in rows()}
    assert uses == {"both", "guardrail", "query"}
    assert ABBREVIATIONS["vp"] == lexicon()["vp"] == "vertebroplasty"  # a "both" row
    assert "pe" in lexicon() and "pe" not in ABBREVIATIONS  # retrieval only
    assert "haemorrhage" in ABBREVIATIONS and "haemorrhage" not in lexicon()  # spelling: guardrail only
    assert expand_query("signs of cement PE after VP?") == (
        "signs of cement PE after VP? (pulmonary embolism; vertebroplasty)")


def test_brand_names_are_expanded_to_their_generic_for_retrieval_only() -> None:
    # "Is Prolia OK at eGFR 25?": the guideline says denosumab; without the generic the brand is an unknown
    # specialised word and the question was abstained on although a section answers it.
    from service.guardrails.normalise import ABBREVIATIONS
    from service.lexicon import expand_query

    assert expand_query("Prolia at eGFR 25, and the Eliquis dose?") == (
        "Prolia at eGFR 25, and the Eliquis dose? (denosumab; apixaban)")
    assert expand_query("denosumab or Prolia?") == "denosumab or Prolia?"  # the generic is already there
    assert "prolia" not in ABBREVIATIONS  # the red-flag screen's decisions are not touched
    # a corpus that writes the brand itself matches it as written
    assert expand_query("Prolia?", lambda word: word == "prolia") == "Prolia?"


def test_malformed_lexicon_rows_are_refused(tmp_path) -> None:
    from service.lexicon_table import LexiconError, rows

    bad = tmp_path / "lexicon.tsv"
    bad.write_text("# comment\nterm\texpansion\tuse\n#\tfracture\tquery\npe\tpulmonary embolism\tsometimes\n")
    with pytest.raises(LexiconError, match=":4:"):
        rows(bad)
    dup = tmp_path / "dup.tsv"
    dup.write_text("term\texpansion\tuse\npe\tpulmonary embolism\tboth\npe\tpleural effusion\tquery\n")
    with pytest.raises(LexiconError, match="twice"):
        rows(dup)


def test_context_walks_back_past_leaning_turns_to_the_one_that_named_the_topic() -> None:
    history = [
        Turn(role="user", content="What is the risk of cement leakage after vertebroplasty?"),
        Turn(role="assistant", content="Leakage is common [1]."),
        Turn(role="user", content="Is it usually symptomatic?"),
        Turn(role="assistant", content="Mostly not [1]."),
    ]
    assert context_turns("How is it confirmed?", history) == [
        "What is the risk of cement leakage after vertebroplasty?",
        "Is it usually symptomatic?",
    ]
    repeated = [*history, Turn(role="user", content="How is it confirmed?")]  # the widget may repeat it
    assert context_turns("How is it confirmed?", repeated) == context_turns("How is it confirmed?", history)


def test_previous_answer_drops_citation_markers_and_its_head_is_the_first_sentence() -> None:
    history = _history(DRUGS_Q, "Denosumab is an option [1][2]. It is given every six months [3, 4].")
    answer = previous_answer(history)
    assert "[" not in answer
    assert answer_head(answer) == "Denosumab is an option."
    assert previous_answer([Turn(role="user", content="hi")]) == ""


def test_a_question_alone_is_retrieved_as_asked() -> None:
    assert [(t.text, t.weight) for t in query_texts("  Which scan for cord compression?  ", [])] == [
        ("Which scan for cord compression?", 1.0)
    ]
