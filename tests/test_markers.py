"""The one sentence splitter, the one `[n]` marker reader and the one support share, in process."""

from __future__ import annotations

from evals.metrics.citations import sentences as eval_sentences
from ingest.sentences import split_sentences
from service.llm_validation import split_sentences as llm_sentences
from service.markers import cited_numbers, marked_sentences, strip_markers
from service.text import content_terms, support_share


def test_sentences_end_at_a_stop_before_a_capital_and_at_every_line_end() -> None:
    text = (
        "Give calcium 1 g daily. Then review (at 6 weeks). not here.\n"
        "- Check vitamin D\n2. Repeat DXA in 2 years."
    )
    assert split_sentences(text) == [
        "Give calcium 1 g daily.",
        "Then review (at 6 weeks). not here.",
        "Check vitamin D",
        "Repeat DXA in 2 years.",
    ]


def test_markers_are_read_with_lists_and_short_ranges_only() -> None:
    assert cited_numbers("A [1]. B [2, 4]; C [3-5] D [6–7] E [1-40]") == [1, 2, 4, 3, 4, 5, 6, 7]
    assert cited_numbers("no markers, [a] or [ 1 ]") == []


def test_stripping_markers_leaves_no_space_before_punctuation() -> None:
    stripped = strip_markers("Cement can leak [1]. It is rare [2][3] , mostly.")
    assert stripped == "Cement can leak. It is rare, mostly."


def test_a_marker_after_the_full_stop_stays_with_its_sentence() -> None:
    answer = "Cement leakage is common. [1] Most leaks cause no symptoms. [2]"
    assert marked_sentences(answer) == ["Cement leakage is common [1].", "Most leaks cause no symptoms [2]."]
    assert llm_sentences("1. **Cement leakage is common.** [1]\n- Most leaks cause no symptoms [2].") == [
        "Cement leakage is common [1].",
        "Most leaks cause no symptoms [2].",
    ]
    assert eval_sentences(answer + "\n[3]") == marked_sentences(answer)  # a marker alone is no sentence


def test_support_share_counts_stemmed_content_words() -> None:
    passage = set(content_terms("Fractures of the vertebrae are treated with cement augmentation."))
    # stems: "fracture" matches "Fractures", "vertebral" does not match "vertebrae"
    assert support_share("Vertebral fracture treated with cement", passage) == 0.75
    assert support_share("the and of", passage) is None
