"""The ingest pipeline in order: load + validate → plan (diff by content hash) → chunk → embed → new
generation → publish. Nothing is written before every document has validated."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from config import StoreSettings
from ingest import chunking, generation_files, sentences, standalone
from ingest.chunking import Chunk, chunk_document
from ingest.documents import Document, LoadResult, Problem, load_documents
from ingest.embedding import get_embedder, get_token_counter
from ingest.generation_files import GenerationFiles
from ingest.records import DOC_FIELDS, LOCATOR_FIELDS, ChunkRecord, EmbedderLabel
from ingest.store import IndexStore, clear_client_cache, embedded_path, generation_number, open_client


class InvalidDocuments(Exception):
    """One or more documents failed validation; nothing was written."""

    def __init__(self, problems: list[Problem], notices: list[Problem] | None = None):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
        self.notices = notices or []


class StoreUnreadable(Exception):
    """The live index cannot be read (corrupt or unreadable store); nothing was written.

    Re-ingesting cannot fix this on its own: every run must read the live generation first (to reuse
    unchanged vectors and keep other sources' documents), so it fails the same way each time. The message
    says what to do: `--repair` moves the broken store aside and rebuilds from the given PATHs.
    """


class RepairUnsupported(Exception):
    """`--repair` was asked for a store it cannot move aside (a Chroma server, or with --dry-run)."""


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
    chunks_copied: int  # unchanged records re-inserted into a new record collection (a large change only)
    seconds: float
    skipped: list[Path]
    notices: list[Problem] = field(default_factory=list)
    moved_aside: Path | None = None  # where --repair put the previous store
    chunks_kept: int = 0  # unchanged records the new generation reads (extended in place, or copied)


def pipeline_config(embedder_name: str) -> dict[str, object]:
    """What turns a document's bytes into its stored passages and vectors, besides the bytes: the embedder
    (model and backend), the chunking parameters, the sentence rule and the chunker's code version.

    Derived from the values in force rather than a hand-bumped constant (as llama-index hashes its
    transformations' configuration), so changing the chunk size or the sentence rule re-embeds by itself;
    only a change in chunking code that no parameter shows needs CHUNKER_VERSION bumped.
    """
    return {
        "embedder": embedder_name,
        "chunker": chunking.CHUNKER_VERSION,
        "max_chunk_tokens": chunking.MAX_CHUNK_TOKENS,
        "min_sentence_words": chunking.MIN_SENTENCE_WORDS,
        "section_separator": chunking.SECTION_SEP,
        "sentence_end": sentences.SENTENCE_END.pattern,
        "standalone_sentences": standalone.FORMAT,
    }


def doc_hash(doc: Document, embedder_name: str) -> str:
    """Changes when the file, its source folder or the pipeline's configuration (pipeline_config) change."""
    config = json.dumps(pipeline_config(embedder_name), sort_keys=True)
    key = f"{config}\n{doc.content_hash}\n{doc.source_root}"
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


def chunk_record(
    doc: Document,
    chunk: Chunk,
    embedder_name: str,
    vector: np.ndarray | None = None,
    sentence_vectors: np.ndarray | None = None,
    standalone_vectors: np.ndarray | None = None,
) -> ChunkRecord:
    """The stored record of one chunk: its text and place, the document's optional fields, its vectors."""
    extra = {key: doc.meta[key] for key in DOC_FIELDS if doc.meta.get(key) not in (None, "")}
    extra.update({key: getattr(chunk, key) for key in LOCATOR_FIELDS if getattr(chunk, key)})
    return ChunkRecord(
        chunk_id=chunk.chunk_id,
        doc_id=doc.doc_id,
        title=doc.title,
        section=chunk.section,
        heading=chunk.heading,
        position=chunk.position,
        text=chunk.text,
        doc_hash=doc_hash(doc, embedder_name),
        source_root=doc.source_root,
        path=str(doc.path),
        sentence_spans=list(chunk.sentence_spans),
        extra=extra,
        vector=vector,
        sentence_vectors=sentence_vectors,
        standalone_vectors=standalone_vectors,
    )


def extends(live_collection, to_embed: int, kept: int) -> bool:
    """Add a change to the live record collection (its cost grows with the change) rather than start a new
    one and copy the unchanged records into it (its cost grows with the corpus). A change of half the
    passages or more starts afresh: the copy is then cheap next to the embedding, and the superseded half
    does not linger beside the live one. A collection of the old one-per-generation layout is never extended.
    """
    return IndexStore.extendable(live_collection) and to_embed * 2 < to_embed + kept


def superseded(live_files: GenerationFiles, doc_ids: list[str]) -> list[tuple[str, str]]:
    """(chunk id, doc hash) of the live versions of documents that change or go in the new generation."""
    out: list[tuple[str, str]] = []
    for doc_id in doc_ids:
        entry = live_files.docs.get(doc_id)
        if entry:
            out.extend((live_files.chunk_ids[row], entry["hash"]) for row in entry["rows"])
    return out


def embedder_label(settings: StoreSettings) -> str:
    """Which model and backend made the vectors, as the manifest records it (see `EmbedderLabel`)."""
    return str(EmbedderLabel.for_settings(settings))


def corpus_version(docs_hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for doc_id in sorted(docs_hashes):
        h.update(f"{doc_id}={docs_hashes[doc_id]}\n".encode())
    return h.hexdigest()[:12]


def _where(settings: StoreSettings) -> str:
    return settings.chroma_url or str(embedded_path(settings))


def unreadable_message(settings: StoreSettings, paths: list[Path], exc: BaseException) -> str:
    """What went wrong and what to do about it, for an operator reading a cron log."""
    detail = f"{type(exc).__name__}: {exc}"
    detail = detail if len(detail) <= 300 else detail[:299] + "…"
    if settings.chroma_url:
        return (
            f"cannot read the index from the Chroma server at {settings.chroma_url} ({detail}). Check that "
            "the server is up and its data is intact; --repair works on the embedded store only."
        )
    given = " ".join(shlex.quote(str(p)) for p in paths)
    where = embedded_path(settings)
    return (
        f"cannot read the index store at {where} ({detail}). The store is probably corrupt (a disk fault, a "
        "full disk, or a copy taken mid-write); ingesting again cannot fix it, because every run reads the "
        f"live index first. To rebuild it: `python -m ingest --repair {given}` builds a new index from these "
        f"PATHs and moves the broken store aside to {where}.before-repair-<UTC time> (nothing is deleted); "
        "then restart the service. Or restore a backup of that folder."
    )


def read_live(
    store: IndexStore, settings: StoreSettings, paths: list[Path]
) -> tuple[str | None, dict[str, dict]]:
    """The live generation and its document table; StoreUnreadable (with what to do) if that fails."""
    try:
        live_gen = store.manifest().generation
        return live_gen, store.doc_table(live_gen)
    except Exception as exc:  # noqa: BLE001 - any failure to read the live index has the same remedy
        raise StoreUnreadable(unreadable_message(settings, paths, exc)) from exc


def run(
    paths: list[Path],
    settings: StoreSettings,
    *,
    prune: bool = False,
    dry_run: bool = False,
    repair: bool = False,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[Plan, int], None] | None = None,
) -> Result:
    """Ingest `paths`; raises InvalidDocuments (nothing written) if any document is invalid.

    Raises StoreUnreadable when the live index cannot be read. With `repair`, the live index is not read
    at all: a new store is built from `paths` beside the old one and swapped in (see `repair_store`).
    """
    started = time.perf_counter()
    loaded = load_documents(paths)
    if loaded.problems:
        raise InvalidDocuments(loaded.problems, loaded.notices)
    if repair:
        return repair_store(loaded, paths, settings, progress=progress, on_plan=on_plan, started=started)
    try:
        store = IndexStore(settings)
    except Exception as exc:  # noqa: BLE001 - opening a corrupt embedded store fails here
        raise StoreUnreadable(unreadable_message(settings, paths, exc)) from exc
    live_gen, live = read_live(store, settings, paths)
    return _ingest(loaded, store, live_gen, live, paths, settings, prune, dry_run, progress, on_plan, started)


def _free_name(path: Path) -> Path:
    """`path`, or `path-1`, `path-2`, … : a name nothing uses, so nothing is ever overwritten."""
    candidate, n = path, 0
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def repair_store(
    loaded: LoadResult,
    paths: list[Path],
    settings: StoreSettings,
    *,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[Plan, int], None] | None = None,
    started: float | None = None,
) -> Result:
    """Rebuild the embedded store from `paths` and move the old one aside (timestamped, never deleted).

    The new store is built in a sibling folder first and renamed into place only when complete, so a
    failed or killed repair leaves the old store where it was. The old store is never opened: it may be
    the very thing that crashes. Feedback and audit files beside it in GQA_STORE_DIR are not touched.
    """
    started = time.perf_counter() if started is None else started
    if settings.chroma_url:
        raise RepairUnsupported(
            "--repair works on the embedded store (GQA_STORE_DIR) only; a Chroma server's data is repaired "
            "or restored on the server"
        )
    if not loaded.documents:
        raise RepairUnsupported("--repair found no documents to rebuild from; the store was not moved")
    target = embedded_path(settings)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    build = _free_name(target.with_name(f"{target.name}.rebuild-{stamp}"))
    try:
        store = IndexStore(settings, client=open_client(settings, build))
        result = _ingest(loaded, store, None, {}, paths, settings, False, False, progress, on_plan, started)
    except BaseException:
        clear_client_cache()
        shutil.rmtree(build, ignore_errors=True)  # only the half-built replacement, made by this run
        raise
    del store
    clear_client_cache()
    aside = None
    if target.exists() or target.is_symlink():
        aside = _free_name(target.with_name(f"{target.name}.before-repair-{stamp}"))
        os.rename(target, aside)
    try:
        os.rename(build, target)
    except OSError as exc:
        raise StoreUnreadable(
            f"the rebuilt store is complete at {build} but could not be moved to {target} ({exc.strerror}); "
            f"the old store is at {aside}. Stop the service, then `mv {build} {target}`."
        ) from exc
    result.moved_aside = aside
    return result


def _ingest(
    loaded: LoadResult,
    store: IndexStore,
    live_gen: str | None,
    live: dict[str, dict],
    paths: list[Path],
    settings: StoreSettings,
    prune: bool,
    dry_run: bool,
    progress: Callable[[int], None] | None,
    on_plan: Callable[[Plan, int], None] | None,
    started: float,
) -> Result:
    """Plan against the live table, then embed what changed into a new generation and publish it."""
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
        return Result(plan, live_gen, 0, 0, time.perf_counter() - started, loaded.skipped, loaded.notices)

    store.collect_garbage()  # leftovers of an interrupted run
    gen = store.next_generation()
    born = generation_number(gen)
    keep = [d.doc_id for d in plan.unchanged] + plan.kept_elsewhere
    try:
        live_collection = store.chunks(live_gen) if live_gen else None
        live_files = store.generation_files(live_gen) if live_gen else None
    except Exception as exc:  # noqa: BLE001 - the live generation is unreadable: same remedy
        raise StoreUnreadable(unreadable_message(settings, paths, exc)) from exc
    kept_passages = sum(len(live_files.docs[d]["rows"]) for d in keep) if live_files else 0
    if live_collection is not None and live_files is not None and extends(live_collection, len(chunks),
                                                                          kept_passages):  # fmt: skip
        target, copied = live_collection, 0
        store.search_breadth(target)
        records = generation_files.records_of(live_files, keep)
        gone = [d.doc_id for d in plan.changed] + plan.removed
        store.supersede(target, superseded(live_files, gone), born)
    else:
        target = store.create_collection(gen)
        try:
            records = store.copy_documents(live_gen, target, keep, born) if live_gen else []
        except Exception as exc:  # noqa: BLE001 - the live generation's vectors are unreadable: same remedy
            raise StoreUnreadable(unreadable_message(settings, paths, exc)) from exc
        copied = len(records)

    embedder = get_embedder(settings)
    batch = 256
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        texts = [c.embed_text for _, c in part]
        spans = [c.embed_spans for _, c in part]
        vectors, sentence_vectors = embedder.encode_with_spans(texts, spans)
        solo = standalone.standalone_vectors(
            embedder.encode, [c.section for _, c in part], [c.text for _, c in part],
            [c.sentence_spans for _, c in part],
        )
        new = [
            chunk_record(doc, c, embedder_name, vec, svecs, solo_vecs)
            for (doc, c), vec, svecs, solo_vecs in zip(part, vectors, sentence_vectors, solo, strict=True)
        ]
        store.add_records(target, new, born)
        records.extend(new)
        if progress:
            progress(len(part))

    store.write_files(gen, target, records)  # BM25 and arrays for the replicas, before the switch
    hashes = {d.doc_id: doc_hash(d, embedder_name) for d in loaded.documents}
    hashes.update({k: live[k]["hash"] for k in plan.kept_elsewhere})
    store.publish(gen, target.name, corpus_version(hashes), embedder_name)
    return Result(
        plan, gen, len(chunks), copied, time.perf_counter() - started, loaded.skipped, loaded.notices,
        chunks_kept=len(records) - len(chunks),
    )
