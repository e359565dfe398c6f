"""The chunk record codec: what ingest writes is what the service reads back (in-process, no store)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.records import ChunkRecord, EmbedderLabel, decode_vectors, encode_vectors


def record(**overrides) -> ChunkRecord:
    rng = np.random.default_rng(0)
    base = dict(
        chunk_id="doc/a::0003",
        doc_id="doc/a",
        title="A guideline",
        section="Management › Imaging",
        heading="Imaging",
        position=3,
        text="Obtain CT. Then review the images within 24 h.",
        doc_hash="abc",
        source_root="/corpus",
        path="/corpus/doc/a.md",
        sentence_spans=[(0, 10), (11, 47)],
        extra={"cites": ["other_doc", "third"], "year": 2024, "organisation": "ACR", "page": "e563",
               "source_kind": "guideline"},
        vector=rng.standard_normal(8).astype(np.float32),
        sentence_vectors=rng.standard_normal((2, 8)).astype(np.float32),
    )
    return ChunkRecord(**{**base, **overrides})


def test_round_trip_keeps_every_field_and_the_vectors_to_float16_precision() -> None:
    original = record()
    chunk_id, document, metadata = original.to_chroma()
    assert all(isinstance(v, (str, int, float, bool)) for v in metadata.values())  # what Chroma accepts
    back = ChunkRecord.from_chroma(chunk_id, document, metadata, original.vector)
    assert back.meta() == original.meta()
    assert back.text == original.text and back.chunk_id == original.chunk_id
    np.testing.assert_array_equal(back.vector, original.vector)
    assert back.sentence_vectors is not None and back.sentence_vectors.shape == (2, 8)
    np.testing.assert_allclose(back.sentence_vectors, original.sentence_vectors, atol=2e-3)
    assert [s.text for s in back.sentences()] == ["Obtain CT.", "Then review the images within 24 h."]


def test_meta_gives_real_lists_and_ints_back() -> None:
    _, _, metadata = record().to_chroma()
    assert metadata["cites"] == json.dumps(["other_doc", "third"])
    meta = ChunkRecord.from_chroma("x", "t", metadata).meta()
    assert meta["cites"] == ["other_doc", "third"] and meta["year"] == 2024
    assert meta["sentence_spans"] == [[0, 10], [11, 47]]
    assert "sentence_vectors" not in meta


@pytest.mark.parametrize(
    ("field", "stored", "expected"),
    [
        ("cites", "not json", []),
        ("cites", '{"a": 1}', []),
        ("year", "in press", None),
        ("year", "2019", 2019),
    ],
)
def test_bad_optional_fields_from_an_old_store_are_dropped_not_raised(field, stored, expected) -> None:
    _, _, metadata = record(extra={}).to_chroma()
    metadata[field] = stored
    meta = ChunkRecord.from_chroma("x", "t", metadata).meta()
    assert meta.get(field) == expected


def test_a_record_without_sentence_vectors_reads_back_without_them() -> None:
    _, document, metadata = record(sentence_vectors=None).to_chroma()
    back = ChunkRecord.from_chroma("x", document, metadata)
    assert back.sentence_vectors is not None and back.sentence_vectors.shape == (2, 0)
    assert [s.vector for s in back.sentences()] == [None, None]


def test_unknown_fields_written_by_a_newer_ingest_are_kept() -> None:
    _, _, metadata = record().to_chroma()
    metadata["new_field"] = "x"
    assert ChunkRecord.from_chroma("x", "t", metadata).meta()["new_field"] == "x"


def test_vector_codec_is_float16_rows_by_dim() -> None:
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(decode_vectors(encode_vectors(vecs), 3), vecs)
    assert decode_vectors("", 2).shape == (2, 0)


def test_embedder_label_round_trips_and_compares_models_only() -> None:
    label = EmbedderLabel("all-MiniLM-L6-v2", "onnx-int8")
    assert str(label) == "all-MiniLM-L6-v2:onnx-int8"
    assert EmbedderLabel.parse(str(label)) == label
    assert label.same_model(EmbedderLabel.parse("all-MiniLM-L6-v2:torch"))
    assert not label.same_model(EmbedderLabel.parse("bge-small:onnx-int8"))
    assert EmbedderLabel.parse("legacy") == EmbedderLabel("legacy", "")
