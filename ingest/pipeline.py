"""The ingest pipeline in order: load + validate → plan (diff by content hash) → chunk → embed → new
generation → publish. Nothing is written before every document has validated."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunking import Chunk, chunk_document
from ingest.config import Settings
from ingest.documents import Document, Problem, load_documents
from ingest.embedding import get_embedder, get_token_counter
from ingest.store import IndexStore, encode_meta, encode_vectors

PIPELINE_VERSION = "chunks-v2"  # bump when chunking or embedding changes, so every document re-embeds


class InvalidDocuments(Exception):
    """One or more documents failed validation; nothing was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Plan:
    added: list[Document] = field(default_factory=list)
    changed: list[Document] = field(default_factory=list)
    unchanged: list[Document] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_elsewhere: list[str] = field(default_factory=list)  # live documents of other sources, carried over

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass
class Result:
    plan: Plan
    generation: str | None
    chunks_embedded: int
    chunks_copied: int
    seconds: float
    skipped: list[Path]


def doc_hash(doc: Document, embedder_name: str) -> str:
    """Changes when the file, its source folder, the chunking or the embedding model/backend change."""
    key = f"{PIPELINE_VERSION}\n{embedder_name}\n{doc.content_hash}\n{doc.source_root}"
    return hashlib.sha256(key.encode()).hexdigest()


def make_plan(
    docs: list[Document], live: dict[str, dict], roots: list[str], prune: bool, embedder_name: str
) -> Plan:
    """Compare validated documents with the live generation's document table."""
    plan = Plan()
    given = {d.doc_id for d in docs}
    for doc in docs:
        entry = live.get(doc.doc_id)
        if entry is None:
            plan.added.append(doc)
        elif entry["hash"] == doc_hash(doc, embedder_name):
            plan.unchanged.append(doc)
        else:
            plan.changed.append(doc)
    for doc_id, entry in sorted(live.items()):
        if doc_id in given:
            continue
        if prune and entry["source_root"] in roots:
            plan.removed.append(doc_id)
        else:
            plan.kept_elsewhere.append(doc_id)
    return plan


def chunk_metadata(doc: Document, chunk: Chunk, embedder_name: str) -> dict:
    meta = {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "section": chunk.section,
        "heading": chunk.heading,
        "position": chunk.position,
        "doc_hash": doc_hash(doc, embedder_name),
        "source_root": doc.source_root,
        "path": str(doc.path),
        "sentence_spans": json.dumps(chunk.sentence_spans),
    }
    for key in ("type", "organisation", "journal", "year", "source", "updated", "cites"):
        if doc.meta.get(key) not in (None, ""):
            meta[key] = encode_meta(doc.meta[key])
    return meta


def embedder_label(settings: Settings) -> str:
    """Which model and backend made the vectors, without loading the model (so unchanged runs stay cheap)."""
    from ingest.embedding import resolve_model_dir

    return f"{resolve_model_dir(settings.embed_model).name}:{settings.embed_backend}"


def corpus_version(docs_hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for doc_id in sorted(docs_hashes):
        h.update(f"{doc_id}={docs_hashes[doc_id]}\n".encode())
    return h.hexdigest()[:12]


def run(
    paths: list[Path],
    settings: Settings,
    *,
    prune: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[Plan, int], None] | None = None,
) -> Result:
    """Ingest `paths`; raises InvalidDocuments (nothing written) if any document is invalid."""
    started = time.perf_counter()
    loaded = load_documents(paths)
    if loaded.problems:
        raise InvalidDocuments(loaded.problems)
    store = IndexStore(settings)
    live_gen = store.manifest().generation
    live = store.doc_table(live_gen)
    roots = sorted(
        {str(p.resolve()) for p in paths if p.resolve().is_dir()} | {d.source_root for d in loaded.documents}
    )
    embedder_name = embedder_label(settings)
    plan = make_plan(loaded.documents, live, roots, prune, embedder_name)
    to_embed = plan.added + plan.changed
    count = get_token_counter(settings.embed_model)
    chunks = [(doc, c) for doc in to_embed for c in chunk_document(doc, count)]
    if on_plan:
        on_plan(plan, len(chunks))
    if dry_run or not plan.has_changes:
        return Result(plan, live_gen, 0, 0, time.perf_counter() - started, loaded.skipped)

    store.collect_garbage()  # leftovers of an interrupted run
    gen = store.next_generation()
    chunk_col = store.create_generation(gen)
    keep = [d.doc_id for d in plan.unchanged] + plan.kept_elsewhere
    copied = store.copy_documents(live_gen, chunk_col, keep) if live_gen else 0

    embedder = get_embedder(settings.embed_model, settings.embed_backend)
    batch = 256
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        texts = [c.embed_text for _, c in part]
        spans = [[(a + c.prefix_len, b + c.prefix_len) for a, b in c.sentence_spans] for _, c in part]
        vectors, sentence_vectors = embedder.encode_with_spans(texts, spans)
        metadatas = [chunk_metadata(doc, c, embedder_name) for doc, c in part]
        for meta, vecs in zip(metadatas, sentence_vectors, strict=True):
            meta["sentence_vectors"] = encode_vectors(vecs)
        store.add(chunk_col, [c.chunk_id for _, c in part], vectors, [c.text for _, c in part], metadatas)
        if progress:
            progress(len(part))

    hashes = {d.doc_id: doc_hash(d, embedder_name) for d in loaded.documents}
    hashes.update({k: live[k]["hash"] for k in plan.kept_elsewhere})
    store.publish(gen, corpus_version(hashes), embedder_name)
    return Result(plan, gen, len(chunks), copied, time.perf_counter() - started, loaded.skipped)
