"""The files written with each generation: what a replica memory-maps instead of rebuilding per process.

Chroma holds the records (ingest/records.py) and answers HNSW queries; next to it, in
`STORE_DIR/generations/<prefix>_chunks_<gen>/`, ingest writes once per generation what every replica used to
rebuild from all records at each load:

    bm25/                  the BM25 index over "section\\ntext" (bm25s `save`; loaded with `mmap=True`)
    chunk_ids.json         passage ids in row order (sorted: a document's passages are adjacent)
    chunk_vecs.npy         (N, dim) float32 passage vectors, for exact dense search
    sent_vecs.npy          (S, dim) float16 sentence vectors (contextual: token means inside the passage)
    sent_solo.npy          (S, dim) float16 standalone sentence vectors (ingest/standalone.py); absent in
                           generations written before them; a sentence without one has its contextual row
    sent_bounds.npy        (N, 2) sentence rows [start, end) of each passage
    sent_spans.npy         (S, 2) character span of each sentence in its passage text
    sent_rows.npy          (S,) passage row of each sentence
    sent_terms_*.npy       stemmed content words of each sentence as a CSR array (indptr, ids into
                           sent_vocab.json)
    texts.npy + text_offsets.npy   passage texts, UTF-8 back to back
    metas.npy + meta_offsets.npy   passage fields (`ChunkRecord.meta()`), one JSON object each
    docs.json              document → rows, cites, review flag, hash, source (ingest plans from it)
    corpus_words.json      the corpus's own words (abstention)
    complete.json          written last: format, generation, passage count

Every array is opened memory-mapped, so a replica's resident memory holds what queries touch, not the whole
corpus, and several replicas on one machine share the page cache. The directory is written under a temporary
name and renamed into place, so a reader sees a complete set or none. With a Chroma server a replica may not
share the ingest machine's disk: when the files are missing (or from another store), `open_or_build` builds
them once from the Chroma records into the replica's own STORE_DIR, keyed by collection name, and maps them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from ingest.records import ChunkRecord, has_rows, record_from_meta
from ingest.terms import content_terms, passage_text, words

log = logging.getLogger(__name__)

FORMAT = 1
GENERATIONS_DIR = "generations"
COMPLETE = "complete.json"
DEFAULT_DIM = 384


def generations_root(store_dir: Path) -> Path:
    return Path(store_dir) / GENERATIONS_DIR


def generation_dir(store_dir: Path, collection_name: str) -> Path:
    """Where the files of one generation (named by its Chroma collection) live under a store directory."""
    return generations_root(store_dir) / collection_name


def unreviewed(meta: dict) -> bool:
    """A passage from a source pending review, or holding statements another page attributes to its source."""
    return meta.get("review_status") == "pending-review" or bool(meta.get("attribution"))


# --- writing ------------------------------------------------------------------------------------------
def _save_strings(target: Path, name: str, values: Sequence[str]) -> None:
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    np.save(target / f"{name}.npy", np.frombuffer(b"".join(encoded), dtype=np.uint8))
    np.save(target / f"{name.rstrip('s')}_offsets.npy", offsets)


def write(records: list[ChunkRecord], target: Path, generation: str, source: str) -> Path:
    """Write the files of one generation from its records (any order; rows are sorted by chunk id).

    `source` identifies the Chroma collection they were made from (its id): a store rebuilt by `--repair`
    restarts its generation names, and its files must not be mistaken for the old store's. Written into a
    temporary sibling and renamed into place; when `target` already holds the same files (another replica
    built them first) the new copy is discarded, and files of another source are replaced.
    """
    records = sorted(records, key=lambda r: r.chunk_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; replicas may run as another user
    try:
        _write_into(records, tmp, generation, source)
        try:
            os.rename(tmp, target)
        except OSError:
            if open_files(target, generation, source) is None:
                shutil.rmtree(target, ignore_errors=True)  # incomplete, or another store's: replace it
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_into(records: list[ChunkRecord], out: Path, generation: str, source: str) -> None:
    n = len(records)
    metas = [r.meta() for r in records]
    texts = [r.text for r in records]
    passages = [passage_text(r.section, r.text) for r in records]

    # bm25s sets its own logger to DEBUG when imported; follow the process's level so ingest stays quiet
    logging.getLogger("bm25s").setLevel(logging.getLogger().getEffectiveLevel())
    bm25 = bm25s.BM25()
    bm25.index([content_terms(p) or [""] for p in passages], show_progress=False)
    bm25.save(str(out / "bm25"), show_progress=False)

    dims = [r.vector.shape[-1] for r in records if r.vector is not None and r.vector.size]
    dim = dims[0] if dims else DEFAULT_DIM
    chunk_vecs = np.zeros((n, dim), dtype=np.float32)
    for row, r in enumerate(records):
        if r.vector is not None and r.vector.size == dim:
            chunk_vecs[row] = r.vector
    np.save(out / "chunk_vecs.npy", chunk_vecs)

    sentence_counts = np.asarray([len(r.sentence_spans) for r in records], dtype=np.int64)
    ends = np.cumsum(sentence_counts)
    starts = ends - sentence_counts
    total = int(ends[-1]) if n else 0
    sdims = [r.sentence_vectors.shape[1] for r in records if r.sentence_vectors is not None
             and r.sentence_vectors.ndim == 2 and r.sentence_vectors.shape[1]]
    sdim = max(sdims, default=dim)
    sent_vecs = np.zeros((total, sdim), dtype=np.float16)
    with_solo = [has_rows(r.standalone_vectors, len(r.sentence_spans)) for r in records]
    sent_solo = np.zeros((total, sdim), dtype=np.float16) if any(with_solo) else None
    sent_spans = np.zeros((total, 2), dtype=np.int32)
    sent_rows = np.repeat(np.arange(n, dtype=np.int32), sentence_counts)
    vocab: dict[str, int] = {}
    term_ids: list[int] = []
    indptr = np.zeros(total + 1, dtype=np.int64)
    pos = 0
    for r, solo in zip(records, with_solo, strict=True):
        vecs = r.sentence_vectors
        count = len(r.sentence_spans)
        if count and vecs is not None and vecs.shape == (count, sdim):  # else zero rows, as before
            sent_vecs[pos : pos + count] = vecs
        if sent_solo is not None and count:
            # a record kept from a generation before standalone vectors: its contextual rows stand in
            own = r.standalone_vectors if solo else None
            fits = own is not None and own.shape == (count, sdim)
            sent_solo[pos : pos + count] = own if fits else sent_vecs[pos : pos + count]
        for a, b in r.sentence_spans:
            sent_spans[pos] = (a, b)
            for term in dict.fromkeys(content_terms(r.text[a:b])):
                term_ids.append(vocab.setdefault(term, len(vocab)))
            indptr[pos + 1] = len(term_ids)
            pos += 1
    np.save(out / "sent_vecs.npy", sent_vecs)
    if sent_solo is not None:
        np.save(out / "sent_solo.npy", sent_solo)
        missing = len(records) - sum(with_solo)
        if missing:
            log.info("%d of %d passages have no standalone sentence vectors (kept from an older generation): "
                     "their contextual ones stand in", missing, len(records))
    np.save(out / "sent_spans.npy", sent_spans)
    np.save(out / "sent_rows.npy", sent_rows)
    np.save(out / "sent_bounds.npy", np.stack([starts, ends], axis=1) if n else np.zeros((0, 2), np.int64))
    np.save(out / "sent_terms_indptr.npy", indptr)
    np.save(out / "sent_terms_ids.npy", np.asarray(term_ids, dtype=np.int32))
    (out / "sent_vocab.json").write_text(json.dumps(list(vocab), ensure_ascii=False))

    _save_strings(out, "texts", texts)
    _save_strings(out, "metas", [json.dumps(m, ensure_ascii=False, default=str) for m in metas])
    (out / "chunk_ids.json").write_text(json.dumps([r.chunk_id for r in records], ensure_ascii=False))

    docs: dict[str, dict[str, Any]] = {}
    for row, meta in enumerate(metas):
        entry = docs.setdefault(meta["doc_id"], {
            "rows": [], "cites": meta["cites"], "unreviewed": False,
            "hash": meta["doc_hash"], "source_root": meta["source_root"], "path": meta["path"],
        })  # fmt: skip
        entry["rows"].append(row)
        entry["unreviewed"] = entry["unreviewed"] or unreviewed(meta)
    (out / "docs.json").write_text(json.dumps(docs, ensure_ascii=False))
    corpus_words = sorted({w for p in passages for w in words(p)})
    (out / "corpus_words.json").write_text(json.dumps(corpus_words, ensure_ascii=False))
    (out / COMPLETE).write_text(
        json.dumps({"format": FORMAT, "generation": generation, "source": source, "passages": n})
    )


# --- reading ------------------------------------------------------------------------------------------
class PackedStrings(Sequence[str]):
    """Strings stored back to back in one memory-mapped UTF-8 array; each decoded when asked for."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self._blob, self._offsets = blob, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._blob[self._offsets[row] : self._offsets[row + 1]].tobytes().decode("utf-8")


class PackedJson(Sequence[dict]):
    """JSON objects stored like `PackedStrings`: each row decoded when asked for (a fresh dict each time)."""

    def __init__(self, strings: PackedStrings):
        self._strings = strings

    def __len__(self) -> int:
        return len(self._strings)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        return json.loads(self._strings[row])


class SentenceTexts(Sequence[str]):
    """Sentence `i` is a slice of its passage's text: nothing stored per sentence but two integers."""

    def __init__(self, texts: Sequence[str], rows: np.ndarray, spans: np.ndarray):
        self._texts, self._rows, self._spans = texts, rows, spans

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        a, b = self._spans[i]
        return self._texts[int(self._rows[i])][int(a) : int(b)]


class SentenceTerms(Sequence[frozenset]):
    """Each sentence's stemmed content words, kept as a CSR array of word ids; a set is made when asked."""

    def __init__(self, indptr: np.ndarray, ids: np.ndarray, vocab: list[str]):
        self._indptr, self._ids, self._vocab = indptr, ids, vocab

    def __len__(self) -> int:
        return len(self._indptr) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        vocab = self._vocab
        return frozenset(vocab[t] for t in self._ids[self._indptr[i] : self._indptr[i + 1]].tolist())


class Float32Rows:
    """Rows of a memory-mapped float16 matrix, handed out as float32 (what the stored values were decoded
    to before, so every product with them is computed exactly as it was)."""

    def __init__(self, matrix: np.ndarray):
        self._matrix = matrix
        self.shape = matrix.shape

    def __len__(self) -> int:
        return len(self._matrix)

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self._matrix[rows], dtype=np.float32)


class TermCounts:
    """Passages containing each stemmed word: the column lengths of the stored BM25 matrix (no copy)."""

    def __init__(self, bm25: bm25s.BM25):
        self._vocab: dict[str, int] = bm25.vocab_dict
        self._indptr: np.ndarray = bm25.scores["indptr"]

    def get(self, term: str, default: int = 0) -> int:
        tid = self._vocab.get(term)
        if tid is None or term == "":
            return default
        return int(self._indptr[tid + 1] - self._indptr[tid])

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.get(term) > 0

    def __iter__(self) -> Iterator[str]:
        return (t for t in self._vocab if t and self.get(t) > 0)


def mapped(path: Path) -> np.ndarray:
    """The .npy file memory-mapped read-only, as a plain ndarray view of the map.

    Why the view: the pages stay mapped and are read lazily exactly as before, but indexing an `np.memmap`
    runs its Python-level `__getitem__` and `__array_finalize__` on every access, and a question's
    composition indexes these arrays a few hundred times (profiled: ~15 % of `/v1/ask` on open-medicine)."""
    return np.load(path, mmap_mode="r").view(np.ndarray)


@dataclass
class GenerationFiles:
    """One generation's files, opened: arrays memory-mapped, small tables read."""

    path: Path
    generation: str
    passages: int

    def _npy(self, name: str) -> np.ndarray:
        return mapped(self.path / f"{name}.npy")

    @cached_property
    def chunk_ids(self) -> list[str]:
        return json.loads((self.path / "chunk_ids.json").read_text())

    @cached_property
    def bm25(self) -> bm25s.BM25:
        return bm25s.BM25.load(str(self.path / "bm25"), mmap=True, show_progress=False)

    @cached_property
    def texts(self) -> PackedStrings:
        return PackedStrings(self._npy("texts"), self._npy("text_offsets"))

    @cached_property
    def metas(self) -> PackedJson:
        return PackedJson(PackedStrings(self._npy("metas"), self._npy("meta_offsets")))

    @cached_property
    def chunk_vecs(self) -> np.ndarray:
        return self._npy("chunk_vecs")

    @cached_property
    def sent_vecs(self) -> Float32Rows:
        return Float32Rows(self._npy("sent_vecs"))

    @cached_property
    def sent_solo(self) -> Float32Rows | None:
        """The standalone sentence vectors, or None for a generation written before them."""
        path = self.path / "sent_solo.npy"
        return Float32Rows(mapped(path)) if path.exists() else None

    @cached_property
    def sent_bounds(self) -> np.ndarray:
        return self._npy("sent_bounds")

    @cached_property
    def sent_texts(self) -> SentenceTexts:
        return SentenceTexts(self.texts, self._npy("sent_rows"), self._npy("sent_spans"))

    @cached_property
    def sent_terms(self) -> SentenceTerms:
        vocab = json.loads((self.path / "sent_vocab.json").read_text())
        return SentenceTerms(self._npy("sent_terms_indptr"), self._npy("sent_terms_ids"), vocab)

    @cached_property
    def docs(self) -> dict[str, dict[str, Any]]:
        return json.loads((self.path / "docs.json").read_text())

    @cached_property
    def corpus_words(self) -> list[str]:
        return json.loads((self.path / "corpus_words.json").read_text())

    @cached_property
    def term_df(self) -> TermCounts:
        return TermCounts(self.bm25)


def records_of(files: GenerationFiles, doc_ids: Sequence[str]) -> list[ChunkRecord]:
    """The stored records of some documents, read back from a generation's files (texts, fields, passage and
    sentence vectors): what the next generation keeps of its predecessor, without a Chroma round trip."""
    out: list[ChunkRecord] = []
    bounds, sentence_vectors, solo = files.sent_bounds, files.sent_vecs, files.sent_solo
    for doc_id in doc_ids:
        entry = files.docs.get(doc_id)
        for row in entry["rows"] if entry else ():
            start, end = (int(x) for x in bounds[row])
            out.append(record_from_meta(
                files.chunk_ids[row], files.metas[row], files.texts[row],
                np.array(files.chunk_vecs[row], dtype=np.float32), sentence_vectors[start:end],
                None if solo is None else solo[start:end],
            ))  # fmt: skip
    return out


def open_files(path: Path, generation: str, source: str) -> GenerationFiles | None:
    """The files at `path` when complete, of this format, generation and source collection; else None."""
    try:
        done = json.loads((path / COMPLETE).read_text())
    except (OSError, ValueError):
        return None
    if (done.get("format"), done.get("generation"), done.get("source")) != (FORMAT, generation, source):
        return None
    return GenerationFiles(path, generation, int(done.get("passages", 0)))


def prune(store_dir: Path, prefix: str, keep: set[str], newer_than: str | None = None) -> None:
    """Remove generation files of `prefix` not in `keep`; with `newer_than`, spare generations after it
    (an ingest may be writing them before its manifest switch)."""
    root = generations_root(store_dir)
    if not root.is_dir():
        return
    marker = f"{prefix}_chunks_"
    for entry in root.iterdir():
        name = entry.name
        if name.startswith("."):  # a temporary directory: only an unfinished writer leaves one for long
            gen = name[1:].split(".", 1)[0].removeprefix(marker)
        elif name.startswith(marker):
            gen = name[len(marker) :]
        else:
            continue
        if gen in keep or (newer_than is not None and gen > newer_than):
            continue
        if name.startswith(".") and newer_than is not None:
            continue  # another process's temporary copy; left to the store's own garbage collection
        shutil.rmtree(entry, ignore_errors=True)
