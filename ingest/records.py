"""The chunk record: the one contract between what ingest writes and what the service reads.

A generation holds one `ChunkRecord` per passage. Chroma metadata holds scalars only, so the record is
stored as (id, document, embedding, metadata) with lists as JSON strings and the sentence vectors packed as
base64 float16; `to_chroma` and `from_chroma` below are the only places that know that layout. Ingest writes
through `to_chroma`, the service reads through `from_chroma` and `meta()`, and copying an unchanged
document into a new generation moves the stored metadata as it is (no decode/encode round trip).

`EmbedderLabel` is the other half of the contract: which model and backend made the stored vectors
(`"model:backend"` in the manifest), so a service embedding queries with another model refuses to serve.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Optional document-level fields copied from the front matter (only when set) and chunk-level locators
# (only where the format states them). Lists travel as JSON strings; `year` is read back as an int.
DOC_FIELDS = (
    "type",
    "organisation",
    "journal",
    "year",
    "source",
    "updated",
    "cites",
    "source_kind",
    "review_status",
    "reviewed",
    "reviewer_role",
    "attribution",
    "format",
)
LOCATOR_FIELDS = ("page", "page_end", "anchor", "rec", "grade")
JSON_FIELDS = ("cites",)  # list-valued optional fields decoded back into lists
SENTENCE_VECTORS = "sentence_vectors"  # metadata key of the packed sentence vectors
STANDALONE_VECTORS = "standalone_vectors"  # … and of the standalone ones (ingest/standalone.py)
# The fields every record has: which document, where in it, and which version of it (`ChunkRecord._place`)
PLACE_FIELDS = ("doc_id", "title", "section", "heading", "position", "doc_hash", "source_root", "path")


class RecordError(ValueError):
    """A stored record does not have the fields every record must have (an old or foreign store)."""


@dataclass(frozen=True)
class SentenceRecord:
    """One sentence of a passage: its character span in the passage text, the text itself and its vector."""

    start: int
    end: int
    text: str
    vector: np.ndarray | None = None  # (dim,) float32; None when the store holds no sentence vectors


@dataclass
class ChunkRecord:
    """One passage of one document section, with everything a generation stores about it."""

    chunk_id: str
    doc_id: str
    title: str
    section: str
    heading: str
    position: int
    text: str
    doc_hash: str  # changes when the document, its source folder or the embedding change (ingest.pipeline)
    source_root: str
    path: str
    sentence_spans: list[tuple[int, int]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # DOC_FIELDS and LOCATOR_FIELDS that are set
    vector: np.ndarray | None = None  # (dim,) float32 passage vector
    sentence_vectors: np.ndarray | None = None  # (sentences, dim); None or (n, 0) when absent
    # (sentences, dim) each sentence embedded on its own (ingest/standalone.py); None or (n, 0) when absent
    standalone_vectors: np.ndarray | None = None

    # --- what the service reads -------------------------------------------------------------------
    def _place(self) -> dict[str, str | int]:
        """The fields every record has (PLACE_FIELDS), in that order."""
        return {key: getattr(self, key) for key in PLACE_FIELDS}

    def meta(self) -> dict[str, Any]:
        """The passage's fields as one mapping (what citations and retrieval read), without the vectors."""
        out: dict[str, Any] = {
            **self._place(),
            "sentence_spans": [list(s) for s in self.sentence_spans],
            **self.extra,
        }
        out["cites"] = [str(c) for c in self.extra.get("cites", [])]
        return out

    def sentences(self) -> list[SentenceRecord]:
        """The passage's sentences in order, each with its vector when the store has them."""
        vecs = self.sentence_vectors
        if vecs is None or vecs.ndim != 2 or not vecs.shape[1] or len(vecs) != len(self.sentence_spans):
            vecs = None
        return [
            SentenceRecord(a, b, self.text[a:b], None if vecs is None else vecs[i])
            for i, (a, b) in enumerate(self.sentence_spans)
        ]

    # --- the stored layout ------------------------------------------------------------------------
    def to_chroma(self) -> tuple[str, str, dict[str, str | int | float | bool]]:
        """(id, document, metadata) as Chroma stores them; the passage vector is passed beside them."""
        meta: dict[str, str | int | float | bool] = {
            **self._place(),
            "sentence_spans": json.dumps([list(s) for s in self.sentence_spans]),
        }
        for key, value in self.extra.items():
            if value not in (None, ""):
                meta[key] = _scalar(value)
        if self.sentence_vectors is not None:
            meta[SENTENCE_VECTORS] = encode_vectors(self.sentence_vectors)
        solo = self.standalone_vectors
        if solo is not None and has_rows(solo, len(self.sentence_spans)):
            meta[STANDALONE_VECTORS] = encode_vectors(solo)
        return self.chunk_id, self.text, meta

    @classmethod
    def from_chroma(
        cls, chunk_id: str, document: str | None, metadata: dict | None, embedding: Any = None
    ) -> ChunkRecord:
        """Inverse of `to_chroma`. Unparseable optional fields are dropped, never raised (an old store)."""
        meta = dict(metadata or {})
        try:
            spans = json.loads(meta.pop("sentence_spans", "[]") or "[]")
            sentence_spans = [(int(a), int(b)) for a, b in spans]
        except (TypeError, ValueError):
            sentence_spans = []
        packed = meta.pop(SENTENCE_VECTORS, "")
        packed_standalone = meta.pop(STANDALONE_VECTORS, "")
        extra: dict[str, Any] = {}
        for key in (*DOC_FIELDS, *LOCATOR_FIELDS):
            if key in meta:
                extra[key] = meta.pop(key)
        for key in JSON_FIELDS:
            if isinstance(extra.get(key), str):
                try:
                    extra[key] = json.loads(extra[key])
                except ValueError:
                    extra[key] = []
            if key in extra and not isinstance(extra[key], list):
                extra[key] = []
        if "year" in extra:
            try:
                extra["year"] = int(extra["year"])
            except (TypeError, ValueError):
                extra.pop("year")
        # fields this version does not know are kept, so an older reader never loses what a newer writer added
        extra.update({k: v for k, v in meta.items() if k not in PLACE_FIELDS})
        vector = None if embedding is None else np.asarray(embedding, dtype=np.float32)
        return cls(
            chunk_id=chunk_id,
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            section=str(meta.get("section", "")),
            heading=str(meta.get("heading", "")),
            position=int(meta.get("position", 0) or 0),
            text=document or "",
            doc_hash=str(meta.get("doc_hash", "")),
            source_root=str(meta.get("source_root", "")),
            path=str(meta.get("path", "")),
            sentence_spans=sentence_spans,
            extra=extra,
            vector=vector,
            sentence_vectors=decode_vectors(packed, len(sentence_spans)),
            standalone_vectors=decode_vectors(packed_standalone, len(sentence_spans)),
        )


def record_from_meta(
    chunk_id: str,
    meta: dict[str, Any],
    text: str,
    vector: np.ndarray | None,
    sentence_vectors: np.ndarray | None,
    standalone_vectors: np.ndarray | None = None,
) -> ChunkRecord:
    """Inverse of `ChunkRecord.meta()`: the record again from what a generation's files keep of it, so the
    next generation is built from those files instead of reading every unchanged record back from Chroma."""
    extra = {k: v for k, v in meta.items() if k not in PLACE_FIELDS and k != "sentence_spans"}
    if not extra.get("cites"):
        extra.pop("cites", None)  # meta() always lists cites; the record holds them only when set
    return ChunkRecord(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        title=str(meta["title"]),
        section=str(meta["section"]),
        heading=str(meta["heading"]),
        position=int(meta["position"]),
        text=text,
        doc_hash=str(meta["doc_hash"]),
        source_root=str(meta["source_root"]),
        path=str(meta["path"]),
        sentence_spans=[(int(a), int(b)) for a, b in meta.get("sentence_spans", [])],
        extra=extra,
        vector=vector,
        sentence_vectors=sentence_vectors,
        standalone_vectors=standalone_vectors,
    )


def has_rows(vectors: np.ndarray | None, rows: int) -> bool:
    """Whether `vectors` holds one non-empty row per sentence (not absent, not an old store's (n, 0))."""
    return vectors is not None and vectors.ndim == 2 and vectors.shape[0] == rows and vectors.shape[1] > 0


def _scalar(value: Any) -> str | int | float | bool:
    """Chroma metadata holds scalars only: lists and mappings travel as JSON strings."""
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def encode_vectors(vectors: np.ndarray) -> str:
    """Sentence vectors travel in their chunk's metadata as base64 float16 (rows × dim).

    A separate sentence collection doubled Chroma's HNSW insert and copy work on every generation for vectors
    that are never searched by Chroma, only read back by chunk.
    """
    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def decode_vectors(text: str, rows: int) -> np.ndarray:
    """Inverse of `encode_vectors`: float32 (rows × dim); an empty string gives (rows × 0)."""
    if not text or not rows:
        return np.zeros((rows, 0), dtype=np.float32)
    return np.frombuffer(base64.b64decode(text), dtype="<f2").reshape(rows, -1).astype(np.float32)


@dataclass(frozen=True)
class EmbedderLabel:
    """Which model (its folder name) and backend made a generation's vectors: `"model:backend"`."""

    model: str
    backend: str = ""

    def __str__(self) -> str:
        return f"{self.model}:{self.backend}"

    @classmethod
    def of(cls, model: str | Path | None, backend: str) -> EmbedderLabel:
        """The label for a configured model and backend, without loading the model (cheap unchanged runs)."""
        from ingest.embedding import resolve_model_dir

        return cls(resolve_model_dir(model).name, backend)

    @classmethod
    def for_settings(cls, settings) -> EmbedderLabel:
        """The label of the model `settings` name, the shipped dense adapter included (see
        `embedding.model_dir_for`), without loading or materialising anything."""
        from ingest.dense_adapter import adapted_name, in_use

        if not in_use(settings):
            return cls.of(settings.embed_model, settings.embed_backend)
        return cls(adapted_name(), settings.embed_backend)

    @classmethod
    def parse(cls, text: str) -> EmbedderLabel:
        model, _, backend = text.partition(":")
        return cls(model, backend)

    def same_model(self, other: EmbedderLabel) -> bool:
        """Backends of one model (torch, onnx, onnx-int8) give near-identical vectors; models do not."""
        return self.model == other.model
