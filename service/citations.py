"""From answer sentences that point at retrieved passages to the response's `answer` text and `citations`.

Citations are numbered by first appearance in the answer and only cited passages are listed, so every `[n]`
resolves and every listed source was actually used — the same rule for extractive and LLM answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.index import Snapshot
from service.markers import marker
from service.models import AnswerPart, Citation, Passage
from service.retrieval import Hit

LOCATOR_KEYS = ("page", "page_end", "anchor", "rec", "grade")  # chunk metadata from ingest/formats


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer and the hits (indices into the retrieval's hits) that support it."""

    text: str
    hits: tuple[int, ...]


KIND_LABELS = {
    "guideline": "Guideline",
    "research": "Research article",
    "summary": "Summary of published sources",
    "answer-page": "AI-generated answer page",
}


def provenance_fields(meta: dict) -> dict[str, Any]:
    """The passage's provenance (front matter carried into chunk metadata) and its one-line label; the
    Passage model validates the values (source kinds and review states are Literals there)."""
    keys = ("source_kind", "review_status", "reviewed", "reviewer_role", "attribution")
    fields: dict[str, Any] = {k: str(meta[k]) for k in keys if meta.get(k) not in (None, "")}
    if fields.get("source_kind") not in KIND_LABELS:  # ingest refuses others; an old store must not 500
        fields.pop("source_kind", None)
    if fields.get("review_status") not in ("reviewed", "pending-review"):
        fields.pop("review_status", None)
    fields["provenance"] = provenance_label(fields, meta.get("year")) or None
    return fields


def provenance_label(fields: dict, year=None) -> str:
    """One line for people: e.g. 'Research article, 2011' or 'AI-generated answer page, 2025, pending review'
    ('' when the document names no source kind)."""
    kind = KIND_LABELS.get(fields.get("source_kind", ""))
    if not kind:
        return ""
    parts = [kind, str(year)] if year else [kind]
    if fields.get("review_status") == "pending-review":
        parts.append("pending review")
    if fields.get("attribution"):
        parts.append("statements as another page attributes them")
    return ", ".join(parts)


def passage(snapshot: Snapshot, hit: Hit) -> Passage:
    meta = snapshot.metas[hit.row]
    locators: dict[str, Any] = {k: str(meta[k]) for k in LOCATOR_KEYS if meta.get(k) not in (None, "")}
    return Passage(
        chunk_id=snapshot.chunk_ids[hit.row],
        doc_id=meta.get("doc_id", ""),
        title=meta.get("title", ""),
        section=meta.get("section", ""),
        text=snapshot.texts[hit.row],
        score=round(min(hit.score, 1.0), 4),
        **provenance_fields(meta),
        **locators,
    )


def citation(snapshot: Snapshot, hit: Hit, n: int) -> Citation:
    meta = snapshot.metas[hit.row]
    return Citation(
        n=n,
        **passage(snapshot, hit).model_dump(),
        organisation=meta.get("organisation") or meta.get("journal"),
        year=meta.get("year"),
        source=meta.get("source"),
    )


def render(
    snapshot: Snapshot, hits: list[Hit], sentences: list[AnswerSentence]
) -> tuple[list[str], list[Citation]]:
    """Each sentence with its `[n]` markers appended, and the citations those numbers refer to.

    The answer text is the pieces joined by single spaces; the stream sends the pieces one by one.
    """
    number = numbering(sentences)
    pieces = []
    for sentence in sentences:
        marks = "".join(marker(number[h]) for h in dict.fromkeys(sentence.hits))
        pieces.append(f"{sentence.text} {marks}")
    citations = [citation(snapshot, hits[h], n) for h, n in number.items()]
    return pieces, citations


def numbering(sentences: list[AnswerSentence]) -> dict[int, int]:
    """hit index -> citation number by first use in the answer (one rule for `render` and `structured`)."""
    number: dict[int, int] = {}
    for sentence in sentences:
        for h in sentence.hits:
            number.setdefault(h, len(number) + 1)
    return number


def structured(sentences: list[AnswerSentence]) -> list[AnswerPart]:
    """The answer as `[{text, citations: [n…]}]`, numbered as `render` numbers it, so clients (the widget,
    the evals) need not parse `[n]` markers back out of `answer`."""
    number = numbering(sentences)
    return [AnswerPart(text=s.text, citations=[number[h] for h in dict.fromkeys(s.hits)]) for s in sentences]
