"""One adapter per publisher format, each turning a file into the Markdown the `.md` path already reads.

An adapter returns `Extracted(title, meta, body)`: `body` is Markdown with headings for the section tree plus
the inline conventions ingest/chunking.py documents (page labels, anchors, `**Rec n** [grade]` lines, pipe
tables), `meta` whatever the file itself states (title, year, organisation, id, source, type). From there
everything — validation, content hash of the file's bytes, chunking, generations, --dry-run, --prune — is
the Markdown code path, so a PDF is planned, embedded and pruned exactly like a `.md` file.

A file an adapter cannot read raises `FormatError` with a sentence for the operator ("encrypted", "needs
OCR", "not JATS"); ingest/documents.py turns it into a Problem naming the file, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MB = 1_000_000
FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".xml": "jats",
    ".nxml": "jats",
}
MAX_BYTES = {"pdf": 50 * MB, "html": 10 * MB, "docx": 25 * MB, "jats": 20 * MB}


class FormatError(Exception):
    """The file cannot be ingested; the message says why, for the operator."""


@dataclass
class Extracted:
    title: str | None
    meta: dict
    body: str


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


@dataclass
class MarkdownWriter:
    """Builds the Markdown body; every adapter writes through it so the conventions stay identical."""

    parts: list[str] = field(default_factory=list)
    _page: str | None = None
    _anchor: str | None = None

    def heading(self, level: int, text: str, anchor: str | None = None) -> None:
        text = _one_line(text).replace("{#", "{ #")
        if not text:
            return
        self._anchor = anchor
        suffix = f" {{#{anchor}}}" if anchor and re.fullmatch(r"[A-Za-z][\w.:\-]*", anchor) else ""
        self.parts.append(f"\n{'#' * max(1, min(level, 6))} {text}{suffix}\n")

    def page(self, label: str | None) -> None:
        if label and label != self._page:
            self._page = label
            self.parts.append(f"<!-- page: {_one_line(label)[:40]} -->")

    def anchor(self, anchor: str | None) -> None:
        if anchor and anchor != self._anchor:
            self._anchor = anchor
            self.parts.append(f"<!-- anchor: {_one_line(anchor)[:200]} -->")

    def para(self, text: str, *, bullet: bool = False) -> None:
        text = _one_line(text)
        if text.startswith("#"):
            text = "\\" + text  # a paragraph starting with '#' must not become a heading
        if text:
            self.parts.append(f"- {text}" if bullet else f"{text}\n")

    def rec(self, number: str, grade: str | None, text: str) -> None:
        badge = f" [{_one_line(grade).replace(']', ')')}]" if grade else ""
        self.parts.append(f"**Rec {_one_line(number)}**{badge} {_one_line(text)}\n")

    def table(self, rows: list[list[str]], caption: str | None = None) -> None:
        """First row is the header; cells are escaped so a '|' in a cell stays in that cell."""
        if caption:
            self.para(caption)
        rows = [
            [_one_line(c).replace("|", "\\|") for c in row] for row in rows if any(_one_line(c) for c in row)
        ]
        if not rows:
            return
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        self.parts.append("\n".join(lines) + "\n")

    def text(self) -> str:
        return "\n".join(self.parts).strip() + "\n"


def emit_paragraph(out: MarkdownWriter, text: str, *, bullet: bool = False, grade: str | None = None) -> None:
    """A paragraph, or a recommendation line when it is a numbered recommendation (ingest/formats/grades)."""
    from ingest.formats.grades import recommendation

    found = recommendation(_one_line(text), grade_hint=grade)
    if found:
        out.rec(*found)
    else:
        out.para(text, bullet=bullet)


def adapter(kind: str) -> Callable[[Path, bytes], Extracted]:
    if kind == "pdf":
        from ingest.formats.pdf import extract
    elif kind == "html":
        from ingest.formats.html import extract
    elif kind == "docx":
        from ingest.formats.docx import extract
    elif kind == "jats":
        from ingest.formats.jats import extract
    else:  # pragma: no cover - FORMATS names only the kinds above
        raise FormatError(f"no adapter for {kind}")
    return extract


def extract(path: Path, raw: bytes) -> Extracted:
    kind = FORMATS[path.suffix.lower()]
    return adapter(kind)(path, raw)
