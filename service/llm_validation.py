"""Check an LLM answer sentence by sentence before a clinician sees it.

A reply longer than MAX_REPLY_CHARS is refused whole (a model that ignores its token limit is not to be
trusted sentence by sentence), and only its first MAX_SENTENCES sentences are considered. A sentence is kept
only if all of these hold, each against the passages it cites:

* it cites at least one passage, and only passages that were given;
* it carries no markup or link (llm_markup.py) and is at most MAX_SENTENCE_CHARS long;
* at least MIN_SUPPORT of its content words occur in the passages;
* every number, with its unit, matches one there, numbers in words included (llm_numbers.py);
* every drug, route and action word occurs there (llm_lexicon.py);
* it negates what they negate and asserts what they assert, clause by clause (llm_polarity.py).

Why so strict: a dropped sentence costs only fluency (the extractive answer is the fallback), while a kept
reversed or invented claim reaches a clinician under a real citation. What survives is re-rendered with the
same citation numbering as extractive answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.citations import AnswerSentence
from service.llm_lexicon import unbacked_critical_words
from service.llm_markup import markup_in, without_emphasis
from service.llm_numbers import unmatched_quantities
from service.llm_polarity import Clause, clauses, polarity_conflict
from service.markers import cited_numbers, marked_sentences, strip_markers
from service.text import content_terms, support_share

LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
MIN_SUPPORT = 0.7  # share of a sentence's content words that must appear in the passages it cites
MAX_REPLY_CHARS = 6_000  # the prompt asks for 4 short sentences within 400 tokens (~1,600 characters)
MAX_SENTENCES = 6
MAX_SENTENCE_CHARS = 500


@dataclass(frozen=True)
class Checked:
    sentences: list[AnswerSentence]
    dropped: list[tuple[str, str]]  # (sentence, why)


def split_sentences(text: str) -> list[str]:
    """Sentences of free LLM text (list markers and emphasis removed); markers after a full stop are moved
    so they stay with their sentence (service/markers.py)."""
    pieces: list[str] = []
    for line in text.splitlines():
        line = without_emphasis(LIST_MARK.sub("", line)).strip()
        if line:
            pieces.extend(marked_sentences(line))
    return pieces


def check_answer(text: str, passage_texts: list[str]) -> Checked:
    """Keep the supported, correctly cited sentences of `text`; passages are numbered from 1 in order."""
    if len(text) > MAX_REPLY_CHARS:
        return Checked([], [(text[:200], f"reply of {len(text)} characters, over {MAX_REPLY_CHARS}")])
    passage_terms = [set(content_terms(p)) for p in passage_texts]
    passage_clauses = [clauses(p) for p in passage_texts]
    kept: list[AnswerSentence] = []
    dropped: list[tuple[str, str]] = []
    for i, sentence in enumerate(split_sentences(text)):
        if i >= MAX_SENTENCES:
            dropped.append((sentence, f"beyond the first {MAX_SENTENCES} sentences"))
            continue
        cited = cited_numbers(sentence)
        body = strip_markers(sentence)
        why = _problem(sentence, body, cited, passage_texts, passage_terms, passage_clauses)
        if why:
            dropped.append((sentence, why))
        else:
            kept.append(AnswerSentence(body, tuple(dict.fromkeys(n - 1 for n in cited))))
    return Checked(kept, dropped)


def _problem(
    sentence: str,
    body: str,
    cited: list[int],
    passage_texts: list[str],
    passage_terms: list[set[str]],
    passage_clauses: list[list[Clause]],
) -> str | None:
    """Why `sentence` must be dropped, or None when every check passes; cheapest checks first."""
    if not cited:
        return "no citation"
    invalid = [n for n in cited if not 1 <= n <= len(passage_texts)]
    if invalid:
        return f"cites passage(s) {invalid} that were not given"
    markup = markup_in(sentence)
    if markup:
        return f"contains {markup}"
    if len(body) > MAX_SENTENCE_CHARS:
        return f"sentence of {len(body)} characters, over {MAX_SENTENCE_CHARS}"
    share = support_share(body, set().union(*(passage_terms[n - 1] for n in cited)))
    if share is None or share < MIN_SUPPORT:
        return "shares too little with the cited passage"
    cited_text = " ".join(passage_texts[n - 1] for n in cited)
    missing = unmatched_quantities(body, cited_text)
    if missing:
        return f"states numbers {missing} that the cited passage does not"
    unbacked = unbacked_critical_words(body, cited_text)
    if unbacked:
        return f"names {unbacked} that the cited passage does not"
    return polarity_conflict(body, [c for n in dict.fromkeys(cited) for c in passage_clauses[n - 1]])
