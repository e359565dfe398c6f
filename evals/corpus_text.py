"""Reference section texts read from the corpus files, for ragas' text-based context metrics.

The dataset names reference contexts by doc id and section path only (they survive rewording of the text);
the text is looked up here with the ingest's own reader and section splitter, so the paths agree with what
the service returns.
"""

from __future__ import annotations

from pathlib import Path

from evals.data import Context
from evals.metrics.retrieval import section_matches
from ingest.chunking import SECTION_SEP, sections
from ingest.documents import load_documents


class CorpusText:
    """Section texts of one corpus folder, keyed by doc id."""

    def __init__(self, corpus: Path):
        loaded = load_documents([corpus])
        self.sections: dict[str, list[tuple[str, str]]] = {}
        for doc in loaded.documents:
            self.sections[doc.doc_id] = [
                (SECTION_SEP.join(path), "\n".join(line for line in body if line.strip()))
                for path, body in sections(doc)
            ]

    def text(self, ctx: Context) -> str | None:
        """The section's text with its subsections (the whole document when no section is given)."""
        sections = self.sections.get(ctx.doc_id, [])
        parts = [body for path, body in sections if section_matches(path, ctx.section)]
        return "\n".join(parts) if parts else None

    def known(self, ctx: Context) -> bool:
        return self.text(ctx) is not None
