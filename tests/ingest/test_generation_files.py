"""The files written with a generation: what a replica maps is what it used to rebuild from the records."""

from __future__ import annotations

import re
from pathlib import Path

import bm25s
import numpy as np
import pytest

from config import StoreSettings as Settings
from ingest import generation_files
from ingest.records import ChunkRecord
from ingest.store import IndexStore
from ingest.terms import content_terms

TEXTS = [
    ("a/one::0000", "a/one", "Imaging", "Obtain CT after vertebroplasty. Review the images within 24 h."),
    ("a/one::0001", "a/one", "Imaging › Follow-up", "Repeat MRI when pain increases. Café au lait spots."),
    ("b/two::0000", "b/two", "Dosing", "Give apixaban 5 mg twice daily."),
    ("c/three::0000", "c/three", "Empty", ""),
]


def records(dim: int = 6) -> list[ChunkRecord]:
    rng = np.random.default_rng(1)
    out = []
    for cid, doc, section, text in TEXTS:
        spans = [(m.start(), m.end()) for m in re.finditer(r"[^.]+\.", text)]
        spans = [(a + (text[a] == " "), b) for a, b in spans]
        extra = {"review_status": "pending-review"} if doc == "b/two" else {"cites": ["b/two"]}
        out.append(ChunkRecord(
            chunk_id=cid, doc_id=doc, title=doc.upper(), section=section, heading=section, position=0,
            text=text, doc_hash="h", source_root="/r", path=f"/r/{doc}.md", sentence_spans=spans, extra=extra,
            vector=rng.standard_normal(dim).astype(np.float32),
            sentence_vectors=rng.standard_normal((len(spans), dim)).astype(np.float16).astype(np.float32),
        ))
    return out


def test_files_hold_what_the_records_say(tmp_path: Path) -> None:
    recs = records()
    shuffled = [recs[2], recs[0], recs[3], recs[1]]
    generation_files.write(shuffled, tmp_path / "g", "g000001", "src")
    files = generation_files.open_files(tmp_path / "g", "g000001", "src")
    assert files is not None and files.passages == 4
    assert files.chunk_ids == [r.chunk_id for r in recs]  # rows sorted by chunk id
    assert list(files.texts) == [r.text for r in recs]
    assert [files.metas[i] for i in range(4)] == [r.meta() for r in recs]
    np.testing.assert_array_equal(files.chunk_vecs, np.stack([r.vector for r in recs]))
    sentences = [s for r in recs for s in r.sentences()]
    assert list(files.sent_texts) == [s.text for s in sentences]
    assert list(files.sent_terms) == [frozenset(content_terms(s.text)) for s in sentences]
    every = np.arange(len(sentences))
    np.testing.assert_array_equal(files.sent_vecs[every], np.stack([s.vector for s in sentences]))
    assert files.sent_vecs[[0]].dtype == np.float32
    bounds = files.sent_bounds
    assert [int(b - a) for a, b in bounds] == [len(r.sentence_spans) for r in recs]
    assert files.docs["b/two"]["unreviewed"] and not files.docs["a/one"]["unreviewed"]
    assert files.docs["a/one"] == {
        "rows": [0, 1], "cites": ["b/two"], "unreviewed": False, "hash": "h", "source_root": "/r",
        "path": "/r/a/one.md",
    }
    assert "vertebroplasty" in files.corpus_words and "follow-up" in files.corpus_words


def test_bm25_and_term_counts_match_an_index_built_in_memory(tmp_path: Path) -> None:
    recs = records()
    generation_files.write(recs, tmp_path / "g", "g1", "src")
    files = generation_files.open_files(tmp_path / "g", "g1", "src")
    assert files is not None
    corpus = [content_terms(f"{r.section}\n{r.text}") for r in recs]
    fresh = bm25s.BM25()
    fresh.index([t or [""] for t in corpus], show_progress=False)
    for query in (["ct"], content_terms("repeat MRI imaging pain"), ["apixaban", "dose"]):
        np.testing.assert_array_equal(files.bm25.get_scores(query), fresh.get_scores(query))
    df: dict[str, int] = {}
    for terms in corpus:
        for t in set(terms):
            df[t] = df.get(t, 0) + 1
    assert {t: files.term_df.get(t) for t in df} == df
    assert files.term_df.get("absent") == 0 and files.term_df.get("") == 0


@pytest.mark.parametrize(("generation", "source"), [("g2", "src"), ("g1", "other-store")])
def test_files_of_another_generation_or_store_are_not_opened(tmp_path: Path, generation, source) -> None:
    generation_files.write(records(), tmp_path / "g", "g1", "src")
    assert generation_files.open_files(tmp_path / "g", generation, source) is None


def test_files_of_another_store_under_the_same_name_are_replaced(tmp_path: Path) -> None:
    generation_files.write(records()[:1], tmp_path / "g", "g1", "old-store")  # e.g. before --repair
    generation_files.write(records(), tmp_path / "g", "g1", "new-store")
    files = generation_files.open_files(tmp_path / "g", "g1", "new-store")
    assert files is not None and files.passages == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary copy left


def test_prune_keeps_live_previous_and_newer_generations(tmp_path: Path) -> None:
    root = generation_files.generations_root(tmp_path)
    for gen in ("g000001", "g000002", "g000003", "g000004"):
        (root / f"gqa_chunks_{gen}").mkdir(parents=True)
    (root / "other_chunks_g000001").mkdir()
    generation_files.prune(tmp_path, "gqa", {"g000002", "g000003"}, newer_than="g000003")
    assert sorted(p.name for p in root.iterdir()) == [
        "gqa_chunks_g000002", "gqa_chunks_g000003", "gqa_chunks_g000004", "other_chunks_g000001",
    ]


def test_a_replica_without_the_files_builds_them_from_the_store(tmp_path: Path) -> None:
    """With a Chroma server the replica may not share the ingest machine's disk: build from the records."""
    store = IndexStore(Settings(store_dir=tmp_path / "ingest-side"))
    collection = store.create_collection("g000001")
    store.add_records(collection, records(), 1)
    replica = IndexStore(Settings(store_dir=tmp_path / "replica-side"), client=store.client)
    assert not replica.files_dir("g000001").exists()
    files = replica.generation_files("g000001")
    assert files.path == replica.files_dir("g000001") and files.chunk_ids == [r.chunk_id for r in records()]
    assert list(files.texts) == [r.text for r in records()]
    first = np.stack([s.vector for s in records()[0].sentences()])
    np.testing.assert_allclose(files.sent_vecs[[0, 1]], first)
    assert replica.generation_files("g000001").path == files.path  # built once, then opened
    table = {"hash": "h", "source_root": "/r"}
    assert replica.doc_table("g000001") == store.doc_table("g000001")  # from the files; from the records
    assert store.doc_table("g000001")["a/one"] == {**table, "path": "/r/a/one.md"}


def test_arrays_stay_memory_mapped_but_index_as_plain_arrays(tmp_path: Path) -> None:
    # the pages are still read lazily from the file (a replica never loads a large corpus into memory), yet
    # indexing does not run np.memmap's per-access Python hooks (the composer indexes these arrays often)
    generation_files.write(records(), tmp_path / "g", "g000001", "src")
    files = generation_files.open_files(tmp_path / "g", "g000001", "src")
    assert files is not None
    bounds = files.sent_bounds
    assert type(bounds) is np.ndarray and not bounds.flags.writeable
    base = bounds
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    assert type(files.chunk_vecs[0]) is np.ndarray
