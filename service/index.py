"""An in-memory snapshot of one index generation: what every request reads, built once at load.

Everything a request needs besides the dense query is precomputed here as numpy arrays or plain lists —
passage texts and metadata, the BM25 index over the same chunks, and the sentence texts and their vectors
grouped by chunk — so the hot path is a Chroma query, a sparse BM25 score and a few small matrix products.
A snapshot is immutable; a new generation gets a new snapshot (see service/live_index.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import bm25s
import numpy as np

from ingest.records import ChunkRecord
from ingest.store import IndexStore
from service.abstention import Vocabulary
from service.text import content_terms, content_terms_batch

log = logging.getLogger(__name__)

USES_MIN_PASSAGES = 3  # an abbreviation in fewer passages than this is not the corpus's own word for it
PAGE = 5000  # Chroma `get` page size: keeps each SQLite query well under its variable limit


@dataclass(frozen=True)
class Snapshot:
    """One generation, loaded. Row `i` of the chunk lists is one passage; sentences are grouped by row."""

    generation: str
    corpus_version: str | None
    chunk_ids: list[str]
    texts: list[str]
    metas: list[dict]
    bm25: bm25s.BM25
    sent_texts: list[str]
    sent_vecs: np.ndarray  # (S, dim) float32, unit rows (or zero)
    sent_bounds: np.ndarray  # (N, 2) int: sentence rows [start, end) of each chunk
    sent_terms: list[frozenset[str]]  # stemmed content words of each sentence (lexical evidence)
    chunks_collection: object  # the Chroma collection: queried for dense retrieval on large corpora
    chunk_vecs: np.ndarray  # (N, dim) float32 unit rows, the stored passage vectors, for exact dense search
    row_of: dict[str, int] = field(default_factory=dict)
    doc_rows: dict[str, np.ndarray] = field(default_factory=dict)
    term_df: dict[str, int] = field(default_factory=dict)  # stemmed content word -> passages containing it
    vocabulary: Vocabulary | None = None  # the corpus's own words (abstention evidence)
    # documents marked pending review, or whose statements another page attributes (retrieval tie-break)
    unreviewed_docs: frozenset[str] = frozenset()
    loaded_at: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    def doc_id(self, row: int) -> str:
        return self.metas[row]["doc_id"]

    def cites(self, doc_id: str) -> list[str]:
        rows = self.doc_rows.get(doc_id)
        return list(self.metas[int(rows[0])].get("cites", [])) if rows is not None and len(rows) else []

    def uses_term(self, word: str) -> bool:
        """Whether the corpus writes `word` itself (in at least USES_MIN_PASSAGES passages)."""
        stems = content_terms(word)
        return bool(stems) and all(self.term_df.get(s, 0) >= USES_MIN_PASSAGES for s in stems)

    def sentences_of(self, row: int) -> range:
        start, end = self.sent_bounds[row]
        return range(int(start), int(end))


def _page_all(collection, include: list[str]) -> dict[str, list]:
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE, offset=offset)
        if not got["ids"]:
            return out
        out["ids"].extend(got["ids"])
        for key in include:
            out[key].extend(got[key] if key != "embeddings" else list(got[key]))
        offset += len(got["ids"])


def unreviewed(meta: dict) -> bool:
    """A passage from a source pending review, or holding statements another page attributes to its source."""
    return meta.get("review_status") == "pending-review" or bool(meta.get("attribution"))


def load_snapshot(store: IndexStore, generation: str, corpus_version: str | None = None) -> Snapshot:
    """Read one generation out of Chroma and build the in-memory indexes (seconds; off the request path)."""
    started = time.perf_counter()
    chunks_col = store.chunks(generation)
    chunks = _page_all(chunks_col, ["documents", "metadatas", "embeddings"])
    order = sorted(range(len(chunks["ids"])), key=lambda i: chunks["ids"][i])  # stable, doc-grouped rows
    records = [
        ChunkRecord.from_chroma(
            chunks["ids"][i], chunks["documents"][i], chunks["metadatas"][i], chunks["embeddings"][i]
        )
        for i in order
    ]
    chunk_ids = [r.chunk_id for r in records]
    texts = [r.text for r in records]
    chunk_vecs = np.asarray([r.vector for r in records], dtype=np.float32).reshape(len(order), -1)
    metas = [r.meta() for r in records]
    row_of = {cid: row for row, cid in enumerate(chunk_ids)}

    doc_rows_lists: dict[str, list[int]] = {}
    for row, meta in enumerate(metas):
        doc_rows_lists.setdefault(meta.get("doc_id", ""), []).append(row)
    doc_rows = {d: np.asarray(rows, dtype=np.int32) for d, rows in doc_rows_lists.items()}

    bm25 = bm25s.BM25()
    corpus_terms = content_terms_batch(
        [f"{m.get('section', '')}\n{t}" for m, t in zip(metas, texts, strict=True)]
    )
    bm25.index([terms or [""] for terms in corpus_terms], show_progress=False)
    term_df: dict[str, int] = {}
    for terms in corpus_terms:
        for term in set(terms):
            term_df[term] = term_df.get(term, 0) + 1

    sent_texts: list[str] = []
    rows_of_sentences: list[int] = []
    blocks: list[np.ndarray] = []
    for row, record in enumerate(records):
        sentences = record.sentences()
        if not sentences:
            continue
        vecs = record.sentence_vectors
        blocks.append(vecs if vecs is not None else np.zeros((len(sentences), 0), dtype=np.float32))
        sent_texts.extend(s.text for s in sentences)
        rows_of_sentences.extend([row] * len(sentences))
    dim = max((b.shape[1] for b in blocks), default=384)
    sent_vecs = np.zeros((len(sent_texts), dim), dtype=np.float32)
    pos = 0
    for block in blocks:
        if block.shape[1] == dim:
            sent_vecs[pos : pos + len(block)] = block
        pos += len(block)
    sent_rows = np.asarray(rows_of_sentences, dtype=np.int64)
    starts = np.searchsorted(sent_rows, np.arange(len(chunk_ids)), side="left")
    ends = np.searchsorted(sent_rows, np.arange(len(chunk_ids)), side="right")

    snapshot = Snapshot(
        generation=generation,
        corpus_version=corpus_version,
        chunk_ids=chunk_ids,
        texts=texts,
        metas=metas,
        bm25=bm25,
        sent_texts=sent_texts,
        sent_vecs=sent_vecs,
        sent_bounds=np.stack([starts, ends], axis=1),
        sent_terms=[frozenset(t) for t in content_terms_batch(sent_texts)],
        chunks_collection=chunks_col,
        chunk_vecs=chunk_vecs,
        row_of=row_of,
        doc_rows=doc_rows,
        term_df=term_df,
        unreviewed_docs=frozenset(m.get("doc_id", "") for m in metas if unreviewed(m)),
        vocabulary=Vocabulary.build(
            f"{m.get('section', '')}\n{t}" for m, t in zip(metas, texts, strict=True)
        ),
    )
    log.info(
        "loaded generation %s: %d passages, %d sentences in %.2fs",
        generation,
        snapshot.size,
        len(sent_texts),
        time.perf_counter() - started,
    )
    return snapshot
