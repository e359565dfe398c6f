"""Fast, in-process tests of the composer, question kinds, the shorthand lexicon and abstention evidence.

No server and no model: a tiny hand-built Snapshot stands in for an index generation, so each behaviour
(list kept with its lead-in, the sentence after the best one quoted, verbatim pieces, structured sentences,
unknown specialised words) is checked in milliseconds.
"""

from __future__ import annotations

import numpy as np

from service.abstention import Evidence, Vocabulary, person_names, unknown_specialised
from service.citations import AnswerSentence, structured
from service.composer import WORD_BUDGET, compose, passage_units
from service.index import Snapshot
from service.lexicon import expand_query
from service.question_kind import QuestionKind, kind_bonus, question_kind
from service.retrieval import Hit, Retrieval
from tests.support.snapshots import tiny_snapshot

PASSAGES = [
    "Osteoporosis treatment should be started after vertebroplasty to prevent further fractures.\n"
    "Appropriate medical options include:\n- bisphosphonates\n- denosumab\n- teriparatide",
    "Vital signs should be monitored closely after vertebroplasty to detect signs of pulmonary embolism.\n"
    "Tachycardia, hypoxia and chest pain are the signs that point to a pulmonary embolism of cement.",
]


def _snapshot(texts: list[str]) -> Snapshot:
    return tiny_snapshot(texts)


def test_lead_in_is_kept_with_its_short_list_items() -> None:
    units = passage_units(_snapshot(PASSAGES), 0, 0)
    listed = [u for u in units if u.is_list]
    assert listed and listed[0].pieces == [
        "Appropriate medical options include:", "bisphosphonates", "denosumab", "teriparatide"
    ]


def test_list_question_gets_the_list_and_every_piece_is_verbatim() -> None:
    snapshot = _snapshot(PASSAGES)
    question = "which osteoporosis drugs after vertebroplasty?"
    kind = question_kind(question)
    assert kind is QuestionKind.LIST
    pieces = compose(snapshot, [Hit(0, 1.0), Hit(1, 0.5)], np.zeros(8, np.float32), question, kind)
    text = " ".join(p.text for p in pieces)
    assert all(name in text for name in ("bisphosphonates", "denosumab", "teriparatide"))
    assert all(p.text in snapshot.texts[[0, 1][p.hit]] for p in pieces)


def test_the_sentence_after_the_best_match_is_quoted() -> None:
    snapshot = _snapshot(PASSAGES)
    question = "which vital sign changes after vertebroplasty point to pulmonary embolism?"
    pieces = compose(snapshot, [Hit(1, 1.0)], np.zeros(8, np.float32), question, question_kind(question))
    assert any(p.text.startswith("Tachycardia, hypoxia and chest pain") for p in pieces)


def test_question_kinds_and_their_evidence() -> None:
    assert question_kind("how common is cement PE after VP?") is QuestionKind.QUANTITY
    assert question_kind("what dose of apixaban?") is QuestionKind.QUANTITY
    assert question_kind("Wells score 3.5 for PE — what's next?") is QuestionKind.ACTION
    assert kind_bonus(QuestionKind.QUANTITY, "Leakage occurs in 30% of cases.", False) > 0
    assert kind_bonus(QuestionKind.QUANTITY, "Leakage is common.", False) == 0


def test_shorthand_is_expanded_unless_the_corpus_uses_it() -> None:
    assert expand_query("signs of cement PE after VP?") == (
        "signs of cement PE after VP? (pulmonary embolism; vertebroplasty)"
    )
    assert expand_query("Apixaban for PE?", lambda word: word == "pe") == "Apixaban for PE?"


def test_unknown_specialised_words_need_a_strong_match() -> None:
    vocab = Vocabulary.build(["Vertebroplasty and kyphoplasty; bisphosphonates (alendronate); glucose."])
    pieces = {"ibandronate": 4, "vertebroplasy": 5, "glucoes": 3}.get  # others: one piece (everyday words)
    found = unknown_specialised("usual dose of ibandronate?", vocab, lambda w: pieces(w, 1))
    assert found == ("ibandronate",)
    # typos ("vertebroplasy", "glucoes") and prefixes ("kypho") are not unknown
    assert unknown_specialised("kypho vs vertebroplasy, glucoes?", vocab, lambda w: pieces(w, 4)) == ()
    assert not Evidence(0.6, 0.6, ("ibandronate",)).sufficient
    assert Evidence(0.6, 0.6).sufficient
    assert not Evidence(0.4, 0.4).sufficient


def test_a_patients_name_is_not_an_unknown_specialised_word() -> None:
    """A rare surname after a title or "pt" reads like an unknown drug and would refuse an in-scope question;
    the same word without that cue still counts."""
    vocab = Vocabulary.build(["Cement leakage after vertebroplasty is common."])
    def many(word: str) -> int:
        return 5 if word == "zebrasentinel" else 1
    assert unknown_specialised("Mrs Zebrasentinel asks how often cement leaks?", vocab, many) == ()
    assert unknown_specialised("how often does cement leak? pt Zebrasentinel", vocab, many) == ()
    assert unknown_specialised("Zebrasentinel after vertebroplasty?", vocab, many) == ("zebrasentinel",)
    assert person_names("Dr Oracle page says bed rest; Pt Jones") == {"oracle", "jones"}
    assert person_names("the patient has new pain") == frozenset()


def test_structured_sentences_carry_their_citation_numbers() -> None:
    parts = structured([AnswerSentence("a", (2,)), AnswerSentence("b", (0, 2))])
    assert [(p.text, p.citations) for p in parts] == [("a", [1]), ("b", [2, 1])]


def test_unreviewed_sources_lose_close_ties_only() -> None:
    """A passage from a page pending review (or carrying another page's attributions) loses a near tie to a
    reviewed one, and still wins when it is clearly the better match (service/retrieval.py)."""
    from service.index import unreviewed
    from service.retrieval import UNREVIEWED_FACTOR, fuse

    snapshot = _snapshot(PASSAGES)
    snapshot.metas[0].update(review_status="pending-review", source_kind="answer-page")
    snapshot.metas[1].update(review_status="reviewed", source_kind="guideline")
    assert unreviewed(snapshot.metas[0]) and not unreviewed(snapshot.metas[1])
    assert unreviewed({"review_status": "reviewed", "attribution": "x: what x attributes"})
    marked = Snapshot(**{**snapshot.__dict__, "unreviewed_docs": frozenset({"d0"})})
    tie = [(np.asarray([0]), 1.0), (np.asarray([1]), 1.0)]  # each passage first in one list
    assert [h.row for h in fuse(snapshot, tie, None, 2)] == [0, 1]  # unmarked: stable order
    assert [h.row for h in fuse(marked, tie, None, 2)] == [1, 0]  # marked: the reviewed passage first
    clear = [(np.asarray([0, 1]), 1.0), (np.asarray([0, 1]), 1.0)]  # passage 0 first in both lists
    hits = fuse(marked, clear, None, 2)
    assert [h.row for h in hits] == [0, 1] and hits[0].score == UNREVIEWED_FACTOR


def test_units_are_ranked_with_the_standalone_vectors_when_the_generation_has_them() -> None:
    from dataclasses import replace

    from service.composer import scored_units

    text = ("Patients are monitored on the ward after the procedure. Most go home the same evening. "
            "Paracetamol is given for pain at the puncture site.")
    eye = np.eye(8, dtype=np.float32)
    contextual = tiny_snapshot([text], sent_vecs=eye[[0, 1, 2]])  # the first sentence matches the query
    question = "what is given?"
    query = eye[0]

    def best(snapshot) -> str:
        units = scored_units(snapshot, [Hit(0, 1.0)], query, question, question_kind(question)).per_hit[0]
        return max(units, key=lambda u: u.relevance).text

    assert contextual.relevance_vecs is contextual.sent_vecs  # a store without them: the contextual ones
    assert best(contextual).startswith("Patients are monitored")
    standalone = replace(contextual, sent_solo=eye[[1, 2, 0]])  # alone, the third sentence is the match
    assert best(standalone) == "Paracetamol is given for pain at the puncture site."


def test_a_main_passage_that_fits_the_budget_is_quoted_whole_and_a_longer_one_is_not() -> None:
    """The criteria sit beside the sentence that names them: a short passage is quoted whole."""
    short = ("Augmentation is indicated only when two criteria are met. The first criterion is severe pain "
             "despite optimal analgesia. The second criterion is that imaging confirms the level.")
    question = "which two criteria must be met?"
    eye = np.eye(8, dtype=np.float32)
    snap = tiny_snapshot([short], sent_vecs=eye[[0, 1, 2]])
    pieces = compose(snap, [Hit(0, 1.0)], eye[0], question, question_kind(question))
    assert " ".join(p.text for p in pieces) == short
    n = WORD_BUDGET // 8  # eight-word fillers: with the short passage, over the budget
    filler = " ".join(f"Unrelated sentence number {i} about ward logistics and rotas." for i in range(n))
    long = f"{short} {filler}"
    snap = tiny_snapshot([long], sent_vecs=np.vstack([eye[[0, 1, 2]], np.tile(eye[5], (n, 1))]))
    pieces = compose(snap, [Hit(0, 1.0)], eye[0], question, question_kind(question))
    words = sum(len(p.text.split()) for p in pieces)
    assert pieces[0].text.startswith("Augmentation is indicated") and words <= WORD_BUDGET
    assert not any(p.text.startswith(f"Unrelated sentence number {n - 1}") for p in pieces)


def test_section_rows_are_the_chunks_next_to_it_with_the_same_section_path() -> None:
    texts = ["A one.", "A two.", "B one.", "A again."]
    snap = tiny_snapshot(texts, doc_ids=["d", "d", "d", "d"],
                         metas=[{"section": "A"}, {"section": "A"}, {"section": "B"}, {"section": "A"}])
    assert snap.section_rows(0) == [1]
    assert snap.section_rows(1) == [0]  # row 3 shares the path but not the run: another place in the document
    assert snap.section_rows(2) == []
    other = tiny_snapshot(texts[:2], doc_ids=["d", "e"], metas=[{"section": "A"}, {"section": "A"}])
    assert other.section_rows(0) == []  # the same path in another document is another section


def test_the_rest_of_a_split_section_is_quoted_when_it_fits_and_never_on_its_own() -> None:
    """A section stored as two chunks: its second chunk (not retrieved) is quoted after the first when the
    whole section fits the budget, cited as its own passage; a sibling of a passage that is not the main one
    adds nothing."""
    first = "Hydrocortisone is started when the vasopressor need persists. The dose is 200 mg a day."
    second = "It is continued until vasopressors are no longer required, then tapered."
    unrelated = "Fluids are given as boluses of crystalloid."
    eye = np.eye(8, dtype=np.float32)
    snap = tiny_snapshot([first, second, unrelated], doc_ids=["d", "d", "e"],
                         metas=[{"section": "Steroids"}, {"section": "Steroids"}, {"section": "Fluids"}],
                         sent_vecs=eye[[0, 1, 2, 3]])
    question = "when is hydrocortisone stopped?"
    hits = [Hit(0, 1.0), Hit(2, 0.5), Hit(1, 0.0)]  # the sibling appended after the retrieved hits
    pieces = compose(snap, hits, eye[0], question, question_kind(question))
    assert [p.text for p in pieces][-1] == second and pieces[-1].hit == 2
    n = WORD_BUDGET // 8  # eight-word fillers: the first chunk alone is over the budget
    long_first = first + " " + " ".join(f"Filler sentence {i} on the ward routine here." for i in range(n))
    snap = tiny_snapshot([long_first, second, unrelated], doc_ids=["d", "d", "e"],
                         metas=[{"section": "Steroids"}, {"section": "Steroids"}, {"section": "Fluids"}],
                         sent_vecs=np.vstack([eye[[0, 1]], np.tile(eye[5], (n, 1)), eye[[2, 3]]]))
    pieces = compose(snap, hits, eye[0], question, question_kind(question))
    assert second not in [p.text for p in pieces]  # the main passage is over the budget: no sibling


def _retrieved(snap: Snapshot, hits: list[Hit]):
    """A retrieval of `hits` from `snap`, in the service's own types (with_section_siblings reads the
    snapshot and the hits, and replaces the hits)."""
    from service.answering import QueryPlan, Retrieved

    plan = QueryPlan("q", (), None, (), "q")
    return Retrieved(plan, snap, (), np.zeros(8, np.float32), Retrieval(hits, [], [], 0))


def test_with_section_siblings_appends_unretrieved_chunks_of_the_candidates_sections() -> None:
    from service.answering import with_section_siblings

    texts = ["A one.", "A two.", "B one."]
    snap = tiny_snapshot(texts, doc_ids=["d", "d", "d"],
                         metas=[{"section": "A"}, {"section": "A"}, {"section": "B"}])
    out = with_section_siblings(_retrieved(snap, [Hit(0, 1.0), Hit(2, 0.4)]))
    assert [(h.row, h.score) for h in out.retrieval.hits] == [(0, 1.0), (2, 0.4), (1, 0.0)]
    same = _retrieved(snap, [Hit(2, 1.0)])
    assert with_section_siblings(same) is same  # nothing to add: unchanged


def test_a_lead_in_whose_items_are_the_next_chunk_is_quoted_with_them() -> None:
    """A section ending "… meets all of the following criteria:" whose table sits under its own subheading
    (so in the next chunk): the answer quotes the lead-in and then the items, each cited to its own chunk;
    a lead-in followed by an unrelated section, or by a subsection of another section, gets nothing."""
    from service.answering import with_section_siblings

    lead = ("Antibiotics are continued for at least 5 days. "
            "Antibiotics may be stopped when the patient meets all of the following stability criteria:")
    table = "Parameter: Temperature; Threshold: below 37.8 C. Parameter: Heart rate; Threshold: below 100."
    other = "Fluids are given as boluses of crystalloid."
    eye = np.eye(8, dtype=np.float32)
    metas = [{"section": "CAP › Duration"}, {"section": "CAP › Duration › Stability Criteria"},
             {"section": "Fluids"}]
    snap = tiny_snapshot([lead, table, other], doc_ids=["d", "d", "e"], metas=metas,
                         sent_vecs=eye[[0, 1, 2, 3, 4]])
    assert snap.continuation_row(0) == 1 and snap.continuation_row(1) is None
    hits = with_section_siblings(_retrieved(snap, [Hit(0, 1.0), Hit(2, 0.5)])).retrieval.hits
    assert [(h.row, h.score) for h in hits] == [(0, 1.0), (2, 0.5), (1, 0.0)]
    question = "when can antibiotics for pneumonia be stopped?"
    pieces = compose(snap, hits, eye[1], question, question_kind(question))
    texts = [p.text for p in pieces]
    assert texts[1].endswith("stability criteria:") and pieces[1].hit == 0
    assert texts[2:4] == ["Parameter: Temperature; Threshold: below 37.8 C.",
                          "Parameter: Heart rate; Threshold: below 100."]
    assert {p.hit for p in pieces[2:4]} == {2}
    elsewhere = tiny_snapshot([lead, table], doc_ids=["d", "d"], metas=[{"section": "CAP › Duration"},
                                                                         {"section": "Sepsis › Criteria"}])
    assert elsewhere.continuation_row(0) is None  # the next chunk is not under the lead-in's heading


def test_sibling_sections_of_the_main_passage_add_their_best_sentence() -> None:
    """A list split into one subsection per item: the answer quotes one sentence from each sibling among the
    hits; a hit under another parent heading, or one far less relevant than the main passage, adds none."""
    texts = [
        "A progressive neurological deficit is a red flag that needs emergency imaging.",
        "Respiratory distress suggesting cement embolism is a red flag.",
        "Severe pain uncontrolled despite analgesia is a red flag.",
        "Discharge is usually on the same day.",
        "Unrelated wording about parking permits.",
    ]
    eye = np.eye(8, dtype=np.float32)
    query = eye[0]
    sent_vecs = np.vstack([eye[0], 0.9 * eye[0] + 0.1 * eye[1], 0.9 * eye[0] + 0.1 * eye[2], eye[0], eye[3]])
    sections = ["Doc › Red Flags › Neuro", "Doc › Red Flags › Breathing", "Doc › Red Flags › Pain",
                "Doc › Discharge", "Doc › Red Flags › Parking"]
    snap = tiny_snapshot(texts, doc_ids=["d"] * 5, metas=[{"section": s} for s in sections],
                         sent_vecs=sent_vecs)
    question = "which red flags need emergency action?"
    hits = [Hit(0, 1.0), Hit(1, 0.9), Hit(2, 0.8), Hit(3, 0.7), Hit(4, 0.6)]
    text = " ".join(p.text for p in compose(snap, hits, query, question, question_kind(question)))
    assert texts[0] in text and texts[1] in text and texts[2] in text
    assert "parking" not in text  # a sibling, but nowhere near the main passage's relevance
    other_doc = tiny_snapshot(texts, doc_ids=["d", "e", "e", "d", "d"],
                              metas=[{"section": s} for s in sections], sent_vecs=sent_vecs)
    text = " ".join(p.text for p in compose(other_doc, hits, query, question, question_kind(question)))
    assert texts[0] in text and texts[1] not in text and texts[2] not in text  # same path, other doc
