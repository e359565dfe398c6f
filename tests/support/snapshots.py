"""A tiny hand-built `Snapshot` (service/index.py) standing in for an index generation: no store, no model.

Why: composition, sentence selection, citations and fusion are functions of a snapshot; building one from a
few passages lets each behaviour be checked in milliseconds. Sentence vectors are random unit rows unless
given, so a test that depends on similarity passes its own.
"""

from __future__ import annotations

import numpy as np

from ingest.chunking import split_sentences
from service.abstention import Vocabulary
from service.index import Snapshot
from service.text import content_terms


def tiny_snapshot(
    texts: list[str],
    *,
    doc_ids: list[str] | None = None,
    metas: list[dict] | None = None,
    sent_vecs: np.ndarray | None = None,
    dim: int = 8,
) -> Snapshot:
    """One passage per text (doc `d<row>` unless `doc_ids`), split into sentences as ingest splits them;
    `metas` rows are merged into each passage's metadata."""
    doc_ids = doc_ids or [f"d{row}" for row in range(len(texts))]
    all_metas, sent_texts, rows = [], [], []
    for row, text in enumerate(texts):
        spans = split_sentences(text)
        meta = {"doc_id": doc_ids[row], "title": doc_ids[row], "section": "S", "sentence_spans": spans}
        meta.update((metas or [{}] * len(texts))[row])
        all_metas.append(meta)
        sent_texts += [text[a:b] for a, b in spans]
        rows += [row] * len(spans)
    if sent_vecs is None:
        rng = np.random.default_rng(0)
        sent_vecs = rng.normal(size=(len(sent_texts), dim)).astype(np.float32)
        sent_vecs /= np.linalg.norm(sent_vecs, axis=1, keepdims=True)
    sent_rows = np.asarray(rows)
    bounds = np.stack([np.searchsorted(sent_rows, np.arange(len(texts))),
                       np.searchsorted(sent_rows, np.arange(len(texts)), side="right")], axis=1)
    df: dict[str, int] = {}
    for text in texts:
        for term in set(content_terms(text)):
            df[term] = df.get(term, 0) + 1
    doc_rows: dict[str, list[int]] = {}
    for row, doc_id in enumerate(doc_ids):
        doc_rows.setdefault(doc_id, []).append(row)
    return Snapshot(generation="g", corpus_version=None, chunk_ids=[f"c{i}" for i in range(len(texts))],
                    texts=texts, metas=all_metas, bm25=None, sent_texts=sent_texts, sent_vecs=sent_vecs,
                    sent_bounds=bounds, sent_terms=[frozenset(content_terms(t)) for t in sent_texts],
                    chunks_collection=None, chunk_vecs=np.zeros((len(texts), sent_vecs.shape[1]), np.float32),
                    doc_rows={d: np.asarray(r) for d, r in doc_rows.items()}, term_df=df,
                    vocabulary=Vocabulary.build(texts))  # fmt: skip
