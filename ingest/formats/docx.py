"""DOCX (local trust protocols) → Markdown, via python-docx (MIT).

Headings come from the paragraph styles ("Title", "Heading 1"-"Heading 6"); list styles become bullets; a
table becomes rows under its first row; numbered recommendations are recognised in paragraph text
(ingest/formats/grades.py). Page headers and footers live in separate parts of the file and are not read.
The title comes from the core properties (File › Properties) or the first heading.

Refused: a file that is not a zip archive, a zip without word/document.xml, and archives whose contents
unpack to more than MAX_UNPACKED bytes (a zip bomb).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from ingest.formats import Extracted, FormatError, MarkdownWriter, emit_paragraph

MAX_UNPACKED = 200_000_000
MAX_ENTRIES = 5000


def _check_zip(raw: bytes) -> None:
    if not raw.startswith(b"PK\x03\x04"):
        raise FormatError(
            "not a DOCX: a .docx file is a zip archive and this one is not (a .doc? save as .docx)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            infos = archive.infolist()
            names = {i.filename for i in infos}
    except zipfile.BadZipFile as exc:
        raise FormatError(f"not a DOCX: damaged zip archive ({exc})") from exc
    if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNPACKED:
        raise FormatError(f"DOCX unpacks to more than {MAX_UNPACKED} bytes or {MAX_ENTRIES} parts; refused")
    if "word/document.xml" not in names:
        raise FormatError("not a DOCX: the zip archive has no word/document.xml")


def extract(path: Path, raw: bytes) -> Extracted:
    _check_zip(raw)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds for a broken package
        raise FormatError(f"not a readable DOCX ({type(exc).__name__})") from exc
    meta: dict = {}
    props = document.core_properties
    if (props.title or "").strip():
        meta["title"] = props.title.strip()
    if (props.identifier or "").strip():
        meta["id"] = props.identifier.strip()
    out = MarkdownWriter()
    first_heading = None
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            level = 1 if style == "Title" else None
            if match := re.fullmatch(r"Heading (\d)", style):
                level = int(match.group(1))
            if level:
                first_heading = first_heading or text
                out.heading(level, text)
            else:
                emit_paragraph(out, text, bullet=style.startswith("List"))
        elif tag == "tbl":
            table = Table(child, document)
            rows = []
            for row in table.rows:
                cells: list[str] = []
                for cell in row.cells:
                    cells.append(cell.text.strip())
                rows.append(cells)
            out.table(rows)
    if "title" not in meta and first_heading:
        meta["title"] = first_heading
    body = out.text()
    if len(re.sub(r"[#*|\-\s]", "", body)) < 20:
        raise FormatError("DOCX has no text to ingest")
    return Extracted(meta.get("title"), meta, body)
