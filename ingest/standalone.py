"""Standalone sentence vectors: each stored sentence embedded on its own, its section path first.

Why beside the contextual ones: a sentence's contextual vector (the mean of its token vectors inside the
passage encoding, ingest/embedding.py) is mostly the passage's topic, so every sentence of an on-topic
passage looks alike to the question and the composer cannot tell the one that answers. Embedded alone, a
sentence is its own meaning; with its section path in front ("Management > Osteoporosis: Bisphosphonates …")
it also keeps the topic a bare list item or "It is rare." would lose. Measured on the tuning authors
(docs/answering.md, fourth round): bare standalone vectors chose worse than the contextual ones, section-path
prefixed ones better. The cost is one more (short) embedding per sentence at ingest; the service reads them
from the generation's files and uses them for unit relevance and the choice of the main passage. Abstention
keeps the contextual vectors (its thresholds were calibrated on them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Part of the pipeline configuration (ingest/pipeline.py): changing how the text is built re-embeds.
FORMAT = "section: sentence/1"


def standalone_text(section: str, sentence: str) -> str:
    """What is embedded for one sentence: its section path, a colon, the sentence."""
    return f"{section}: {sentence}" if section else sentence


def standalone_vectors(
    encode, sections: Sequence[str], texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
) -> list[np.ndarray]:
    """One (sentences, dim) float32 array per passage, from a single `encode` call over all their sentences
    (the embedder batches and length-sorts them)."""
    flat = [
        standalone_text(section, text[a:b].strip())
        for section, text, sp in zip(sections, texts, spans, strict=True)
        for a, b in sp
    ]
    vectors = np.asarray(encode(flat), dtype=np.float32) if flat else np.zeros((0, 0), dtype=np.float32)
    out, start = [], 0
    for sp in spans:
        out.append(vectors[start : start + len(sp)])
        start += len(sp)
    return out
