"""The live index: which snapshot requests read now, and the watcher that swaps in new generations.

Why a background watcher instead of checking on each request: loading a generation takes seconds, and no
request should pay for it. The watcher reads the manifest pointer every `poll_s` (one small Chroma read),
builds the new snapshot beside the old one and swaps a single reference, so a request that already holds the
old snapshot finishes on it and none fails during the switch. An empty or missing store is a reason for
not-ready, not an error: the watcher keeps polling and the service recovers as soon as an ingest publishes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ingest.generation_files import prune as prune_files
from ingest.records import EmbedderLabel
from ingest.store import IndexStore
from service.index import Snapshot, load_snapshot
from service.settings import Settings

log = logging.getLogger(__name__)

POLL_SECONDS = 1.5


class NotReady(RuntimeError):
    """The service cannot answer yet (or any more); the message says why and what to do."""


def _clear_chroma_cache() -> None:
    """Chroma caches one client system per path; a deleted or re-created store needs a fresh one."""
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:  # noqa: BLE001 - best effort; a stale cache only delays recovery
        log.debug("could not clear the Chroma client cache", exc_info=True)


class LiveIndex:
    """Holds the current `Snapshot` (or the reason there is none) and keeps it in step with the manifest."""

    def __init__(self, settings: Settings, poll_s: float = POLL_SECONDS):
        self.settings = settings
        self.poll_s = poll_s
        self._snapshot: Snapshot | None = None
        self._reason = "index not loaded yet"
        self._store: IndexStore | None = None
        self._lock = threading.Lock()  # one refresh at a time (watcher vs. POST /admin/reload)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what requests call -------------------------------------------------------------------------
    @property
    def reason(self) -> str | None:
        """Why the service is not ready, or None when a snapshot is live."""
        return None if self._snapshot is not None else self._reason

    def current(self) -> Snapshot:
        snapshot = self._snapshot  # one read: the request keeps this snapshot even if a swap follows
        if snapshot is None:
            raise NotReady(self._reason)
        return snapshot

    # --- keeping it fresh ---------------------------------------------------------------------------
    def _sqlite_missing(self) -> bool:
        if self.settings.chroma_url:
            return False
        return not (Path(self.settings.store_dir) / "chroma" / "chroma.sqlite3").exists()

    def _open_store(self) -> IndexStore:
        if self._store is None:
            self._store = IndexStore(self.settings)
        return self._store

    def _unready(self, reason: str) -> None:
        """No snapshot, for `reason`. The reason is written first: a probe reading between the two writes
        must not see the old one ("index not loaded yet" is still there from start-up), which once told
        operators a store outage was a slow start."""
        self._reason = reason
        self._snapshot = None

    def _drop(self, reason: str) -> None:
        if self._snapshot is not None or reason != self._reason:
            log.warning("index not available: %s", reason)
        self._unready(reason)
        self._store = None
        _clear_chroma_cache()

    def refresh(self) -> bool:
        """Load the published generation if it differs from the live one; True when a new one went live."""
        with self._lock:
            where = self.settings.chroma_url or str(self.settings.store_dir)
            if self._store is not None and self._sqlite_missing():
                self._drop(
                    f"the store at {where} has disappeared; run `python -m ingest corpus/` to rebuild it"
                )
                return False
            try:
                store = self._open_store()
                manifest = store.manifest()
            except Exception as exc:  # noqa: BLE001 - any store failure means "not ready", with the reason
                self._drop(f"cannot read the store at {where}: {exc}")
                return False
            if not manifest.generation:
                self._unready(f"no index has been published in {where}; run `python -m ingest corpus/`")
                return False
            live = self._snapshot
            if live is not None and live.generation == manifest.generation:
                return False
            mismatch = self._model_mismatch(manifest.embedder)
            if mismatch:
                self._unready(mismatch)
                return False
            try:
                snapshot = load_snapshot(store, manifest.generation, manifest.corpus_version)
            except Exception as exc:  # noqa: BLE001 - a generation collected mid-load; retry next poll
                log.warning("could not load generation %s: %s", manifest.generation, exc)
                if live is None:
                    self._reason = f"index generation {manifest.generation} could not be loaded: {exc}"
                return False
            if snapshot.size == 0:
                self._unready(f"index generation {manifest.generation} holds no passages; ingest a corpus")
                return False
            self._snapshot = snapshot  # the atomic swap
            log.info("serving index generation %s", snapshot.generation)
            # a replica of a Chroma server keeps its own copies of the generation files: older ones go
            prune_files(
                Path(self.settings.store_dir),
                store.prefix,
                {g for g in (manifest.generation, manifest.previous) if g},
                newer_than=manifest.generation,
            )
            return True

    def _model_mismatch(self, recorded: str | None) -> str | None:
        """Query vectors from another model than the index's are meaningless: refuse rather than mislead.

        Only the model must match; its backends (torch, onnx, onnx-int8) give near-identical vectors.
        """
        if not recorded:
            return None
        ours = EmbedderLabel.for_settings(self.settings)
        if not EmbedderLabel.parse(recorded).same_model(ours):
            return (
                f"the index was embedded with {recorded} but this service embeds queries with {ours}; "
                "set GQA_EMBED_MODEL to match, or re-ingest"
            )
        return None

    def start(self) -> None:
        """Load now (in the background) and keep watching the manifest until `stop()`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="index-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the watcher must outlive any single failure
                log.exception("index refresh failed")
            self._stop.wait(self.poll_s)
