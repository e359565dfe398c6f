"""Provenance front matter (source_kind, review_status, reviewed, reviewer_role, attribution): validated at
ingest with the file named, carried into chunk metadata, and required of every shipped document."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ingest.chunking import chunk_document
from ingest.documents import PROVENANCE_FIELDS, REVIEW_STATUSES, SOURCE_KINDS, load_documents
from ingest.embedding import get_token_counter
from ingest.pipeline import chunk_record
from tests.conftest import CORPUS

HEAD = """---
id: sample_doc
title: Sample Guideline
type: research
journal: Test Journal
year: 2011
source: "Author A, Author B. Sample title. Test Journal. 2011;31(3):294-297."
{extra}
---
# Sample Guideline

## Section
Obtain cross-sectional imaging when pain increases.
"""


def load(tmp_path: Path, extra: str):
    (tmp_path / "sample_doc.md").write_text(HEAD.format(extra=extra))
    return load_documents([tmp_path])


def test_provenance_fields_are_accepted_and_carried_into_the_chunk_record(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        "source_kind: research\nreview_status: reviewed\nreviewed: 2025-12-01\n"
        'reviewer_role: "clinical reviewer"\nattribution: "other_page: what it attributes to this paper"',
    )
    assert result.problems == []
    (doc,) = result.documents
    assert doc.meta["source_kind"] == "research" and doc.meta["reviewed"] == "2025-12-01"
    chunk = chunk_document(doc, get_token_counter())[0]
    meta = chunk_record(doc, chunk, "test-embedder").to_chroma()[2]
    for key in PROVENANCE_FIELDS:
        assert meta[key] == doc.meta[key]


def test_provenance_fields_are_optional_for_other_corpora(tmp_path: Path) -> None:
    result = load(tmp_path, "")
    assert result.problems == [] and "source_kind" not in result.documents[0].meta


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("source_kind: blog", "one of guideline, research, summary, answer-page, not 'blog'"),
        ("source_kind: [research]", "source_kind must be one of"),
        ("review_status: approved", "review_status must be one of reviewed, pending-review, not 'approved'"),
        ("review_status: reviewed\nreviewed: 2025-13-01", "invalid value in YAML front matter"),
        ("review_status: reviewed\nreviewed: last week", "reviewed must be a date YYYY-MM-DD"),
        ("review_status: pending-review\nreviewed: 2025-12-01", "reviewed (a review date) needs"),
        ('reviewer_role: "a\\nb"', "reviewer_role must be one line"),
        ("attribution: 3", "attribution must be text"),
    ],
)
def test_bad_provenance_is_refused_by_name(tmp_path: Path, extra: str, message: str) -> None:
    result = load(tmp_path, extra)
    assert result.documents == []
    (problem,) = result.problems
    assert problem.path.name == "sample_doc.md" and message in str(problem), str(problem)


# --------------------------------------------------------------------- the shipped corpus, every document

def shipped() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(CORPUS.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        text = path.read_text(encoding="utf-8")
        docs.append((path.stem, yaml.safe_load(text.split("---\n", 2)[1])))
    return docs


SHIPPED = shipped()
IDS = {doc_id for doc_id, _ in SHIPPED}
JOURNAL_ISSUE = re.compile(r"\b(?:19|20)\d\d;\s*\d+(?:\([^)]*\))?")  # "2011;31(3)" …
VOLUME_PAGES = re.compile(r"\b(?:19|20)\d\d;\s*\d+(?:\([^)]*\))?:\s*\d+(?:-\d+)?")  # … with ":294-297"
AUTHORS = re.compile(r"[A-ZÅ][\w'-]+ [A-Z]{1,4}[,.]")  # "Krueger A," "Åkesson K," "Al-Nakshabandi NA."
WHY_NOT = re.compile(r"citation incomplete|no named authors, volume or pages|no volume or pages", re.I)


def test_the_shipped_corpus_is_all_checked() -> None:
    assert len(SHIPPED) >= 17
    result = load_documents([CORPUS])
    assert result.problems == [], [str(p) for p in result.problems]


@pytest.mark.parametrize(("doc_id", "meta"), SHIPPED, ids=[d for d, _ in SHIPPED])
def test_every_shipped_document_states_its_provenance(doc_id: str, meta: dict) -> None:
    assert meta.get("source_kind") in SOURCE_KINDS, f"{doc_id}: source_kind missing or unknown"
    assert meta.get("review_status") in REVIEW_STATUSES, f"{doc_id}: review_status missing or unknown"
    if meta["review_status"] == "reviewed":
        assert meta.get("reviewer_role"), f"{doc_id}: a reviewed document names who reviewed it"
    if meta["source_kind"] == "answer-page":
        assert meta["review_status"] == "pending-review", f"{doc_id}: answer pages have not been reviewed"
        assert meta["type"] != "guideline", f"{doc_id}: an answer page is not a guideline"
    if attribution := meta.get("attribution"):
        assert attribution.split(":", 1)[0] in IDS, f"{doc_id}: attribution should start with the page's id"
        assert meta["review_status"] == "pending-review", f"{doc_id}: carried statements are unchecked"


@pytest.mark.parametrize(("doc_id", "meta"), SHIPPED, ids=[d for d, _ in SHIPPED])
def test_every_source_is_a_complete_citation_or_says_why_not(doc_id: str, meta: dict) -> None:
    source = str(meta["source"])
    assert meta.get("organisation") or meta.get("journal"), f"{doc_id}: authors or organisation missing"
    assert str(meta["year"]) in source, f"{doc_id}: the year is not in the citation"
    says_why = bool(WHY_NOT.search(source))
    organisation = str(meta.get("organisation") or "")
    by = AUTHORS.match(source) or (organisation and source.startswith(organisation[:10]))
    assert by or source.startswith(("Synthesis of:", "Society of", "National Institute")) or says_why, (
        f"{doc_id}: the citation does not start with its authors or organisation"
    )
    parts = [p for p in source.split(". ") if p.strip()]
    assert len(parts) >= 3, f"{doc_id}: authors, title, then publication"
    if meta.get("journal") and not says_why:
        assert VOLUME_PAGES.search(source), f"{doc_id}: a journal citation needs volume and pages"
    for issue in JOURNAL_ISSUE.finditer(source):  # every "year;volume" has its pages
        assert VOLUME_PAGES.match(source, issue.start()), f"{doc_id}: no pages after {issue.group()!r}"
    if meta.get("journal") and says_why:
        assert "citation incomplete" in source.lower() or meta.get("source_kind") != "research"
