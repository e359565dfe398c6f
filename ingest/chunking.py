"""Heading-aware chunking: Markdown → chunks that keep their section path, sized for MiniLM's window.

Why by hand rather than llama-index's MarkdownNodeParser: its `header_path` joins headings with '/', which
clinical headings themselves contain ("bowel/bladder", "CT/MRI"), so the section path could not be recovered
reliably. The packing below is a greedy fill of whole sentences up to a token budget measured with the model's
own tokenizer, with no overlap (overlap is re-embedded text: pure cost on two cores).

Each chunk also records its sentences as character spans, so the extractive answerer can quote them verbatim
and the embedder can give each sentence a vector from the same forward pass as its chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.documents import Document

SECTION_SEP = " › "
MAX_CHUNK_TOKENS = 200  # MiniLM reads 256 word pieces; the section path prefix takes the rest
MIN_SENTENCE_WORDS = 3

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE = re.compile(r"^(```|~~~)")
TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|[\s:|-]*$")
LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
INLINE_MARKUP = [
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"__(.+?)__"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"!?\[([^\]]+)\]\([^)]*\)"), r"\1"),
]
ABBREVIATIONS = (
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bDr)(?<!\bet al)(?<!\bapprox)(?<!\bcf)(?<!\bNo)(?<!\bFig)"
)
SENTENCE_END = re.compile(ABBREVIATIONS + r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9(\"'])")


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

    @property
    def embed_text(self) -> str:
        return f"{self.section}\n{self.text}"

    @property
    def prefix_len(self) -> int:
        """Offset of `text` inside `embed_text`, to map sentence spans onto the embedded string."""
        return len(self.section) + 1

    @property
    def sentences(self) -> list[str]:
        return [self.text[a:b] for a, b in self.sentence_spans]


def plain(line: str) -> str:
    """Markdown inline markup removed, so quoted sentences read as text."""
    for pattern, repl in INLINE_MARKUP:
        line = pattern.sub(repl, line)
    return line.rstrip()


def sections(doc: Document) -> list[tuple[list[str], list[str]]]:
    """(heading path, body lines) per heading; the document title is the root of every path."""
    path: list[tuple[int, str]] = []
    out: list[tuple[list[str], list[str]]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        if any(line.strip() for line in lines):
            out.append(([h for _, h in path], list(lines)))
        lines.clear()

    for raw in doc.body.splitlines():
        if FENCE.match(raw.strip()):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(raw)
        if match:
            flush()
            level, heading = len(match.group(1)), plain(match.group(2).strip())
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading))
            continue
        if TABLE_RULE.match(raw.strip()) or raw.strip() in {"---", "***", "___"}:
            continue
        lines.append(plain(raw))
    flush()
    result = []
    for headings, body in out:
        if headings and headings[0] == doc.title:
            headings = headings[1:]
        result.append(([doc.title, *headings], body))
    return result


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`: one or more per line, list markers left out."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        marker = LIST_MARK.match(line)
        start = marker.end() if marker else len(line) - len(line.lstrip())
        body = line[start:]
        cursor = 0
        for match in SENTENCE_END.finditer(body):
            spans.append((offset + start + cursor, offset + start + match.start()))
            cursor = match.end()
        if body[cursor:].strip():
            spans.append((offset + start + cursor, offset + start + len(body.rstrip())))
        offset += len(line) + 1
    return [(a, b) for a, b in spans if len(text[a:b].split()) >= MIN_SENTENCE_WORDS]


def _pack(units: list[str], counts: list[int], budget: int) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    used = 0
    for unit, count in zip(units, counts, strict=True):
        if current and used + count > budget:
            groups.append(current)
            current, used = [], 0
        current.append(unit)
        used += count
    if current:
        groups.append(current)
    return groups


def chunk_document(
    doc: Document, count_tokens: Callable[[list[str]], list[int]], max_tokens: int = MAX_CHUNK_TOKENS
) -> list[Chunk]:
    """Chunks of one document in reading order, ids `<doc_id>::<nnnn>` (stable while the document is)."""
    chunks: list[Chunk] = []
    for headings, body in sections(doc):
        section = SECTION_SEP.join(headings)
        text = "\n".join(body).strip()
        text = re.sub(r"\n{2,}", "\n", text)
        budget = max(32, max_tokens - count_tokens([section])[0])
        lines = text.split("\n")
        counts = count_tokens(lines)
        units: list[str] = []
        unit_counts: list[int] = []
        for line, count in zip(lines, counts, strict=True):
            if count <= budget:
                units.append(line)
                unit_counts.append(count)
                continue
            pieces = [line[a:b] for a, b in split_sentences(line)] or [line]
            units.extend(pieces)
            unit_counts.extend(count_tokens(pieces))
        for group in _pack(units, unit_counts, budget):
            body_text = "\n".join(group)
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
                )
            )
    return chunks
