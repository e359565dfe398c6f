"""PDF, HTML, DOCX and JATS through their adapters: the same document tree and chunks as Markdown, plus page
labels, anchors, recommendation numbers and grades; bad files refused by name (no model, no store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.chunking import SECTION_SEP, Chunk, chunk_document, table_row_text
from ingest.documents import load_documents
from ingest.embedding import get_token_counter
from tests.ingest import format_fixtures as fx

SIDECAR = "id: {id}\ntype: guideline\norganisation: ACC/AHA\nyear: 2017\nsource: ACC/AHA 2017 guideline\n"
CHROME = [fx.FOOTER, fx.RUNNING_HEADER, "Related guidelines", "Sign in", "Privacy policy", "Cardiology ›"]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def chunks_of(path: Path) -> list[Chunk]:
    result = load_documents([path.parent])
    assert result.problems == [], [str(p) for p in result.problems]
    (doc,) = [d for d in result.documents if d.path == path]
    return chunk_document(doc, get_token_counter())


def assert_fidelity(chunks: list[Chunk], title: str = fx.TITLE) -> None:
    """Every recommendation whole, with its number, grade and section; table rows with headers; no chrome."""
    ex = fx.expected()
    by_rec = {c.rec: c for c in chunks if c.rec}
    for rec in ex["recs"]:
        assert rec.number in by_rec, f"recommendation {rec.number} lost: {rec.text}"
        chunk = by_rec[rec.number]
        assert chunk.grade == fx.normalised_grade(rec.grade), rec.number
        assert norm(chunk.text) == norm(rec.text), rec.number
        assert chunk.section == SECTION_SEP.join([title, *rec.section]), rec.number
    assert len(by_rec) == len(ex["recs"])
    lines = {norm(line) for c in chunks for line in c.text.split("\n")}
    head, *rows = ex["table"]
    for row in rows:
        assert norm(table_row_text(head, row)) in lines, row
    text = "\n".join(c.text for c in chunks)
    for chrome in CHROME:
        assert chrome not in text
    sections = {name for c in chunks for name in c.section.split(SECTION_SEP)}
    assert set(ex["sections"]) <= sections


def test_html_publisher_page(tmp_path: Path) -> None:
    path = tmp_path / "htn.html"
    path.write_text(fx.publisher_html())
    (tmp_path / "htn.meta.yaml").write_text("id: acc_aha_htn_2017_html\n")
    chunks = chunks_of(path)
    assert_fidelity(chunks)
    rec = next(c for c in chunks if c.rec == "1.1.1")
    assert rec.anchor == "rec-1-1-1"
    assert rec.grade == "Class I, LOE B-NR"
    assert next(c for c in chunks if "Drug Class: ACE inhibitor" in c.text).anchor == "sec-1"
    (doc,) = load_documents([tmp_path]).documents
    assert doc.meta["year"] == 2017 and doc.meta["source"] == "https://doi.org/10.1161/HYP.0000000000000065"
    assert doc.meta["type"] == "guideline" and doc.meta["id"] == "acc_aha_htn_2017_html"


def test_markdown_gains_the_same_conventions(tmp_path: Path) -> None:
    (tmp_path / "g.md").write_text(
        "---\nid: g\ntitle: G\ntype: guideline\norganisation: NICE\nyear: 2024\nsource: NG1\n---\n# G\n"
        "## Pain {#pain}\n<!-- page: 12 -->\n**Rec 1.3.4** [offer (strong)] Offer paracetamol first. "
        "Review in a week.\nOther text here is ordinary prose.\n"
        "| Drug | Dose |\n|---|---|\n| Paracetamol | 1 g |\n"
    )
    chunks = chunks_of(tmp_path / "g.md")
    rec = next(c for c in chunks if c.rec)
    assert (rec.rec, rec.grade, rec.page, rec.anchor) == ("1.3.4", "offer (strong)", "12", "pain")
    assert rec.text == "Offer paracetamol first. Review in a week."
    assert any("Drug: Paracetamol; Dose: 1 g" in c.text for c in chunks)
    assert all("Offer paracetamol" not in c.text for c in chunks if c is not rec)  # a unit of its own


def test_markdown_strength_without_a_number_and_unmarked_bold(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\nid: a\ntitle: A\ntype: guideline\norganisation: AAOS\nyear: 2010\nsource: AAOS\n---\n# A\n"
        "## Augmentation\nIntro sentence about augmentation.\n"
        "**Recommendation** [AAOS 2010: strong] We recommend against vertebroplasty.\n"
        "**Recommendation** without a bracket is ordinary bold prose.\n"
    )
    chunks = chunks_of(tmp_path / "a.md")
    graded = [c for c in chunks if c.grade]
    assert [(c.rec, c.grade, c.text) for c in graded] == [
        (None, "AAOS 2010: strong", "We recommend against vertebroplasty.")
    ]
    assert any("Recommendation without a bracket" in c.text for c in chunks if not c.grade)


def test_the_shipped_seed_topic_states_its_sources_strengths() -> None:
    """The shipped corpus uses the conventions where its sources state a strength (NICE TA279, AAOS 2010)."""
    corpus = Path(__file__).resolve().parents[2] / "corpus"
    graded = {
        (c.doc_id, c.rec, c.grade)
        for name in (
            "vertebral_augmentation_indications_nice_ta279_2013",
            "osteoporotic_vertebral_compression_fractures",
        )
        for c in chunks_of(corpus / f"{name}.md")
        if c.grade
    }
    assert (
        "vertebral_augmentation_indications_nice_ta279_2013",
        "1.1",
        "NICE TA279: recommended as an option",
    ) in graded
    assert {g for _, _, g in graded} >= {"AAOS 2010: strong", "AAOS 2010: limited", "AAOS 2010: moderate"}


def test_file_without_metadata_names_the_missing_fields(tmp_path: Path) -> None:
    page = fx.publisher_html()
    page = re.sub(r'<meta name="citation_(?:publisher|publication_date|doi|article_type)"[^>]*>', "", page)
    (tmp_path / "bare.html").write_text(page)
    (problem,) = load_documents([tmp_path]).problems
    assert "bare.html" in str(problem)
    for name in ("type", "year", "source", "organisation"):
        assert name in problem.message
    assert "bare.meta.yaml" in problem.message
    (tmp_path / "bare.meta.yaml").write_text(SIDECAR.format(id="bare"))
    result = load_documents([tmp_path])
    assert result.problems == [] and result.documents[0].meta["year"] == 2017


def test_html_without_main_content_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nav.html").write_text(
        f"<html><head><title>x</title></head><body>{fx.CHROME_TOP}{fx.CHROME_BOTTOM}</body></html>"
    )
    (problem,) = load_documents([tmp_path]).problems
    assert "nav.html" in str(problem) and "no main content" in problem.message


@pytest.fixture(scope="module")
def pdf_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The guideline printed by headless Chromium: cover + contents (i-ii), body pages e563…, running
    header and footer, a two-column section, a ruled table."""
    return fx.write_pdf(tmp_path_factory.mktemp("pdf") / "htn.pdf").read_bytes()


@pytest.mark.e2e
def test_pdf_printed_by_chromium(tmp_path: Path, pdf_bytes: bytes) -> None:
    path = tmp_path / "htn.pdf"
    path.write_bytes(pdf_bytes)
    (tmp_path / "htn.meta.yaml").write_text(SIDECAR.format(id="acc_aha_htn_2017_pdf"))
    chunks = chunks_of(path)
    assert_fidelity(chunks)
    by_rec = {c.rec: c for c in chunks if c.rec}
    assert by_rec["1.1.1"].page == "e563"
    assert by_rec["3.0.1"].page == "e564"  # the page the recommendation is printed on
    pages = {c.page for c in chunks} | {c.page_end for c in chunks if c.page_end}
    assert pages >= {"i", "ii", "e563", "e564"}  # roman front matter kept, not dropped
    two_column = [c for c in chunks if "Special Populations" in c.section and c.rec]
    assert len(two_column) >= 10  # the two-column section read column by column, every rec whole
    (doc,) = load_documents([tmp_path]).documents
    assert doc.title == fx.TITLE and doc.meta["format"] == "pdf"


@pytest.mark.e2e
def test_bad_pdfs_are_refused_by_name(tmp_path: Path, pdf_bytes: bytes) -> None:
    from PIL import Image
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(__import__("io").BytesIO(pdf_bytes)))
    writer.encrypt("secret")
    with open(tmp_path / "locked.pdf", "wb") as out:
        writer.write(out)
    (tmp_path / "truncated.pdf").write_bytes(pdf_bytes[: len(pdf_bytes) // 3])
    (tmp_path / "notapdf.pdf").write_bytes(b"<html>this is not a PDF</html>")
    Image.new("RGB", (600, 800), "white").save(tmp_path / "scanned.pdf")
    for name in ("locked", "truncated", "notapdf", "scanned"):
        (tmp_path / f"{name}.meta.yaml").write_text(SIDECAR.format(id=name) + "title: T\n")
    problems = {p.path.name: p.message for p in load_documents([tmp_path]).problems}
    assert "encrypted" in problems["locked.pdf"]
    assert "needs OCR" in problems["scanned.pdf"]
    assert "corrupt PDF" in problems["notapdf.pdf"]
    assert problems["truncated.pdf"]  # pypdf recovers what it can or refuses; never a traceback


def test_docx_with_heading_styles(tmp_path: Path) -> None:
    path = fx.write_docx(tmp_path / "htn.docx")
    (tmp_path / "htn.meta.yaml").write_text(SIDECAR.format(id="acc_aha_htn_2017_docx"))
    chunks = chunks_of(path)
    assert_fidelity(chunks)
    (doc,) = load_documents([tmp_path]).documents
    assert doc.title == fx.TITLE and doc.meta["format"] == "docx"


def test_jats_article(tmp_path: Path) -> None:
    path = fx.write_jats(tmp_path / "htn.nxml")
    (tmp_path / "htn.meta.yaml").write_text("id: acc_aha_htn_2017_jats\n")  # the rest is in <front>
    chunks = chunks_of(path)
    assert_fidelity(chunks)
    assert next(c for c in chunks if c.rec == "1.1.1").anchor == "rec1_1_1"
    assert next(c for c in chunks if "Drug Class: ARB" in c.text).anchor == "T1"
    assert not any("Reference list text" in c.text for c in chunks)  # <back> is not guideline body
    (doc,) = load_documents([tmp_path]).documents
    assert (doc.meta["year"], doc.meta["type"], doc.meta["organisation"]) == (
        2017,
        "guideline",
        "American Heart Association",
    )


def test_bad_docx_xml_and_oversized_files_are_refused_by_name(tmp_path: Path) -> None:
    from ingest.formats import MAX_BYTES

    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)  # a .doc (OLE2)
    (tmp_path / "feed.xml").write_text('<?xml version="1.0"?><rss><channel><title>x</title></channel></rss>')
    (tmp_path / "broken.xml").write_text("<article><body><sec><p>unclosed</sec></article>")
    with open(tmp_path / "huge.html", "wb") as out:
        out.truncate(MAX_BYTES["html"] + 1)
    for name in ("old", "feed", "broken", "huge"):
        (tmp_path / f"{name}.meta.yaml").write_text(SIDECAR.format(id=name) + "title: T\n")
    problems = {p.path.name: p.message for p in load_documents([tmp_path]).problems}
    assert "not a DOCX" in problems["old.docx"]
    assert "not JATS" in problems["feed.xml"]
    assert "not well-formed XML" in problems["broken.xml"]
    assert "larger than" in problems["huge.html"]
