"""Generations share record collections: a small change adds the changed documents' records and marks the
old versions, instead of copying every unchanged record into a new collection (ingest/store.py). In-process
ingests of a tiny corpus into a real embedded Chroma store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from config import StoreSettings
from ingest import store as store_module
from ingest.pipeline import run
from ingest.store import BORN, DIED, NEVER, IndexStore, generation_number
from tests.ingest.test_ingest_cli import make_corpus
from tests.support.inprocess import ingest_in_process


def edit(corpus: Path, i: int, line: str) -> None:
    path = corpus / f"doc_{i}.md"
    path.write_text(path.read_text() + f"\n{line}\n")


def open_store(store_dir: Path) -> IndexStore:
    return IndexStore(StoreSettings(store_dir=store_dir))


def by_id(records) -> dict:
    return {r.chunk_id: r for r in records}


def stored_metadata(store: IndexStore, gen: str) -> dict[str, dict]:
    got = store.chunks(gen).get(include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


def test_a_small_change_extends_the_live_collection_and_copies_nothing(tmp_path: Path) -> None:
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    first = ingest_in_process(store_dir, corpus)
    before = by_id(open_store(store_dir).records(first.generation))
    edit(corpus, 1, "A new sentence about follow-up imaging was added.")
    second = ingest_in_process(store_dir, corpus)
    assert (second.chunks_embedded, second.chunks_kept, second.chunks_copied) == (2, 6, 0)
    store = open_store(store_dir)
    manifest = store.manifest()
    assert manifest.collection == manifest.previous_collection  # one collection, extended
    assert store.record_collections() == [first.generation]
    after = by_id(store.records(second.generation))
    assert set(after) == set(before) and len(after) == 8
    assert by_id(store.records(first.generation)) .keys() == before.keys()  # the previous one still reads
    for chunk_id, record in after.items():
        if record.doc_id == "doc_1":
            assert record.doc_hash != before[chunk_id].doc_hash
        else:
            assert record.doc_hash == before[chunk_id].doc_hash
            np.testing.assert_array_equal(record.vector, before[chunk_id].vector)
    # the old version of doc_1 is still stored (the previous generation is served until the switch settles)
    assert store.chunks(second.generation).count() == 10


def test_the_extended_generation_equals_a_fresh_ingest_of_the_same_corpus(tmp_path: Path) -> None:
    # fp32 vectors: the default int8 backend quantises activations per batch, so the same text embedded
    # beside other texts (as a fresh ingest does) differs by up to ~0.015 cosine there
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    ingest_in_process(store_dir, corpus, embed_backend="onnx")
    edit(corpus, 2, "Escalate to the spinal team when numbness appears.")
    (corpus / "doc_3.md").unlink()
    changed = run([corpus], StoreSettings(store_dir=store_dir, embed_backend="onnx"), prune=True)
    fresh = ingest_in_process(tmp_path / "fresh", corpus, embed_backend="onnx")
    extended, rebuilt = open_store(store_dir), open_store(tmp_path / "fresh")
    a, b = by_id(extended.records(changed.generation)), by_id(rebuilt.records(fresh.generation))
    assert a.keys() == b.keys()
    for chunk_id in a:
        assert a[chunk_id].meta() == b[chunk_id].meta() and a[chunk_id].text == b[chunk_id].text
        np.testing.assert_allclose(a[chunk_id].vector, b[chunk_id].vector, atol=1e-4)
        np.testing.assert_allclose(a[chunk_id].sentence_vectors, b[chunk_id].sentence_vectors, atol=2e-3)
    files_a = extended.generation_files(changed.generation)
    files_b = rebuilt.generation_files(fresh.generation)
    assert files_a.chunk_ids == files_b.chunk_ids and list(files_a.texts) == list(files_b.texts)
    assert list(files_a.sent_terms) == list(files_b.sent_terms) and files_a.docs == files_b.docs
    terms = ["escal", "spinal", "numb", "find"]
    np.testing.assert_allclose(files_a.bm25.get_scores(terms), files_b.bm25.get_scores(terms))


def test_superseded_versions_are_collected_once_no_kept_generation_reads_them(tmp_path: Path) -> None:
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    ingest_in_process(store_dir, corpus)
    edit(corpus, 1, "First edit.")
    ingest_in_process(store_dir, corpus)
    first_versions = {i for i, m in stored_metadata(open_store(store_dir), "g000002").items()
                      if m["doc_id"] == "doc_1" and m[DIED] == 2}  # fmt: skip
    assert len(first_versions) == 2
    edit(corpus, 2, "Second edit.")
    third = ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    stored = stored_metadata(store, third.generation)
    assert not first_versions & stored.keys()  # read by generation 1 only: gone
    assert len(stored) == 10  # 8 live + doc_2's old version, which generation 2 (previous) still reads
    assert sorted(m[DIED] for m in stored.values() if m[DIED] != NEVER) == [3, 3]


def test_an_ingest_killed_before_the_switch_leaves_nothing_behind_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    first = ingest_in_process(store_dir, corpus)
    before = by_id(open_store(store_dir).records(first.generation))
    edit(corpus, 0, "An edit that the crash interrupts.")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed before the switch")

    with monkeypatch.context() as patch:
        patch.setattr(store_module.IndexStore, "write_files", crash)
        with pytest.raises(KeyboardInterrupt):
            ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    assert store.manifest().generation == first.generation
    assert by_id(store.records(first.generation)).keys() == before.keys()
    half_done = stored_metadata(store, first.generation)
    assert len(half_done) == 10 and sum(m[DIED] == 2 for m in half_done.values()) == 2  # added and marked

    edit(corpus, 0, "And a second edit before the next run.")
    done = ingest_in_process(store_dir, corpus)
    assert done.generation == "g000002" and done.chunks_embedded == 2
    stored = stored_metadata(open_store(store_dir), done.generation)
    assert len(stored) == 10  # 8 live + doc_0's old version, which the previous generation reads
    assert max(m[BORN] for m in stored.values()) == generation_number(done.generation)


def test_a_large_change_starts_a_new_collection_and_copies_the_rest(tmp_path: Path) -> None:
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    first = ingest_in_process(store_dir, corpus)
    for i in (0, 1, 2):
        edit(corpus, i, "A sweeping edit.")
    big = ingest_in_process(store_dir, corpus)
    assert (big.chunks_embedded, big.chunks_copied) == (6, 2)
    store = open_store(store_dir)
    assert store.record_collections() == [first.generation, big.generation]
    assert store.manifest().collection == store.chunks_name(big.generation)
    assert store.chunks(big.generation).count() == 8
    edit(corpus, 3, "A small edit after it.")
    ingest_in_process(store_dir, corpus)
    assert open_store(store_dir).record_collections() == [big.generation]  # the first is read by nobody


def test_hnsw_search_reads_only_its_own_generation_of_a_shared_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.retrieval as retrieval
    from ingest.embedding import get_embedder
    from service.index import load_snapshot

    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    ingest_in_process(store_dir, corpus)
    edit(corpus, 1, "Finding number 1 now has a third sentence of detail.")
    changed = ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    snapshot = load_snapshot(store, changed.generation)
    assert snapshot.collection_records == 10 and snapshot.size == 8
    vectors = get_embedder().encode(["finding number 1 detail", "manage case 1 conservatively"])
    exact = retrieval.dense_ranked(snapshot, vectors, 8)
    monkeypatch.setattr(retrieval, "EXACT_SEARCH_MAX", 0)
    hnsw = retrieval.dense_ranked(snapshot, vectors, 8)
    for (rows_a, sims_a), (rows_b, sims_b) in zip(exact, hnsw, strict=True):
        assert len(rows_b) == 8 and len(set(rows_b.tolist())) == 8  # the old versions were dropped
        assert sorted(rows_a.tolist()) == sorted(rows_b.tolist())
        np.testing.assert_allclose(np.sort(sims_a), np.sort(sims_b), atol=1e-4)


def test_record_collections_search_wide_enough_for_recall(tmp_path: Path) -> None:
    """HNSW's default breadth missed one true neighbour in ten at 100k passages: new collections get
    HNSW_EF_SEARCH, and an extended older collection is raised to it."""
    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    first = ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    collection = store.chunks(first.generation)
    assert collection.configuration["hnsw"]["ef_search"] == store_module.HNSW_EF_SEARCH
    collection.modify(configuration={"hnsw": {"ef_search": 100}})  # as a collection made before
    edit(corpus, 1, "An edit.")
    second = ingest_in_process(store_dir, corpus)
    again = open_store(store_dir).chunks(second.generation)
    assert again.name == collection.name
    assert again.configuration["hnsw"]["ef_search"] == store_module.HNSW_EF_SEARCH


def test_a_store_of_the_one_collection_per_generation_layout_is_read_then_copied_once(tmp_path: Path) -> None:
    """A store written before record collections were shared: plain chunk ids, no born/died. It is read as
    it is (records, files, HNSW ids), and the first change copies it into a collection of this layout."""
    import service.retrieval as retrieval
    from ingest.embedding import get_embedder
    from service.index import load_snapshot

    corpus, store_dir = make_corpus(tmp_path / "corpus", 4), tmp_path / "store"
    first = ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    current = store.chunks(first.generation)
    got = current.get(include=["documents", "metadatas", "embeddings"])
    old = store.client.create_collection(store.chunks_name("g000007"), embedding_function=None,
                                         configuration={"hnsw": {"space": "cosine"}})  # fmt: skip
    old.add(ids=[i.split("@")[0] for i in got["ids"]], embeddings=got["embeddings"],
            documents=got["documents"],
            metadatas=[{k: v for k, v in m.items() if k not in (BORN, DIED)} for m in got["metadatas"]])
    store._manifest_collection().modify(metadata={"role": "manifest", "generation": "g000007",
                                                  "corpus_version": "x", "embedder": ""})  # fmt: skip
    store.client.delete_collection(current.name)
    legacy = open_store(store_dir)
    assert len(legacy.records("g000007")) == 8 and not legacy.extendable(legacy.chunks("g000007"))
    snapshot = load_snapshot(legacy, "g000007")
    vectors = get_embedder().encode(["manage case 2 conservatively"])
    rows, _ = retrieval.hnsw_ranked(snapshot, vectors, 8)[0]
    assert sorted(rows.tolist()) == list(range(8))
    edit(corpus, 1, "A first change after the upgrade.")
    changed = ingest_in_process(store_dir, corpus)
    assert (changed.chunks_embedded, changed.chunks_copied) == (2, 6)
    upgraded = open_store(store_dir)
    assert upgraded.extendable(upgraded.chunks(changed.generation))
