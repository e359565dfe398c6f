"""PDF layout a typeset protocol throws at extraction: a table crossing a page break, headings set in bold
at body size, line-end hyphens, justified lines, running header and footer (a real Chromium-printed PDF)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.chunking import SECTION_SEP, Chunk, table_row_text
from ingest.formats import dehyphen
from tests.ingest import format_fixtures as fx
from tests.ingest.test_formats import chunks_of, norm

SIDECAR = (
    "id: ugib_protocol\ntype: guidance\norganisation: Acute Medicine Directorate\nyear: 2024\nsource: local\n"
)


@pytest.fixture(scope="module")
def protocol(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, fx.Protocol, list[Chunk]]:
    folder = tmp_path_factory.mktemp("protocol")
    html_text, info = fx.protocol()
    path = fx.write_pdf(folder / "ugib.pdf", html_text, labels=False)
    (folder / "ugib.meta.yaml").write_text(SIDECAR)
    return path, info, chunks_of(path)


def test_the_table_really_crosses_a_page_break(protocol) -> None:
    import pdfplumber

    path, info, _ = protocol
    with pdfplumber.open(path) as pdf:
        found = [(i, t.extract()[0]) for i, page in enumerate(pdf.pages) for t in page.find_tables()]
    pages = [i for i, head in found if head == info.table_head]
    assert len(pages) == 2 and pages[1] == pages[0] + 1  # the premise of the next test


def filled(rows: list[list[str]]) -> list[list[str]]:
    """Rows whose blank first cell carries the label above (a row-spanning cell, as chunking reads it)."""
    out, label = [], ""
    for row in rows:
        label = row[0] or label
        out.append([label, *row[1:]])
    return out


def test_rows_across_the_break_keep_their_header_and_their_page(protocol) -> None:
    _, info, chunks = protocol
    located = [(norm(line), c) for c in chunks for line in c.text.split("\n")]
    texts = [text for text, _ in located]
    for row in filled(info.table_rows):  # every row once, with its parameter, none lost at the break
        assert texts.count(norm(table_row_text(info.table_head, row))) == 1, row
    assert norm(table_row_text(info.table_head, info.table_head)) not in texts  # repeated header is no row
    page_of = {text: c.page for text, c in located}
    first, last = filled(info.table_rows)[0], filled(info.table_rows)[-1]
    assert page_of[norm(table_row_text(info.table_head, first))] == "1"
    assert page_of[norm(table_row_text(info.table_head, last))] == "2"  # cited on the page it is printed on
    for _, chunk in located:
        if "Score:" in chunk.text and "Parameter:" in chunk.text:
            assert chunk.section.endswith("Glasgow-Blatchford Score (GBS)")


def test_bold_body_size_lines_are_headings(protocol) -> None:
    _, info, chunks = protocol
    sections = {name for c in chunks for name in c.section.split(SECTION_SEP)}
    assert set(info.sections) <= sections
    body = "\n".join(c.text for c in chunks)
    for heading in info.sections:
        assert heading not in body.split("\n")  # not left behind as a paragraph


def test_line_end_hyphens_and_justified_lines(protocol) -> None:
    _, info, chunks = protocol
    text = norm(" ".join(c.text for c in chunks))
    assert len(info.words) >= 3
    for word in info.words:  # every word the typesetter broke reads whole again
        assert re.search(rf"\b{re.escape(word)}\b", text), word
    assert dehyphen.MARK not in text and not re.search(r"[a-z]- [a-z]", text)
    assert "Mallory-Weiss" in text  # a real hyphen at a cell's line end stays
    # a justified line with stretched spaces across the page's middle is one line, not two columns
    assert "A GBS of 0 is highly specific for patients who can be safely discharged" in text
    for chrome in (fx.PROTOCOL_HEADER, fx.PROTOCOL_FOOTER):
        assert chrome not in text


def test_printed_lines_join_the_same_way_in_text_and_cells() -> None:
    from ingest.formats.pdf import _cell, _join

    assert _join("non-", "Hodgkin lymphoma") == "non-Hodgkin lymphoma"  # a hyphen before a capital stays
    assert _join("recom-", "mended") == f"recom{dehyphen.MARK}mended"  # decided per word later
    assert _join("treat\u00ad", "ment") == "treatment"  # a soft hyphen is a hyphenation point
    assert _join("at first", "assessment") == "at first assessment"
    assert _cell("Mallory-\nWeiss, no\nlesion") == "Mallory-Weiss, no lesion"


@pytest.mark.parametrize(
    ("left", "right", "own", "expected"),
    [
        ("recom", "mended", set(), "recommended"),  # a hyphenation point: the joined word is a word
        ("decision", "making", set(), "decision-making"),  # two words: a compound keeps its hyphen
        ("indi", "vidualised", set(), "individualised"),  # a fragment that is no word: joined
        ("re", "bleeding", {"re-bleeding"}, "re-bleeding"),  # the document writes it hyphenated
        ("self", "care", {"selfcare"}, "selfcare"),  # the document writes it joined
    ],
)
def test_dehyphenation_decision(left: str, right: str, own: set[str], expected: str) -> None:
    assert dehyphen.resolve(f"the {left}{dehyphen.MARK}{right} rule", own) == f"the {expected} rule"
