"""`python -m ingest` over a folder mixing all five formats: one command, one code path for planning,
re-ingest, --prune and refusals (a real subprocess and a real Chroma store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_ingest
from tests.ingest import format_fixtures as fx
from tests.ingest.test_ingest_cli import embedded_count, read_store

pytestmark = pytest.mark.e2e  # `python -m ingest` subprocesses and chromium over a mixed-format corpus

SIDECAR = "type: guideline\norganisation: ACC/AHA\nyear: 2017\nsource: ACC/AHA 2017 guideline\n"
CITED = r"""
import json
from config import StoreSettings
from ingest.store import IndexStore
store = IndexStore(StoreSettings())
gen = store.manifest().generation
got = [r.to_chroma()[2] for r in store.records(gen)]
print(json.dumps(got))
"""


def mixed_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "htn.md").write_text(
        "---\nid: htn_md\ntitle: Hypertension notes\n" + SIDECAR + "---\n# Hypertension notes\n\n## Targets\n"
        "**Rec 1.1** [Class I, LOE B-R] Treat to a blood pressure target below 130/80 mm Hg in most adults.\n"
    )
    (root / "htn.html").write_text(fx.publisher_html())
    (root / "htn.html.meta.yaml").write_text("id: htn_html\n")
    fx.write_pdf(root / "htn.pdf")
    (root / "htn.pdf.meta.yaml").write_text("id: htn_pdf\n" + SIDECAR)
    fx.write_docx(root / "htn.docx")
    (root / "htn.docx.meta.yaml").write_text("id: htn_docx\n" + SIDECAR)
    fx.write_jats(root / "htn.nxml")
    (root / "htn.nxml.meta.yaml").write_text("id: htn_jats\n")
    return root


def metadatas(store: Path) -> list[dict]:
    return read_store(CITED, store)


def test_mixed_formats_ingest_reingest_prune_and_refusal(tmp_path: Path) -> None:
    corpus, store = mixed_folder(tmp_path / "corpus"), tmp_path / "store"
    first = run_ingest(store, corpus)
    assert "5 added" in first.stdout
    metas = metadatas(store)
    assert {m["doc_id"] for m in metas} == {"htn_md", "htn_html", "htn_pdf", "htn_docx", "htn_jats"}
    pdf_rec = next(m for m in metas if m["doc_id"] == "htn_pdf" and m.get("rec") == "1.1.1")
    assert (pdf_rec["page"], pdf_rec["grade"]) == ("e563", "Class I, LOE B-NR")
    html_rec = next(m for m in metas if m["doc_id"] == "htn_html" and m.get("rec") == "1.1.1")
    assert html_rec["anchor"] == "rec-1-1-1"
    assert next(m for m in metas if m["doc_id"] == "htn_md")["rec"] == "1.1"

    again = run_ingest(store, corpus)  # unchanged files, the PDF included: nothing embedded
    assert "up to date: 5 unchanged" in again.stdout

    (corpus / "htn.docx").unlink()
    pruned = run_ingest(store, corpus, extra=("--prune",))
    assert embedded_count(pruned.stdout) == 0 and "1 documents removed" in pruned.stdout
    assert "htn_docx" not in {m["doc_id"] for m in metadatas(store)}

    # a changed page of the PDF: only that document is re-embedded, the others' passages stay as they were
    rec = next(r for r in fx.expected()["recs"] if r.number == "3.0.1")
    edited = rec.text.rstrip(".") + ", rechecking blood pressure within 4 weeks."
    fx.write_pdf(corpus / "htn.pdf", fx.print_html().replace(rec.text, edited))
    others = sorted((m["doc_id"], m["doc_hash"]) for m in metadatas(store) if m["doc_id"] != "htn_pdf")
    changed = run_ingest(store, corpus)
    assert "plan: 0 added, 1 changed, 3 unchanged" in changed.stdout, changed.stdout
    metas = metadatas(store)
    pdf_chunks = [m for m in metas if m["doc_id"] == "htn_pdf"]
    assert embedded_count(changed.stdout) == len(pdf_chunks)
    assert sorted((m["doc_id"], m["doc_hash"]) for m in metas if m["doc_id"] != "htn_pdf") == others
    assert next(m for m in pdf_chunks if m.get("rec") == "3.0.1")["page"] == "e564"

    before = metadatas(store)
    (corpus / "scan.pdf").write_bytes(b"%PDF-1.4\n%broken beyond repair")
    (corpus / "scan.meta.yaml").write_text("id: scan\ntitle: Scan\n" + SIDECAR)
    bad = run_ingest(store, corpus, check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "scan.pdf" in bad.stderr and "live index is unchanged" in bad.stderr
    assert metadatas(store) == before
