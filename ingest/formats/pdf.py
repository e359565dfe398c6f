"""PDF guidelines → Markdown with page labels, via pdfplumber (pdfminer.six, MIT) and pypdf (BSD).

- Page labels come from the PDF's /PageLabels (pypdf): roman front matter ("xii"), e-pages ("e563") and
  plain numbers stay as printed; without labels the label is the 1-based page number.
- Headings are lines set larger than the body text (the most common font size); each distinct heading size
  is a level, largest first. A short line set wholly in bold at body size, standing alone and not ending in
  punctuation, is a heading one level below those (many trust protocols and pocket guidelines head their
  sections that way); bold *within* a line is not (recommendation badges are bold), nor is a bold line that
  states a grade or starts a numbered recommendation, nor any bold when the body text itself is mostly bold.
- Two-column pages: a run of lines that do not cross the page's middle is read left column first, then
  right; a line crossing the middle (a heading or paragraph across the page) ends the run. A gap at the
  middle counts as a gutter only when the lines next to it leave the middle empty too, so a justified line
  whose stretched spaces straddle the middle stays one line.
- Running headers and footers: lines in the top/bottom margin band that repeat (digits ignored) on at least
  half of the pages, and bare page numbers there, are dropped.
- Tables (pdfplumber's ruling-line finder) become rows under their header; a table continuing on the next
  page (same columns, its header repeated or not) continues under the same header, each row cited with the
  page it is printed on.
- Paragraphs start after a vertical gap or after a short line; a paragraph that ends without punctuation
  and continues in lower case on the next page or column is joined, keeping the page it started on.
- A line ending in a hyphen is joined to the next with or without it, judged per word
  (ingest/formats/dehyphen.py); soft hyphens (U+00AD) are always hyphenation points.

Refused: encrypted (password) PDFs, files pypdf cannot open, and PDFs with no text layer ("needs OCR").
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.formats import Extracted, FormatError, MarkdownWriter, dehyphen, emit_paragraph
from ingest.formats.grades import find_grade

MAX_PAGES = 2000
MARGIN_BAND = 0.09  # top/bottom share of the page where running headers and footers live
MIN_TEXT_CHARS = 40
GUTTER_BAND = 4.0  # half-width (pt) of the band at the page's middle that a column gutter leaves empty
COLUMN_RUN = 4  # rows next to a gap that must leave that band empty for the gap to be a gutter
BOLD_HEADING_MAX_WORDS = 14
BOLD_BODY_SHARE = 0.3  # above this share of bold body text, bold says nothing about structure
BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.I)
LINE_END_HYPHEN = ("-", "\u2010")
REC_START = re.compile(r"(?:Recommendation\s+)?\d{1,3}(?:\.\d{1,3}){1,4}[a-z]?\.?\s+[A-Z]")


@dataclass
class _Line:
    text: str
    top: float
    bottom: float
    x0: float
    x1: float
    size: float
    page: int
    lane: str = "full"
    bold: bool = False


@dataclass
class _Table:
    rows: list[list[str]]
    top: float
    page: int
    x0: float = 0.0


@dataclass
class _Para:
    text: str
    page: int
    size: float
    kind: str = "text"  # text | heading | table
    rows: list[list[str]] = field(default_factory=list)
    bold: bool = False  # a heading set in bold at body size (levelled below the larger headings)


def _open(raw: bytes):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FormatError("encrypted PDF (password-protected); remove the password to ingest it")
        pages = len(reader.pages)
    except FormatError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormatError(f"corrupt PDF or not a PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if reader.is_encrypted:
        raise FormatError("encrypted PDF; ingest an unencrypted copy")
    if pages > MAX_PAGES:
        raise FormatError(f"PDF has {pages} pages, more than {MAX_PAGES}")
    try:
        labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001 - a broken /PageLabels tree: fall back to page numbers
        labels = []
    if len(labels) != pages:
        labels = [str(i + 1) for i in range(pages)]
    meta = {}
    try:
        info: dict[Any, Any] = reader.metadata or {}
        title = str(info.get("/Title") or "").strip()
        if title and not re.search(r"untitled|\.(docx?|pdf|html?)$|^microsoft word", title, re.I):
            meta["title"] = title
    except Exception:  # noqa: BLE001 - unreadable info dictionary: take nothing from it
        pass
    return labels, meta


def _rows(words: list[dict]) -> list[list[dict]]:
    rows: list[list[dict]] = []
    for word in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        if rows and abs(rows[-1][0]["top"] - word["top"]) <= 2.0:
            rows[-1].append(word)
        else:
            rows.append([word])
    return [sorted(r, key=lambda w: w["x0"]) for r in rows]


def _line(words: list[dict], page: int, lane: str = "full") -> _Line:
    return _Line(
        text=" ".join(w["text"] for w in words),
        top=min(w["top"] for w in words),
        bottom=max(w["bottom"] for w in words),
        x0=min(w["x0"] for w in words),
        x1=max(w["x1"] for w in words),
        size=max(round(w.get("size", 0) * 2) / 2 for w in words),
        page=page,
        lane=lane,
        bold=all(BOLD_FONT.search(w.get("fontname", "")) for w in words),
    )


def _join(text: str, line: str) -> str:
    """`text` continued by the next printed `line`, in body text and in table cells alike.

    A soft hyphen is a hyphenation point; a letter-hyphen at the line end before a lower-case word is
    decided per word once the document is read (dehyphen.MARK); before anything else the hyphen stays and
    the words join ("non-" + "Hodgkin"); otherwise a space.
    """
    soft = text.endswith("\u00ad")
    head = text.replace("\u00ad", "")
    if soft:
        return head + line
    if head.endswith(LINE_END_HYPHEN) and head[-2:-1].isalpha():
        return head[:-1] + (dehyphen.MARK if line[:1].islower() else "-") + line
    return f"{head} {line}"


def _cell(text: str | None) -> str:
    """A table cell's lines as one line, joined as body text is."""
    out = ""
    for line in (text or "").split("\n"):
        line = line.strip()
        if line:
            out = _join(out, line) if out else line
    return out


def _gutter(left: list[dict], right: list[dict], mid: float) -> tuple[float, float] | None:
    """The empty band at the page's middle between a row's left and right words, if the gap is wide."""
    if right[0]["x0"] - left[-1]["x1"] <= 12:
        return None
    return max(left[-1]["x1"], mid - GUTTER_BAND), min(right[0]["x0"], mid + GUTTER_BAND)


def _column_run(rows: list[list[dict]], i: int, band: tuple[float, float]) -> bool:
    """Whether the gap at row `i` is a gutter: the rows next to it (above and below, counted until one has a
    word in the band) leave it empty for COLUMN_RUN rows — two columns, not a justified line whose stretched
    spaces happen to straddle the middle between lines that cross it."""

    def clear(row: list[dict]) -> bool:
        return not any(w["x0"] < band[1] and w["x1"] > band[0] for w in row)

    run = 0
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(rows) and clear(rows[j]):
            run += 1
            j += step
    return run >= COLUMN_RUN


def _page_lines(page, index: int) -> tuple[list[_Line | _Table], float]:
    """The page's lines (and tables) in reading order, two columns read one after the other."""
    mid = page.width / 2
    tables = []
    try:
        found = page.find_tables()
    except Exception:  # noqa: BLE001 - a table finder failure must not lose the page's text
        found = []
    for table in found:
        rows = [[_cell(c) for c in row] for row in table.extract()]
        rows = [r for r in rows if any(r)]
        if len(rows) >= 2:
            tables.append((table.bbox, _Table(rows, table.bbox[1], index, table.bbox[0])))
    words = page.extract_words(extra_attrs=["size", "fontname"], use_text_flow=False)

    def in_table(w: dict) -> bool:
        return any(
            b[0] - 1 <= w["x0"] and w["x1"] <= b[2] + 1 and b[1] - 1 <= w["top"] <= b[3] + 1
            for b, _ in tables
        )

    words = [w for w in words if not in_table(w)]
    items: list[tuple[float, str, _Line | _Table]] = []  # (top, lane, item) ; lane: full | left | right
    word_rows = _rows(words)
    for i, row in enumerate(word_rows):
        left = [w for w in row if w["x1"] <= mid]
        right = [w for w in row if w["x0"] >= mid]
        crossing = any(w["x0"] < mid < w["x1"] for w in row)
        band = _gutter(left, right, mid) if left and right and not crossing else None
        if crossing or (left and right and (band is None or not _column_run(word_rows, i, band))):
            items.append((row[0]["top"], "full", _line(row, index)))
        else:
            if left:
                items.append((left[0]["top"], "left", _line(left, index, "left")))
            if right:
                items.append((right[0]["top"], "right", _line(right, index, "right")))
    for bbox, table in tables:
        lane = "full" if bbox[0] < mid < bbox[2] else ("left" if bbox[2] <= mid else "right")
        items.append((bbox[1], lane, table))
    items.sort(key=lambda t: t[0])
    ordered: list[_Line | _Table] = []
    run: list[tuple[float, str, _Line | _Table]] = []

    def flush() -> None:
        ordered.extend(i for _, lane, i in run if lane == "left")
        ordered.extend(i for _, lane, i in run if lane == "right")
        run.clear()

    for item in items:
        if item[1] == "full":
            flush()
            ordered.append(item[2])
        else:
            run.append(item)
    flush()
    return ordered, page.height


def _chrome(pages: list[tuple[list, float]]) -> set[tuple[int, int]]:
    """(page, item index) of running headers/footers and bare page numbers in the margin bands."""

    def key(text: str) -> str:
        return re.sub(r"\d+|\b[ivxlcdm]+\b", "#", text.lower()).strip()

    seen: Counter[str] = Counter()
    banded: list[tuple[int, int, str]] = []
    for p, (items, height) in enumerate(pages):
        keys = set()
        for i, item in enumerate(items):
            if isinstance(item, _Line) and (
                item.top < height * MARGIN_BAND or item.bottom > height * (1 - MARGIN_BAND)
            ):
                banded.append((p, i, item.text))
                keys.add(key(item.text))
        seen.update(keys)
    threshold = max(2, (len(pages) + 1) // 2)
    drop = set()
    for p, i, text in banded:
        bare = re.fullmatch(r"(?:page\s*)?[\divxlcdm]+(?:\s*(?:/|of)\s*\d+)?|e\d+", text.strip(), re.I)
        if bare or (len(pages) >= 2 and seen[key(text)] >= threshold):
            drop.add((p, i))
    return drop


def _paragraphs(pages: list[tuple[list, float]], drop: set[tuple[int, int]]) -> tuple[list[_Para], float]:
    sizes: Counter[float] = Counter()  # characters per font size
    bold: Counter[float] = Counter()  # of which set in bold
    for p, (items, _) in enumerate(pages):
        for i, item in enumerate(items):
            if isinstance(item, _Line) and (p, i) not in drop:
                sizes[item.size] += len(item.text)
                bold[item.size] += len(item.text) if item.bold else 0
    if not sizes:
        return [], 0.0
    body = sizes.most_common(1)[0][0]
    bold_headings = bold[body] <= BOLD_BODY_SHARE * sizes[body]
    paras: list[_Para] = []
    prev: _Line | None = None
    for p, (items, _) in enumerate(pages):
        lines = [it for i, it in enumerate(items) if (p, i) not in drop]
        right_edge: dict[str, float] = {}
        for it in lines:
            if isinstance(it, _Line):
                right_edge[it.lane] = max(right_edge.get(it.lane, 0.0), it.x1)
        for item in lines:
            if isinstance(item, _Table):
                last = paras[-1] if paras else None
                if (
                    last
                    and last.kind == "table"
                    and item.page == last.page + 1
                    and len(item.rows[0]) == len(last.rows[0])
                    and prev is None
                ):
                    # the same table continued on the next page: its rows under the same header, cited with
                    # the page they are printed on
                    rows = [list(r) for r in (item.rows[1:] if item.rows[0] == last.rows[0] else item.rows)]
                    label = next((r[0] for r in reversed(last.rows[1:]) if r and r[0]), "")
                    if rows and rows[0] and not rows[0][0] and any(rows[0][1:]):
                        rows[0][0] = label  # a row-spanning label cut by the page break (see chunking)
                    paras.append(_Para("", item.page, body, "table", [last.rows[0], *rows]))
                else:
                    paras.append(_Para("", item.page, body, "table", list(item.rows)))
                prev = None
                continue
            last = paras[-1] if paras else None
            bold_line = bold_headings and _bold_heading(item, prev, last, body)
            heading = bold_line or (item.size >= body * 1.12 and len(item.text.split()) <= 25)
            if heading:
                if (
                    last
                    and last.kind == "heading"
                    and last.size == item.size
                    and last.bold == bold_line
                    and prev is not None
                    and item.top - prev.bottom < item.size
                ):
                    last.text += " " + item.text
                else:
                    paras.append(_Para(item.text, item.page, item.size, "heading", bold=bold_line))
                prev = item
                continue
            new = (
                last is None
                or last.kind != "text"
                or prev is None
                or item.top - prev.top > max(prev.size, item.size) * 1.5
                or item.top < prev.top
                or (prev.x1 < right_edge[prev.lane] - 40 and item.text[:1].isupper())
                or abs(item.x0 - prev.x0) > 12
                or {item.lane, prev.lane} == {"left", "right"}
                or bool(REC_START.match(item.text))
            )
            continuation = (
                last is not None
                and last.kind == "text"
                and (prev is None or item.top < prev.top)
                and not re.search(r"[.:;!?)]$", last.text)
                and item.text[:1].islower()
            )
            if new and not continuation:
                paras.append(_Para(item.text, item.page, item.size))
            else:
                assert last is not None  # `new` is true whenever there is no paragraph yet
                last.text = _join(last.text, item.text)
            prev = item
        prev = None  # a new page: the first line starts a paragraph unless it continues one
    return paras, body


def _bold_heading(item: _Line, prev: _Line | None, last: _Para | None, body: float) -> bool:
    """A short, wholly bold line at body size that stands alone: a heading (see the module docstring)."""
    text = item.text.strip()
    return (
        item.bold
        and abs(item.size - body) <= body * 0.12
        and 0 < len(text.split()) <= BOLD_HEADING_MAX_WORDS
        and text[:1].isalnum()
        and not re.search(r"[.,;:!?]$", text)
        and not REC_START.match(text)
        and find_grade(text) is None
        and (prev is None or last is None or last.kind != "text" or item.top - prev.top > prev.size * 1.5)
    )


def extract(path: Path, raw: bytes) -> Extracted:
    labels, meta = _open(raw)
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        with pdfplumber.open(io.BytesIO(raw)) as pdf:
            pages = [_page_lines(page, i) for i, page in enumerate(pdf.pages)]
            images = sum(len(page.images) for page in pdf.pages)
    except PDFSyntaxError as exc:
        raise FormatError(f"corrupt PDF ({str(exc)[:120]})") from exc
    chars = sum(len(it.text) for items, _ in pages for it in items if isinstance(it, _Line))
    if chars < MIN_TEXT_CHARS:
        what = f"{len(pages)} page(s) of scanned images" if images else f"{len(pages)} page(s)"
        raise FormatError(f"PDF has no text layer ({what}, no extractable text); it needs OCR first")
    paras, _ = _paragraphs(pages, _chrome(pages))
    own_words = dehyphen.document_words(p.text for p in paras)
    for para in paras:
        para.text = dehyphen.resolve(para.text, own_words)
        para.rows = [[dehyphen.resolve(cell, own_words) for cell in row] for row in para.rows]
    heading_sizes = sorted({p.size for p in paras if p.kind == "heading" and not p.bold}, reverse=True)
    level = {size: min(i + 1, 6) for i, size in enumerate(heading_sizes)}
    bold_level = min(len(heading_sizes) + 1, 6)
    title = meta.get("title")
    if not title:
        first = next((p for p in paras if p.kind == "heading" and not p.bold), None)
        if first:
            title = meta["title"] = first.text
    out = MarkdownWriter()
    for para in paras:
        out.page(labels[para.page])
        if para.kind == "heading":
            out.heading(bold_level if para.bold else level[para.size], para.text)
        elif para.kind == "table":
            out.table(para.rows)
        else:
            emit_paragraph(out, para.text)
    return Extracted(title, meta, out.text())
