"""Chroma as the one store: record collections shared by index generations, and a manifest pointer.

A *generation* is one published state of the index: which version of each document is live. Its records
live in a *record collection* (`<prefix>_chunks_<gen>`, named after the generation that created it), which
later generations extend instead of copying: a small change embeds only the changed documents, adds their
records beside the old ones and marks the old versions superseded; nothing unchanged is re-inserted, so a
one-document change costs Chroma work in proportion to that document, not to the corpus. A large change
(half the passages or more, another embedder, or a collection from before this layout) starts a new
collection and copies the unchanged records into it once, which is cheap next to the embedding it comes with.

Each record carries the generation that added it (`born`) and the one that superseded it (`died`, NEVER
while live), so a generation's records are those with born ≤ gen < died. Record ids carry the document's
version (`<chunk id>@<first 16 hex of its doc hash>`), so two versions of a passage can coexist while the
previous generation is still served. The manifest (`<prefix>_manifest` collection metadata) names the live
generation and its collection, and the previous ones; it is switched last, so a crash or SIGKILL mid-ingest
leaves the live index served and consistent, and the next run removes what the unfinished one added and
resets what it marked. The pointer lives in Chroma, not in a local file, so several service replicas reading
one Chroma server agree on the generation. Each chunk's sentence vectors travel in its metadata (the record
layout is ingest/records.py). Beside each generation, under GQA_STORE_DIR, ingest writes the files replicas
memory-map (ingest/generation_files.py); they are written before the switch and removed with the generation.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from config import StoreSettings
from ingest import generation_files
from ingest.generation_files import GenerationFiles
from ingest.records import ChunkRecord

ADD_BATCH = 2000
PAGE = 5000  # Chroma `get` page size: keeps each SQLite query well under its variable limit
LAYOUT = 2  # record collections shared by generations (born/died, versioned ids); 1 = one per generation
NEVER = 2**31 - 1  # `died` of a record no generation has superseded yet
BORN, DIED = "born", "died"  # store-level metadata keys, not part of the record (ingest/records.py)
VERSION_CHARS = 16  # hex digits of the doc hash in a record id
# Chroma's HNSW search breadth. Its default (100) gave recall@10 0.90 of exact search on the 50x benchmark
# store (99,727 passages, 50 near-duplicate copies of each); 200 / 400 / 800 gave 0.96 / 0.98 / 0.995 at
# 2.2 / 2.4 / 3.7 ms p50 per query (docs/operations.md "Scale"). Set on new collections, raised on old ones.
HNSW_EF_SEARCH = 800


def clear_client_cache() -> None:
    """Forget chromadb's per-path client cache, so a path opened again after a move is really reopened."""
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # noqa: BLE001 - best effort: the CLI process ends right after anyway
        pass


def embedded_path(settings: StoreSettings) -> Path:
    """The embedded Chroma store: `GQA_STORE_DIR/chroma` (feedback and audit files sit beside it)."""
    return Path(settings.store_dir) / "chroma"


def open_client(settings: StoreSettings, path: Path | None = None):
    """Embedded PersistentClient under GQA_STORE_DIR, or an HttpClient when GQA_CHROMA_URL is set.

    `path` opens an embedded store elsewhere (`--repair` builds the replacement beside the broken one).
    """
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = path or embedded_path(settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def generation_number(gen: str | None) -> int:
    """g000012 → 12; 0 for no generation."""
    return int(gen[1:]) if gen and gen[1:].isdigit() else 0


def record_id(chunk_id: str, doc_hash: str) -> str:
    """The Chroma id of one version of a passage (see the module docstring)."""
    return f"{chunk_id}@{doc_hash[:VERSION_CHARS]}"


def split_record_id(stored_id: str, versioned: bool = True) -> tuple[str, str | None]:
    """(chunk id, doc-hash prefix) of a stored id; (id, None) in a collection of the one-collection-per-
    generation layout (`versioned` False), whose ids carried no version."""
    if not versioned:
        return stored_id, None
    chunk_id, _, version = stored_id.rpartition("@")
    return chunk_id, version


def in_generation(meta: dict | None, number: int) -> bool:
    """Whether a stored record belongs to generation `number` (records of the old layout always do)."""
    meta = meta or {}
    return int(meta.get(BORN, 0)) <= number < int(meta.get(DIED, NEVER))


@dataclass
class Manifest:
    generation: str | None
    previous: str | None
    published_at: float | None
    corpus_version: str | None
    embedder: str | None = None
    collection: str | None = None  # the live generation's record collection
    previous_collection: str | None = None


class IndexStore:
    """Generations, their record collections, the manifest pointer and the per-document table."""

    def __init__(self, settings: StoreSettings, client=None):
        self.settings = settings
        self.prefix = settings.collection_prefix
        self.client = client or open_client(settings)

    # --- names -----------------------------------------------------------------------------------
    def chunks_name(self, gen: str) -> str:
        """The record collection a generation creates (and the name of its files' directory)."""
        return f"{self.prefix}_chunks_{gen}"

    def _manifest_collection(self):
        return self.client.get_or_create_collection(
            f"{self.prefix}_manifest", embedding_function=None, metadata={"role": "manifest"}
        )

    # --- manifest ---------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        meta = self._manifest_collection().metadata or {}
        generation, previous = meta.get("generation") or None, meta.get("previous") or None
        return Manifest(
            generation,
            previous,
            meta.get("published_at"),
            meta.get("corpus_version"),
            meta.get("embedder"),
            meta.get("collection") or (self.chunks_name(generation) if generation else None),
            meta.get("previous_collection") or (self.chunks_name(previous) if previous else None),
        )

    def publish(self, gen: str, collection: str, corpus_version: str, embedder: str = "") -> None:
        """Switch the live pointer to `gen` (one metadata write), then drop what no generation kept needs."""
        current = self.manifest()
        self._manifest_collection().modify(
            metadata={
                "role": "manifest",
                "generation": gen,
                "collection": collection,
                "previous": current.generation or "",
                "previous_collection": current.collection or "",
                "published_at": time.time(),
                "corpus_version": corpus_version,
                "embedder": embedder,
            }
        )
        self.collect_garbage()

    def record_collections(self) -> list[str]:
        """The generations whose record collections exist (live, previous, or an unfinished run's)."""
        marker = f"{self.prefix}_chunks_"
        names = [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]
        return sorted(n[len(marker) :] for n in names if n.startswith(marker))

    def next_generation(self) -> str:
        manifest = self.manifest()
        numbers = [generation_number(g) for g in (*self.record_collections(), manifest.generation,
                                                  manifest.previous)]  # fmt: skip
        return f"g{max(numbers, default=0) + 1:06d}"

    def collect_garbage(self) -> None:
        """Remove what neither the live nor the previous generation reads: record collections nobody
        references, records an unfinished run added (born after the live generation) or marked (died after
        it), records superseded before the previous generation, and files of other generations."""
        manifest = self.manifest()
        live, previous = generation_number(manifest.generation), generation_number(manifest.previous)
        referenced = {c for c in (manifest.collection, manifest.previous_collection) if c}
        for gen in self.record_collections():
            name = self.chunks_name(gen)
            if name not in referenced:
                try:
                    self.client.delete_collection(name)
                except Exception:  # noqa: BLE001 - already gone is fine
                    pass
        for name in referenced:
            try:
                collection = self.client.get_collection(name, embedding_function=None)
            except Exception:  # noqa: BLE001 - a previous collection already collected
                continue
            if (collection.metadata or {}).get("layout") != LAYOUT:
                continue
            collection.delete(where={BORN: {"$gt": live}})
            marked = collection.get(where={"$and": [{DIED: {"$gt": live}}, {DIED: {"$lt": NEVER}}]},
                                    include=[])["ids"]  # fmt: skip
            for start in range(0, len(marked), PAGE):
                part = marked[start : start + PAGE]
                collection.update(ids=part, metadatas=[{DIED: NEVER}] * len(part))
            oldest_kept = previous or live
            collection.delete(where={DIED: {"$lte": oldest_kept}})
        keep = {g for g in (manifest.generation, manifest.previous) if g}
        generation_files.prune(Path(self.settings.store_dir), self.prefix, keep)

    # --- record collections -----------------------------------------------------------------------
    def create_collection(self, gen: str):
        """A new, empty record collection created by generation `gen` (cosine space; unit vectors)."""
        return self.client.create_collection(
            self.chunks_name(gen),
            configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
            metadata={"layout": LAYOUT},
            embedding_function=None,
        )

    def collection_named(self, name: str):
        return self.client.get_collection(name, embedding_function=None)

    def collection_of(self, gen: str) -> str:
        """The record collection generation `gen` reads (live or previous; else the one it created)."""
        manifest = self.manifest()
        if gen == manifest.generation and manifest.collection:
            return manifest.collection
        if gen == manifest.previous and manifest.previous_collection:
            return manifest.previous_collection
        return self.chunks_name(gen)

    def chunks(self, gen: str):
        """The record collection generation `gen` reads. It may hold other generations' records too:
        read a generation's own through `records`, or filter with `in_generation`."""
        return self.collection_named(self.collection_of(gen))

    @staticmethod
    def search_breadth(collection) -> None:
        """Raise an older collection's HNSW `ef_search` to HNSW_EF_SEARCH (a setting, not a rebuild)."""
        hnsw = (getattr(collection, "configuration", None) or {}).get("hnsw") or {}
        if int(hnsw.get("ef_search") or 0) < HNSW_EF_SEARCH:
            collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})

    @staticmethod
    def extendable(collection) -> bool:
        """Whether later generations can add to `collection` (this layout) rather than copy it."""
        return (collection.metadata or {}).get("layout") == LAYOUT

    def doc_table(self, gen: str | None) -> dict[str, dict]:
        """doc_id → {hash, source_root, path} for a generation: from its files, else its records."""
        if not gen:
            return {}
        files = generation_files.open_files(self.files_dir(gen), gen, str(self.chunks(gen).id))
        if files is not None:  # written with the generation: no scan of every record's metadata
            return {d: {k: e[k] for k in ("hash", "source_root", "path")} for d, e in files.docs.items()}
        table: dict[str, dict] = {}
        for record in self.records(gen):
            table.setdefault(
                record.doc_id,
                {"hash": record.doc_hash, "source_root": record.source_root, "path": record.path},
            )
        return table

    @staticmethod
    def add_records(collection, records: list[ChunkRecord], born: int) -> None:
        """Write records in their stored layout (`ChunkRecord.to_chroma`), born in generation `born`.

        Upsert: a document changed back to an earlier version still in the collection gets the same ids."""
        for start in range(0, len(records), ADD_BATCH):
            part = records[start : start + ADD_BATCH]
            stored = [r.to_chroma() for r in part]
            collection.upsert(
                ids=[record_id(r.chunk_id, r.doc_hash) for r in part],
                embeddings=np.stack([np.asarray(r.vector, dtype=np.float32) for r in part]),
                documents=[s[1] for s in stored],
                metadatas=[{**s[2], BORN: born, DIED: NEVER} for s in stored],
            )

    @staticmethod
    def supersede(collection, records: Iterable[tuple[str, str]], gen: int) -> int:
        """Mark (chunk id, doc hash) versions as superseded from generation `gen` on: still read by the
        live generation until the switch, collected once no kept generation reads them."""
        ids = [record_id(c, h) for c, h in records]
        for start in range(0, len(ids), PAGE):
            part = ids[start : start + PAGE]
            collection.update(ids=part, metadatas=[{DIED: gen}] * len(part))
        return len(ids)

    @staticmethod
    def _pages(collection, include: list[str]) -> Iterator[dict]:
        """Every stored record of a collection, a page at a time (ids, documents, metadatas, embeddings)."""
        offset = 0
        while True:
            got = collection.get(include=include, limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def _generation_rows(self, gen: str) -> Iterator[tuple[str, str, dict, np.ndarray]]:
        """(chunk id, text, record metadata, vector) of every record generation `gen` reads."""
        number, collection = generation_number(gen), self.chunks(gen)
        versioned = self.extendable(collection)
        for got in self._pages(collection, ["documents", "metadatas", "embeddings"]):
            columns = (got["ids"], got["documents"], got["metadatas"], got["embeddings"])
            for stored_id, document, meta, vector in zip(*columns, strict=True):
                if in_generation(meta, number):
                    meta = {k: v for k, v in (meta or {}).items() if k not in (BORN, DIED)}
                    yield split_record_id(stored_id, versioned)[0], document, meta, vector

    def records(self, gen: str) -> list[ChunkRecord]:
        """Every record of generation `gen`, decoded (`ChunkRecord.from_chroma`)."""
        return [ChunkRecord.from_chroma(*row) for row in self._generation_rows(gen)]

    def copy_documents(self, src_gen: str, target, doc_ids: list[str], born: int) -> list[ChunkRecord]:
        """Copy generation `src_gen`'s records of the given documents into a new collection: no re-embedding
        (a large change, or a collection of the old layout). Returned decoded, for the new files."""
        keep, copied = set(doc_ids), list[ChunkRecord]()
        batch: list[ChunkRecord] = []
        for row in self._generation_rows(src_gen):
            if row[2].get("doc_id") in keep:
                batch.append(ChunkRecord.from_chroma(*row))
            if len(batch) >= ADD_BATCH:
                self.add_records(target, batch, born)
                copied += batch
                batch = []
        self.add_records(target, batch, born)
        return copied + batch

    # --- the files written with a generation ------------------------------------------------------
    def files_dir(self, gen: str) -> Path:
        return generation_files.generation_dir(Path(self.settings.store_dir), self.chunks_name(gen))

    def write_files(self, gen: str, collection, records: list[ChunkRecord]) -> Path:
        """Write generation `gen`'s files (BM25, arrays; ingest/generation_files.py) from its records, keyed
        to the record collection it reads (before the switch the manifest does not name it yet)."""
        return generation_files.write(records, self.files_dir(gen), gen, str(collection.id))

    def generation_files(self, gen: str) -> GenerationFiles:
        """Generation `gen`'s files, memory-mapped; built from its Chroma records first when this machine has
        none (a replica of a Chroma server, or a store ingested before the files existed)."""
        source = str(self.chunks(gen).id)
        files = generation_files.open_files(self.files_dir(gen), gen, source)
        if files is None:
            generation_files.write(self.records(gen), self.files_dir(gen), gen, source)
            files = generation_files.open_files(self.files_dir(gen), gen, source)
        if files is None:
            raise RuntimeError(f"the files of generation {gen} could not be written to {self.files_dir(gen)}")
        return files
