"""Check an LLM answer sentence by sentence before a clinician sees it.

A sentence is kept only if it cites at least one passage, every number it cites was given, most of its
content words occur in the passages it cites, and every number in it (doses, percentages, days) occurs in
those passages. What survives is re-rendered with the same citation numbering as extractive answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.citations import AnswerSentence
from service.text import content_terms

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
TRAILING_MARKERS = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;–-]\s*\d+)*\])+)")
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
MIN_SUPPORT = 0.6  # share of a sentence's content words that must appear in the passages it cites


@dataclass(frozen=True)
class Checked:
    sentences: list[AnswerSentence]
    dropped: list[tuple[str, str]]  # (sentence, why)


def _numbers_in(marker_body: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker_body):
        bounds = re.split(r"\s*[–-]\s*", part)
        if len(bounds) == 2 and all(b.isdigit() for b in bounds) and int(bounds[1]) - int(bounds[0]) < 10:
            out.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of free LLM text; markers after a full stop are moved so they stay with their sentence."""
    pieces: list[str] = []
    for line in text.splitlines():
        line = LIST_MARK.sub("", line).strip().replace("**", "")
        if not line:
            continue
        line = TRAILING_MARKERS.sub(lambda m: f"{m.group(2)}{m.group(1)}", line)
        pieces.extend(s.strip() for s in SENTENCE_BREAK.split(line) if s.strip())
    return pieces


def check_answer(text: str, passage_texts: list[str]) -> Checked:
    """Keep the supported, correctly cited sentences of `text`; passages are numbered from 1 in order."""
    given = len(passage_texts)
    passage_terms = [set(content_terms(p)) for p in passage_texts]
    kept: list[AnswerSentence] = []
    dropped: list[tuple[str, str]] = []
    for sentence in split_sentences(text):
        cited = [n for body in MARKER.findall(sentence) for n in _numbers_in(body)]
        body = MARKER.sub("", sentence).strip()
        body = re.sub(r"\s+([.!?,;:])", r"\1", body)
        if not cited:
            dropped.append((sentence, "no citation"))
            continue
        invalid = [n for n in cited if not 1 <= n <= given]
        if invalid:
            dropped.append((sentence, f"cites passage(s) {invalid} that were not given"))
            continue
        terms = content_terms(body)
        support = set().union(*(passage_terms[n - 1] for n in cited))
        if not terms or sum(t in support for t in terms) / len(terms) < MIN_SUPPORT:
            dropped.append((sentence, "shares too little with the cited passage"))
            continue
        cited_text = " ".join(passage_texts[n - 1] for n in cited)
        missing = [x for x in NUMBER.findall(body) if x not in cited_text]
        if missing:
            dropped.append((sentence, f"states numbers {missing} that the cited passage does not"))
            continue
        kept.append(AnswerSentence(body, tuple(dict.fromkeys(n - 1 for n in cited))))
    return Checked(kept, dropped)
