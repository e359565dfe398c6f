"""Document validation and heading-aware chunking, in process (no model, no store)."""

from __future__ import annotations

from pathlib import Path

from ingest.chunking import SECTION_SEP, chunk_document, split_sentences
from ingest.documents import load_documents
from ingest.embedding import get_token_counter

GOOD = """---
id: sample_doc
title: Sample Guideline
type: guideline
organisation: Test Society
year: 2024
source: "Test Society. Sample Guideline. 2024."
cites: [other_doc]
---
# Sample Guideline

## Assessment
Obtain cross-sectional imaging when pain increases. Examine the lower limbs for new deficits.

### Imaging choice
- **MRI** with STIR sequences shows acute fractures, e.g. marrow oedema.
- CT shows cement leakage well.

## Management
Most leaks cause no symptoms and need no treatment.
"""


def write(root: Path, name: str, text: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_valid_document_and_front_matter_fields(tmp_path: Path) -> None:
    write(tmp_path, "sample_doc.md", GOOD)
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.doc_id == "sample_doc"
    assert doc.meta["cites"] == ["other_doc"]
    assert doc.meta["year"] == 2024


def test_document_without_front_matter_takes_path_id_and_first_heading(tmp_path: Path) -> None:
    write(
        tmp_path, "aha_stroke_2019/thrombolysis.md", "Intro line\n\n# Thrombolysis — AHA 2019\n\nText here.\n"
    )
    (doc,) = load_documents([tmp_path]).documents
    assert doc.doc_id == "aha_stroke_2019/thrombolysis"
    assert doc.title == "Thrombolysis — AHA 2019"


def test_every_invalid_file_is_named_with_its_problem(tmp_path: Path) -> None:
    write(tmp_path, "ok.md", GOOD)
    write(tmp_path, "bad_yaml.md", "---\nid: [unclosed\ntitle: x\n---\n# X\nbody\n")
    write(tmp_path, "missing.md", "---\nid: missing\ntitle: Missing\ntype: guideline\n---\n# Missing\nbody\n")
    write(tmp_path, "latin1.md", "# Caf\xe9\n".encode("latin-1"))
    write(tmp_path, "empty.md", "   \n")
    write(tmp_path, "dup.md", GOOD)
    write(tmp_path, "no_heading.md", "just text, no heading\n")
    problems = {Path(p.path).name: p.message for p in load_documents([tmp_path]).problems}
    assert "invalid YAML" in problems["bad_yaml.md"]
    assert "year" in problems["missing.md"] and "source" in problems["missing.md"]
    assert "organisation or journal" in problems["missing.md"]
    assert "UTF-8" in problems["latin1.md"]
    assert "empty" in problems["empty.md"]
    assert "duplicate id 'sample_doc'" in problems["dup.md"]
    assert "duplicate id 'sample_doc'" in problems["ok.md"]
    assert "heading" in problems["no_heading.md"]


def test_guardrail_texts_and_readmes_are_not_ingested(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# About this corpus\n")
    write(
        tmp_path, "guardrails/neuro.md", "---\ntype: guardrail\ncategory: neuro\nversion: '1'\n---\nCall.\n"
    )
    write(tmp_path, "sample_doc.md", GOOD)
    result = load_documents([tmp_path])
    assert [d.doc_id for d in result.documents] == ["sample_doc"]
    assert len(result.skipped) == 2


def test_chunks_keep_section_paths_and_verbatim_sentences(tmp_path: Path) -> None:
    write(tmp_path, "sample_doc.md", GOOD)
    (doc,) = load_documents([tmp_path]).documents
    chunks = chunk_document(doc, get_token_counter())
    sections = [c.section for c in chunks]
    assert sections == [
        f"Sample Guideline{SECTION_SEP}Assessment",
        f"Sample Guideline{SECTION_SEP}Assessment{SECTION_SEP}Imaging choice",
        f"Sample Guideline{SECTION_SEP}Management",
    ]
    assert [c.chunk_id for c in chunks] == ["sample_doc::0000", "sample_doc::0001", "sample_doc::0002"]
    imaging = chunks[1]
    assert "**" not in imaging.text  # markup stripped so quoted sentences read as text
    assert imaging.sentences == [
        "MRI with STIR sequences shows acute fractures, e.g. marrow oedema.",
        "CT shows cement leakage well.",
    ]
    for chunk in chunks:
        for sentence in chunk.sentences:
            assert sentence in chunk.text


def test_long_sections_are_split_under_the_token_budget(tmp_path: Path) -> None:
    sentences = " ".join(
        f"Sentence number {i} explains a separate clinical point in detail." for i in range(80)
    )
    text = GOOD.replace("Most leaks cause no symptoms and need no treatment.", sentences)
    write(tmp_path, "sample_doc.md", text)
    (doc,) = load_documents([tmp_path]).documents
    count = get_token_counter()
    chunks = chunk_document(doc, count, max_tokens=120)
    management = [c for c in chunks if c.heading == "Management"]
    assert len(management) > 3
    assert all(count([c.embed_text])[0] <= 120 for c in management)
    assert " ".join(" ".join(c.text for c in management).split()) == sentences


def test_sentence_split_respects_abbreviations() -> None:
    text = "Give drug A, e.g. at night. Stop drug B vs. drug C when needed.\n- Bullet one is here.\nok"
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == [
        "Give drug A, e.g. at night.",
        "Stop drug B vs. drug C when needed.",
        "Bullet one is here.",
    ]
    # before a capital or a digit too, where the full stop alone would end a sentence
    text = "Give an analgesic, e.g. Paracetamol 1 g, at night. Compare A vs. B. See Fig. 2 and i.e. 4 weeks."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Give an analgesic, e.g. Paracetamol 1 g, at night.",
        "Compare A vs. B.",
        "See Fig. 2 and i.e. 4 weeks.",
    ]
