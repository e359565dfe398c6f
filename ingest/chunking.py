"""Heading-aware chunking: Markdown → chunks that keep their section path, sized for MiniLM's window.

Why by hand rather than llama-index's MarkdownNodeParser: its `header_path` joins headings with '/', which
clinical headings themselves contain ("bowel/bladder", "CT/MRI"), so the section path could not be recovered
reliably. The packing below is a greedy fill of whole sentences up to a token budget measured with the model's
own tokenizer, with no overlap (overlap is re-embedded text: pure cost on two cores).

Each chunk also records its sentences as character spans, so the extractive answerer can quote them verbatim
and the embedder can give each sentence a vector from the same forward pass as its chunk.

Every format (PDF, HTML, DOCX, JATS; ingest/formats) is turned into this same Markdown, with three optional
inline conventions that Markdown authors may use too:

- `<!-- page: xii -->` on its own line: the page label of what follows (PDF page labels, roman or "e563");
- `<!-- anchor: sec-2-1 -->` on its own line, or `## Heading {#sec-2-1}`: the element id of what follows;
- `**Rec 1.3.4** [Class I, LOE B-R] text`: a numbered recommendation with its grade (the bracket is optional).
  It becomes a chunk of its own, never split and never packed with other text, so its citation carries one
  number and one grade. `**Recommendation** [AAOS 2010: strong] text` is a recommendation whose source
  states a strength but no number (the bracket is then required).

A pipe table becomes one line per row, each cell prefixed with its column header ("Drug: apixaban; Dose:
5 mg BID"), so a row retrieved alone still says what its numbers are; a blank first cell repeats the label
above it (a row-spanning cell flattened by the format).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.documents import Document
from ingest.sentences import sentence_spans

SECTION_SEP = " › "
CHUNKER_VERSION = 6  # bump when chunking code changes what it produces in a way no parameter below shows
MAX_CHUNK_TOKENS = 200  # MiniLM reads 256 word pieces; the section path prefix takes the rest
MIN_SENTENCE_WORDS = 3

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
HEADING_ANCHOR = re.compile(r"\s*\{#([A-Za-z][\w.:\-]*)\}\s*$")
PAGE_MARK = re.compile(r"^\s*<!--\s*page:\s*(.{1,40}?)\s*-->\s*$")
ANCHOR_MARK = re.compile(r"^\s*<!--\s*anchor:\s*(.{1,200}?)\s*-->\s*$")
REC_LINE = re.compile(
    r"^\s*(?:[-*+]\s+)?\*\*Rec(?:ommendation)?(?:\s+(?P<num>[^*\s][^*]{0,30}?))?\*\*"
    r"\s*(?:\[(?P<grade>[^\]]{1,120})\])?\s*(?P<text>.*)$"
)
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
FENCE = re.compile(r"^(```|~~~)")
TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|[\s:|-]*$")
INLINE_MARKUP = [
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"__(.+?)__"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"!?\[([^\]]+)\]\([^)]*\)"), r"\1"),
]


@dataclass
class Line:
    """One body line and what the document says about where it is (page, anchor) and what it is."""

    text: str
    page: str | None = None
    anchor: str | None = None
    rec: str | None = None
    grade: str | None = None
    atomic: bool = False  # a recommendation or a table row: never split into sentences


@dataclass
class Chunk:
    """A passage of one section; `text` is what citations show, `embed_text` what is embedded."""

    chunk_id: str
    doc_id: str
    title: str
    section: str
    heading: str
    position: int
    text: str
    sentence_spans: list[tuple[int, int]] = field(default_factory=list)
    page: str | None = None
    page_end: str | None = None
    anchor: str | None = None
    rec: str | None = None
    grade: str | None = None

    @property
    def embed_text(self) -> str:
        return f"{self.section}\n{self.text}"

    @property
    def embed_spans(self) -> list[tuple[int, int]]:
        """The sentence spans as offsets into `embed_text` (the section line comes first)."""
        offset = len(self.section) + 1
        return [(a + offset, b + offset) for a, b in self.sentence_spans]

    @property
    def sentences(self) -> list[str]:
        return [self.text[a:b] for a, b in self.sentence_spans]


def plain(line: str) -> str:
    """Markdown inline markup removed, so quoted sentences read as text."""
    for pattern, repl in INLINE_MARKUP:
        line = pattern.sub(repl, line)
    return line.rstrip()


def _cells(row: str) -> list[str]:
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [plain(c.replace("\\|", "|").strip()) for c in re.split(r"(?<!\\)\|", inner)]


def table_row_text(header: list[str], cells: list[str]) -> str:
    """'Header: cell; Header: cell' for the non-empty cells (a cell without a header stands alone)."""
    parts = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        name = header[i] if i < len(header) else ""
        parts.append(f"{name}: {cell}" if name and name != cell else cell)
    return "; ".join(parts)


def structure(doc: Document) -> list[tuple[list[str], list[Line]]]:
    """(heading path, body lines with page/anchor/recommendation) per heading; the title roots every path."""
    path: list[tuple[int, str]] = []
    out: list[tuple[list[str], list[Line]]] = []
    lines: list[Line] = []
    in_fence = False
    page: str | None = None
    anchor: str | None = None
    raw_lines = doc.body.splitlines()
    header: list[str] | None = None
    row_label = ""

    def flush() -> None:
        if any(line.text.strip() for line in lines):
            out.append(([h for _, h in path], [line for line in lines if line.text.strip()]))
        lines.clear()

    for i, raw in enumerate(raw_lines):
        if FENCE.match(raw.strip()):
            in_fence = not in_fence
            continue
        if not in_fence and (mark := PAGE_MARK.match(raw)):
            page = mark.group(1)
            continue
        if not in_fence and (mark := ANCHOR_MARK.match(raw)):
            anchor = mark.group(1)
            continue
        match = None if in_fence else HEADING.match(raw)
        if match:
            flush()
            text = match.group(2).strip()
            anchor = None
            if found := HEADING_ANCHOR.search(text):
                anchor, text = found.group(1), text[: found.start()].strip()
            level, heading = len(match.group(1)), plain(text)
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading))
            continue
        if TABLE_RULE.match(raw.strip()):
            continue  # the rule under a header row (the header stays in force for the rows below)
        if not in_fence and TABLE_ROW.match(raw):
            following = raw_lines[i + 1].strip() if i + 1 < len(raw_lines) else ""
            if TABLE_RULE.match(following):
                header, row_label = _cells(raw), ""
                continue
            cells = _cells(raw)
            if header and len(cells) > 1 and any(cells[1:]):
                # a blank first cell under a labelled row is a merged (row-spanning) cell: carry the label
                # down, so "< 10.0 · 6" still says it is "Hemoglobin — Female"
                cells[0] = cells[0] or row_label
                row_label = cells[0]
            text = table_row_text(header, cells) if header else " · ".join(c for c in cells if c)
            lines.append(Line(text, page, anchor, atomic=True))
            continue
        header = None  # any other line ends the table
        if raw.strip() in {"---", "***", "___"}:
            continue
        if not in_fence and (rec := REC_LINE.match(raw)) and (rec.group("num") or rec.group("grade")):
            grade = rec.group("grade")
            lines.append(
                Line(
                    plain(rec.group("text").strip()),
                    page,
                    anchor,
                    rec=rec.group("num").strip() if rec.group("num") else None,
                    grade=grade.strip() if grade else None,
                    atomic=True,
                )
            )
            continue
        lines.append(Line(plain(raw), page, anchor))
    flush()
    result = []
    for headings, body in out:
        if headings and headings[0] == doc.title:
            headings = headings[1:]
        result.append(([doc.title, *headings], body))
    return result


def sections(doc: Document) -> list[tuple[list[str], list[str]]]:
    """(heading path, body lines) per heading; the document title is the root of every path."""
    return [(headings, [line.text for line in body]) for headings, body in structure(doc)]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the quotable sentences of `text` (ingest/sentences.py), fragments under
    MIN_SENTENCE_WORDS words left out."""
    return [(a, b) for a, b in sentence_spans(text) if len(text[a:b].split()) >= MIN_SENTENCE_WORDS]


def _pack(units: list[Line], counts: list[int], budget: int) -> list[list[Line]]:
    """Greedy fill up to `budget` tokens; a recommendation is always a group of its own."""
    groups: list[list[Line]] = []
    current: list[Line] = []
    used = 0
    for unit, count in zip(units, counts, strict=True):
        alone = unit.rec is not None or unit.grade is not None  # a recommendation is a chunk of its own
        if alone or (current and used + count > budget):
            if current:
                groups.append(current)
            current, used = [], 0
        current.append(unit)
        used += count
        if alone:
            groups.append(current)
            current, used = [], 0
    if current:
        groups.append(current)
    return groups


def chunk_document(
    doc: Document, count_tokens: Callable[[list[str]], list[int]], max_tokens: int = MAX_CHUNK_TOKENS
) -> list[Chunk]:
    """Chunks of one document in reading order, ids `<doc_id>::<nnnn>` (stable while the document is)."""
    chunks: list[Chunk] = []
    for headings, body in structure(doc):
        section = SECTION_SEP.join(headings)
        budget = max(32, max_tokens - count_tokens([section])[0])
        counts = count_tokens([line.text for line in body])
        units: list[Line] = []
        unit_counts: list[int] = []
        for line, count in zip(body, counts, strict=True):
            if count <= budget or line.atomic:
                units.append(line)
                unit_counts.append(count)
                continue
            pieces = [line.text[a:b] for a, b in split_sentences(line.text)] or [line.text]
            units.extend(Line(p, line.page, line.anchor) for p in pieces)
            unit_counts.extend(count_tokens(pieces))
        for group in _pack(units, unit_counts, budget):
            body_text = "\n".join(line.text for line in group)
            pages = [line.page for line in group if line.page]
            anchors = [line.anchor for line in group if line.anchor]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}::{len(chunks):04d}",
                    doc_id=doc.doc_id,
                    title=doc.title,
                    section=section,
                    heading=headings[-1],
                    position=len(chunks),
                    text=body_text,
                    sentence_spans=split_sentences(body_text),
                    page=pages[0] if pages else None,
                    page_end=pages[-1] if pages and pages[-1] != pages[0] else None,
                    anchor=anchors[0] if anchors else None,
                    rec=group[0].rec,
                    grade=group[0].grade,
                )
            )
    return chunks
