"""Filter evaluation items by the provenance of the documents they reference (`--provenance KEY=VALUE`).

The shipped corpus records in each document's front matter what kind of source it is (`source_kind`) and
whether that source has been reviewed (`review_status`); see corpus/README.md. An item is kept when at least
one of its reference contexts lies in a document matching every filter, e.g. `--provenance
source_kind=answer-page` for the questions the AI-generated answer pages are expected to answer, or
`--provenance review_status=reviewed` for those a reviewed guideline or research source covers.
"""

from __future__ import annotations

from pathlib import Path

from evals.data import DatasetError
from ingest.documents import REVIEW_STATUSES, SOURCE_KINDS, load_documents

FILTERABLE = {"source_kind": SOURCE_KINDS, "review_status": REVIEW_STATUSES}


def parse_filters(specs: list[str]) -> dict[str, str]:
    """`["source_kind=answer-page", …]` → `{"source_kind": "answer-page"}`; unknown keys or values refused."""
    filters: dict[str, str] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in FILTERABLE:
            keys = ", ".join(FILTERABLE)
            raise DatasetError(f"--provenance {spec}: write KEY=VALUE with KEY one of {keys}")
        if value not in FILTERABLE[key]:
            raise DatasetError(f"--provenance {spec}: {key} must be one of {', '.join(FILTERABLE[key])}")
        filters[key] = value
    return filters


def corpus_provenance(corpus: Path) -> dict[str, dict]:
    """doc id → its provenance fields as the ingest validated them (empty for documents without any)."""
    loaded = load_documents([corpus])
    return {
        doc.doc_id: {k: doc.meta[k] for k in FILTERABLE if doc.meta.get(k) is not None}
        for doc in loaded.documents
    }


def select(items: list, provenance: dict[str, dict], filters: dict[str, str]) -> list:
    """Items with a reference context in a document matching every filter (all items when no filter)."""
    if not filters:
        return list(items)

    def matches(doc_id: str) -> bool:
        fields = provenance.get(doc_id, {})
        return all(fields.get(k) == v for k, v in filters.items())

    return [it for it in items if any(matches(c.doc_id) for c in getattr(it, "reference_contexts", []))]
