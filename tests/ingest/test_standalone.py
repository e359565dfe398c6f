"""Standalone sentence vectors: built per sentence with its section path, stored beside the contextual ones,
read back, and an older generation without them still readable (the contextual ones stand in)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest import generation_files
from ingest.records import ChunkRecord
from ingest.standalone import standalone_text, standalone_vectors
from tests.ingest.test_generation_files import records


def test_each_sentence_is_embedded_alone_with_its_section_path_and_split_back_per_passage() -> None:
    seen: list[str] = []

    def encode(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return np.arange(len(texts), dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)

    texts = ["Give apixaban. Review in 24 h.", "", "Stop it."]
    spans = [[(0, 14), (15, 30)], [], [(0, 8)]]
    out = standalone_vectors(encode, ["Dosing › Adults", "Empty", ""], texts, spans)
    assert seen == ["Dosing › Adults: Give apixaban.", "Dosing › Adults: Review in 24 h.", "Stop it."]
    assert [v.shape for v in out] == [(2, 3), (0, 3), (1, 3)]
    assert out[2][0, 0] == 2.0  # the third sentence's row went to the third passage
    assert standalone_text("", "Alone.") == "Alone."


def _with_standalone(recs: list[ChunkRecord], dim: int = 6) -> list[ChunkRecord]:
    rng = np.random.default_rng(7)
    return [
        replace(r, standalone_vectors=rng.standard_normal((len(r.sentence_spans), dim))
                .astype(np.float16).astype(np.float32))
        for r in recs
    ]  # fmt: skip


def test_a_record_carries_its_standalone_vectors_through_chroma_and_older_records_read_back_without() -> None:
    rec = _with_standalone(records())[0]
    back = ChunkRecord.from_chroma(*rec.to_chroma(), embedding=rec.vector)
    np.testing.assert_allclose(back.standalone_vectors, rec.standalone_vectors, atol=2e-3)
    assert "standalone_vectors" not in back.extra
    old = ChunkRecord.from_chroma(*records()[0].to_chroma())
    assert old.standalone_vectors is not None and old.standalone_vectors.shape == (2, 0)


def test_files_store_standalone_rows_and_a_kept_record_without_them_gets_its_contextual_rows(
    tmp_path: Path,
) -> None:
    recs = _with_standalone(records())
    recs[1] = replace(recs[1], standalone_vectors=None)  # kept from a generation before standalone vectors
    generation_files.write(recs, tmp_path / "g", "g000001", "src")
    files = generation_files.open_files(tmp_path / "g", "g000001", "src")
    assert files is not None and files.sent_solo is not None
    bounds = files.sent_bounds
    a0, b0 = (int(x) for x in bounds[0])
    a1, b1 = (int(x) for x in bounds[1])
    np.testing.assert_array_equal(files.sent_solo[list(range(a0, b0))], recs[0].standalone_vectors)
    np.testing.assert_array_equal(files.sent_solo[list(range(a1, b1))], files.sent_vecs[list(range(a1, b1))])
    kept = generation_files.records_of(files, ["a/one"])
    np.testing.assert_array_equal(kept[0].standalone_vectors, recs[0].standalone_vectors)


def test_a_generation_written_before_standalone_vectors_has_none(tmp_path: Path) -> None:
    generation_files.write(records(), tmp_path / "g", "g000001", "src")
    files = generation_files.open_files(tmp_path / "g", "g000001", "src")
    assert files is not None and files.sent_solo is None
    kept = generation_files.records_of(files, ["a/one"])
    assert kept[0].standalone_vectors is None


def test_an_ingest_stores_standalone_vectors_and_a_store_without_them_falls_back_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ingest.embedding import get_embedder
    from service.index import load_snapshot
    from tests.ingest.test_ingest_cli import make_corpus
    from tests.ingest.test_record_collections import open_store
    from tests.support.inprocess import ingest_in_process

    corpus, store_dir = make_corpus(tmp_path / "corpus", 2), tmp_path / "store"
    result = ingest_in_process(store_dir, corpus)
    store = open_store(store_dir)
    snapshot = load_snapshot(store, result.generation)
    assert snapshot.sent_solo is not None and snapshot.relevance_vecs is snapshot.sent_solo
    row = 0
    start, end = (int(x) for x in snapshot.sent_bounds[row])
    section = snapshot.metas[row]["section"]
    alone = get_embedder().encode([f"{section}: {snapshot.sent_texts[start].strip()}"])[0]
    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))

    stored, contextual = snapshot.sent_solo[[start]][0], snapshot.sent_vecs[[start]][0]
    # the same text embedded again (another batch, float16 storage): the same vector up to rounding, and
    # not the contextual one
    assert cosine(stored, alone) > 0.97 and cosine(contextual, alone) < cosine(stored, alone)
    assert end > start

    (store.files_dir(result.generation) / "sent_solo.npy").unlink()  # a generation written before them
    with caplog.at_level("WARNING", logger="service.index"):
        old = load_snapshot(store, result.generation)
    assert old.sent_solo is None and old.relevance_vecs is old.sent_vecs
    assert "no standalone sentence vectors" in caplog.text
