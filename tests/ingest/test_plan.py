"""Ingest planning (`ingest.pipeline.make_plan`) in-process: which documents are added, changed, unchanged,
removed or kept from another source, from the validated documents and the live document table alone. No
store and no model; the CLI runs of the same decisions are in test_ingest_cli.py (e2e)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ingest import chunking, sentences
from ingest.documents import Document
from ingest.pipeline import doc_hash, make_plan

EMBEDDER = "all-MiniLM-L6-v2:onnx-int8"


def doc(doc_id: str, body: str = "text", root: str = "/corpus/a") -> Document:
    return Document(
        doc_id=doc_id,
        title=doc_id,
        body=body,
        path=Path(root) / f"{doc_id}.md",
        source_root=root,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
    )


def live_entry(d: Document, embedder: str = EMBEDDER) -> dict:
    return {"hash": doc_hash(d, embedder), "source_root": d.source_root}


def ids(docs: list[Document]) -> list[str]:
    return [d.doc_id for d in docs]


def test_new_same_and_edited_documents() -> None:
    same, edited = doc("same"), doc("edited", "old text")
    live = {"same": live_entry(same), "edited": live_entry(edited)}
    plan = make_plan([doc("new"), same, doc("edited", "new text")], live, ["/corpus/a"], False, EMBEDDER)
    assert (ids(plan.added), ids(plan.changed), ids(plan.unchanged)) == (["new"], ["edited"], ["same"])
    assert plan.removed == [] and plan.kept_elsewhere == [] and plan.has_changes


def test_nothing_changed_is_no_change() -> None:
    a = doc("a")
    plan = make_plan([a], {"a": live_entry(a)}, ["/corpus/a"], False, EMBEDDER)
    assert ids(plan.unchanged) == ["a"] and not plan.has_changes


def test_another_embedder_re_embeds_everything() -> None:
    a = doc("a")
    plan = make_plan([a], {"a": live_entry(a, "other-model:torch")}, ["/corpus/a"], False, EMBEDDER)
    assert ids(plan.changed) == ["a"]


@pytest.mark.parametrize(
    ("module", "name", "value"),
    [
        (chunking, "MAX_CHUNK_TOKENS", 120),  # the chunk size alone
        (chunking, "MIN_SENTENCE_WORDS", 5),
        (chunking, "CHUNKER_VERSION", -1),
        (sentences, "SENTENCE_END", re.compile(r"(?<=[.!?])\s+")),  # the sentence rule
    ],
)
def test_a_changed_chunking_configuration_re_embeds(monkeypatch, module, name: str, value) -> None:
    a = doc("a")
    live = {"a": live_entry(a)}
    monkeypatch.setattr(module, name, value)
    plan = make_plan([a], live, ["/corpus/a"], False, EMBEDDER)
    assert ids(plan.changed) == ["a"]


def test_the_same_text_from_another_folder_is_a_change() -> None:
    moved = doc("a", root="/corpus/b")
    plan = make_plan([moved], {"a": live_entry(doc("a"))}, ["/corpus/b"], False, EMBEDDER)
    assert ids(plan.changed) == ["a"]


def test_missing_documents_are_kept_without_prune() -> None:
    gone = doc("gone")
    plan = make_plan([], {"gone": live_entry(gone)}, ["/corpus/a"], False, EMBEDDER)
    assert plan.removed == [] and plan.kept_elsewhere == ["gone"] and not plan.has_changes


def test_prune_removes_only_documents_of_the_given_roots() -> None:
    mine, theirs = doc("mine"), doc("theirs", root="/corpus/other")
    live = {"theirs": live_entry(theirs), "mine": live_entry(mine)}
    plan = make_plan([], live, ["/corpus/a"], True, EMBEDDER)
    assert plan.removed == ["mine"] and plan.kept_elsewhere == ["theirs"] and plan.has_changes
