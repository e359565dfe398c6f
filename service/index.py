"""One index generation, loaded: what every request reads, opened once per generation.

Everything a request needs besides the dense query was computed at ingest and written with the generation
(ingest/generation_files.py): the BM25 index, passage and sentence vectors, sentence bounds and word sets,
passage texts and fields. A replica memory-maps those files rather than rebuilding them from every record,
so loading takes about as long as opening files and resident memory holds what queries touch. The hot path
is a Chroma query (large corpora only), a sparse BM25 score and a few small matrix products.
A snapshot is immutable; a new generation gets a new snapshot (see service/live_index.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np

from ingest.generation_files import unreviewed
from ingest.store import VERSION_CHARS, IndexStore
from service.abstention import Vocabulary
from service.text import content_terms

log = logging.getLogger(__name__)

USES_MIN_PASSAGES = 3  # an abbreviation in fewer passages than this is not the corpus's own word for it

__all__ = ["USES_MIN_PASSAGES", "Snapshot", "load_snapshot", "unreviewed"]


@dataclass(frozen=True)
class Snapshot:
    """One generation, loaded. Row `i` of the chunk lists is one passage; sentences are grouped by row."""

    generation: str
    corpus_version: str | None
    chunk_ids: list[str]
    texts: Sequence[str]  # memory-mapped, decoded per row (generation_files.PackedStrings)
    metas: Sequence[dict]  # each row's fields (`ChunkRecord.meta()`), decoded per row
    bm25: bm25s.BM25
    sent_texts: Sequence[str]  # slices of `texts`
    sent_vecs: Any  # rows indexed as (k, dim) float32, unit rows (or zero): contextual (abstention evidence)
    sent_bounds: np.ndarray  # (N, 2) int: sentence rows [start, end) of each chunk
    sent_terms: Sequence[frozenset[str]]  # stemmed content words of each sentence (lexical evidence)
    chunks_collection: object  # the Chroma collection: queried for dense retrieval on large corpora
    chunk_vecs: np.ndarray  # (N, dim) float32 unit rows, the stored passage vectors, for exact dense search
    row_of: dict[str, int] = field(default_factory=dict)
    doc_rows: dict[str, np.ndarray] = field(default_factory=dict)
    term_df: Mapping[str, int] | Any = field(default_factory=dict)  # stemmed word -> passages containing it
    vocabulary: Vocabulary | None = None  # the corpus's own words (abstention evidence)
    # documents marked pending review, or whose statements another page attributes (retrieval tie-break)
    unreviewed_docs: frozenset[str] = frozenset()
    row_docs: Sequence[str] | None = None  # doc id of each row, so fusion never decodes a row's fields
    # document → the version this generation reads (the doc-hash prefix in record ids, ingest/store.py), and
    # how many records the collection held at load: it may hold other generations' versions too
    doc_versions: Mapping[str, str] = field(default_factory=dict)
    collection_records: int = 0
    versioned_ids: bool = False  # record ids carry their version (a collection of the current layout)
    loaded_at: float = field(default_factory=time.time)
    # each sentence embedded on its own with its section path (ingest/standalone.py), rows as `sent_vecs`;
    # None for a generation written before them
    sent_solo: Any = None

    @property
    def relevance_vecs(self) -> Any:
        """The sentence vectors the composer ranks units and passages with: the standalone ones when the
        generation has them, else the contextual ones (an older store still answers, as before)."""
        return self.sent_solo if self.sent_solo is not None else self.sent_vecs

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    def doc_id(self, row: int) -> str:
        return self.row_docs[row] if self.row_docs is not None else self.metas[row]["doc_id"]

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

    def section_rows(self, row: int, reach: int = 4) -> list[int]:
        """The other stored chunks of `row`'s section, in document order: the chunks next to it in its
        document (`doc_rows`, in document order) with the same section path, at most `reach` on each side —
        a section longer than one chunk is stored as several passages."""
        doc_rows = sorted(int(r) for r in self.doc_rows.get(self.doc_id(row), ()))
        if row not in doc_rows:
            return []
        at, section = doc_rows.index(row), self.metas[row].get("section")
        out = []
        for step in (-1, 1):
            i = at + step
            while (0 <= i < len(doc_rows) and abs(i - at) <= reach
                   and self.metas[doc_rows[i]].get("section") == section):
                out.append(doc_rows[i])
                i += step
        return sorted(out)

    def continuation_row(self, row: int) -> int | None:
        """The chunk that finishes `row`'s last sentence, or None: when a chunk ends with a lead-in (":") and
        the next chunk of its document is a subsection of its section, the items the lead-in announces are
        there ("… meets all of the following clinical stability criteria:" then the criteria's table under
        its own heading). Chunking is heading-aware, so such a list is stored apart from its lead-in."""
        if not self.texts[row].rstrip().endswith(":"):
            return None
        doc_rows = sorted(int(r) for r in self.doc_rows.get(self.doc_id(row), ()))
        if row not in doc_rows or doc_rows.index(row) + 1 == len(doc_rows):
            return None
        following = doc_rows[doc_rows.index(row) + 1]
        section = str(self.metas[row].get("section", ""))
        below = str(self.metas[following].get("section", ""))
        return following if below.startswith(section + " › ") else None


def load_snapshot(store: IndexStore, generation: str, corpus_version: str | None = None) -> Snapshot:
    """Open one generation's files (building them from Chroma first if this machine has none)."""
    started = time.perf_counter()
    chunks_col = store.chunks(generation)
    files = store.generation_files(generation)
    chunk_ids = files.chunk_ids
    docs = files.docs
    row_docs = [""] * len(chunk_ids)
    for doc_id, entry in docs.items():
        for row in entry["rows"]:
            row_docs[row] = doc_id
    snapshot = Snapshot(
        generation=generation,
        corpus_version=corpus_version,
        chunk_ids=chunk_ids,
        texts=files.texts,
        metas=files.metas,
        bm25=files.bm25,
        sent_texts=files.sent_texts,
        sent_vecs=files.sent_vecs,
        sent_bounds=files.sent_bounds,
        sent_terms=files.sent_terms,
        chunks_collection=chunks_col,
        chunk_vecs=files.chunk_vecs,
        row_of={cid: row for row, cid in enumerate(chunk_ids)},
        doc_rows={d: np.asarray(entry["rows"], dtype=np.int32) for d, entry in docs.items()},
        term_df=files.term_df,
        unreviewed_docs=frozenset(d for d, entry in docs.items() if entry["unreviewed"]),
        vocabulary=Vocabulary.build(files.corpus_words),
        row_docs=row_docs,
        doc_versions={d: str(entry["hash"])[:VERSION_CHARS] for d, entry in docs.items()},
        collection_records=chunks_col.count(),
        versioned_ids=IndexStore.extendable(chunks_col),
        sent_solo=files.sent_solo,
    )
    if snapshot.sent_solo is None:
        log.warning(
            "generation %s has no standalone sentence vectors (written before they were): answers rank "
            "sentences with the contextual ones; re-ingest to add them", generation,
        )
    log.info(
        "loaded generation %s: %d passages, %d sentences in %.2fs",
        generation,
        snapshot.size,
        len(snapshot.sent_texts),
        time.perf_counter() - started,
    )
    return snapshot
