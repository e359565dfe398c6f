"""Chroma as the one store: index generations of chunk and sentence vectors, and a manifest pointer.

Every ingest that changes something writes a *new generation* (`<prefix>_chunks_<gen>`), copying the vectors
of unchanged documents from the live generation and embedding only what changed; the manifest
(`<prefix>_manifest` collection metadata) is switched to it last. Until that switch the service keeps
reading the old generation, so a crash or SIGKILL mid-ingest leaves the live index served and consistent;
the next run removes the unfinished collections and starts over. The pointer lives in Chroma, not in a local
file, so several service replicas reading one Chroma server agree on the generation. Each chunk's sentence
vectors travel in its metadata (the record layout is ingest/records.py). Beside each generation, under
GQA_STORE_DIR, ingest writes the files replicas memory-map (ingest/generation_files.py); they are written
before the switch and removed with the generation.
"""

from __future__ import annotations

import time
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


@dataclass
class Manifest:
    generation: str | None
    previous: str | None
    published_at: float | None
    corpus_version: str | None
    embedder: str | None = None


class IndexStore:
    """Generations, the manifest pointer and the per-document table, over one Chroma client."""

    def __init__(self, settings: StoreSettings, client=None):
        self.settings = settings
        self.prefix = settings.collection_prefix
        self.client = client or open_client(settings)

    # --- names -----------------------------------------------------------------------------------
    def chunks_name(self, gen: str) -> str:
        return f"{self.prefix}_chunks_{gen}"

    def _manifest_collection(self):
        return self.client.get_or_create_collection(
            f"{self.prefix}_manifest", embedding_function=None, metadata={"role": "manifest"}
        )

    # --- manifest ---------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        meta = self._manifest_collection().metadata or {}
        return Manifest(
            meta.get("generation"),
            meta.get("previous"),
            meta.get("published_at"),
            meta.get("corpus_version"),
            meta.get("embedder"),
        )

    def publish(self, gen: str, corpus_version: str, embedder: str = "") -> None:
        """Switch the live pointer to `gen` (one metadata write), then drop generations no longer needed."""
        current = self.manifest().generation
        self._manifest_collection().modify(
            metadata={
                "role": "manifest",
                "generation": gen,
                "previous": current or "",
                "published_at": time.time(),
                "corpus_version": corpus_version,
                "embedder": embedder,
            }
        )
        self.collect_garbage()

    def generations(self) -> list[str]:
        marker = f"{self.prefix}_chunks_"
        names = [c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()]
        return sorted(n[len(marker) :] for n in names if n.startswith(marker))

    def next_generation(self) -> str:
        existing = self.generations()
        last = max((int(g[1:]) for g in existing if g[1:].isdigit()), default=0)
        return f"g{last + 1:06d}"

    def collect_garbage(self) -> None:
        """Delete generations that are neither live nor the previous one (or unfinished, from crashes)."""
        manifest = self.manifest()
        keep = {g for g in (manifest.generation, manifest.previous) if g}
        for gen in self.generations():
            if gen not in keep:
                try:
                    self.client.delete_collection(self.chunks_name(gen))
                except Exception:  # noqa: BLE001 - already gone is fine
                    pass
        generation_files.prune(Path(self.settings.store_dir), self.prefix, keep)

    # --- generation contents ----------------------------------------------------------------------
    def create_generation(self, gen: str):
        """A new, empty chunk collection for generation `gen` (cosine space; vectors are unit length)."""
        return self.client.create_collection(
            self.chunks_name(gen), configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def chunks(self, gen: str):
        """The chunk collection of generation `gen`."""
        return self.client.get_collection(self.chunks_name(gen), embedding_function=None)

    def doc_table(self, gen: str | None) -> dict[str, dict]:
        """doc_id → {hash, source_root, path} for a generation: from its files, else its chunk metadata."""
        if not gen:
            return {}
        files = generation_files.open_files(self.files_dir(gen), gen, str(self.chunks(gen).id))
        if files is not None:  # written with the generation: no scan of every record's metadata
            return {d: {k: e[k] for k in ("hash", "source_root", "path")} for d, e in files.docs.items()}
        table: dict[str, dict] = {}
        for meta in self.chunks(gen).get(include=["metadatas"])["metadatas"] or []:
            table.setdefault(
                meta["doc_id"],
                {"hash": meta["doc_hash"], "source_root": meta["source_root"], "path": meta.get("path", "")},
            )
        return table

    @staticmethod
    def add(
        collection, ids: list[str], vectors: np.ndarray, documents: list[str], metadatas: list[dict]
    ) -> None:
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            collection.add(
                ids=ids[start:end],
                embeddings=np.asarray(vectors[start:end], dtype=np.float32),
                documents=documents[start:end],
                metadatas=metadatas[start:end],
            )

    @classmethod
    def add_records(cls, collection, records: list[ChunkRecord]) -> None:
        """Write records in their stored layout (`ChunkRecord.to_chroma`)."""
        if not records:
            return
        stored = [r.to_chroma() for r in records]
        vectors = np.stack([np.asarray(r.vector, dtype=np.float32) for r in records])
        cls.add(collection, [s[0] for s in stored], vectors, [s[1] for s in stored], [s[2] for s in stored])

    @staticmethod
    def _pages(collection, include: list[str]):
        """Every stored record of a collection, a page at a time (ids, documents, metadatas, embeddings)."""
        offset = 0
        while True:
            got = collection.get(include=include, limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def records(self, gen: str) -> list[ChunkRecord]:
        """Every record of generation `gen`, decoded (`ChunkRecord.from_chroma`)."""
        out: list[ChunkRecord] = []
        for got in self._pages(self.chunks(gen), ["documents", "metadatas", "embeddings"]):
            columns = (got["ids"], got["documents"], got["metadatas"], got["embeddings"])
            out.extend(ChunkRecord.from_chroma(*row) for row in zip(*columns, strict=True))
        return out

    def copy_documents(self, src_gen: str, target, doc_ids: list[str]) -> list[ChunkRecord]:
        """Copy the stored records of unchanged documents into the new generation: no re-embedding.

        The live generation is read a page at a time and its stored layout written back as it is (no
        decode/encode); the records are also returned decoded, for the new generation's files.
        """
        keep, copied = set(doc_ids), list[ChunkRecord]()
        for got in self._pages(self.chunks(src_gen), ["documents", "metadatas", "embeddings"]):
            rows = [i for i, m in enumerate(got["metadatas"]) if (m or {}).get("doc_id") in keep]
            if not rows:
                continue
            ids = [got["ids"][i] for i in rows]
            documents = [got["documents"][i] for i in rows]
            metadatas = [got["metadatas"][i] for i in rows]
            vectors = np.asarray(got["embeddings"], dtype=np.float32)[rows]
            self.add(target, ids, vectors, documents, metadatas)
            columns = (ids, documents, metadatas, vectors)
            copied.extend(ChunkRecord.from_chroma(*row) for row in zip(*columns, strict=True))
        return copied

    # --- the files written with a generation ------------------------------------------------------
    def files_dir(self, gen: str) -> Path:
        return generation_files.generation_dir(Path(self.settings.store_dir), self.chunks_name(gen))

    def write_files(self, gen: str, records: list[ChunkRecord]) -> Path:
        """Write generation `gen`'s files (BM25, arrays; ingest/generation_files.py) from its records."""
        return generation_files.write(records, self.files_dir(gen), gen, str(self.chunks(gen).id))

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
