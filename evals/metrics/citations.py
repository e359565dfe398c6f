"""Citation integrity of one answer: do the `[n]` resolve, is every sentence cited, does the passage say it?

These are our own checks of the product promise (every answer sentence carries a citation to a returned
passage), independent of ragas and of any LLM. "Supported" is lexical on purpose: a cited sentence counts as
supported when most of its content words appear in one of the passages it cites (or it is a near-verbatim
quote). That is strict for paraphrase and lenient for negation flips, so it is a floor check for grounding,
not a proof; the LLM-judge faithfulness metric is the semantic one when a judge is configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
SENTENCE_BREAK = re.compile(r"(?<=[.!?\]])\s+(?=[A-Z0-9\"'(])")
WORD = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
STOPWORDS = frozenset(
    "the and for are was were with that this from have has had not but can may might should would will "
    "into onto over under than then them they their there these those which who whom what when where why "
    "how all any each its also been being such per via about after before within without more most less "
    "some other only both either neither our your you his her him she does did done use used using".split()
)
SUPPORT_RECALL = 0.6
SUPPORT_FUZZ = 90.0


def markers(text: str) -> list[int]:
    """Every citation number in `text`, in order ("[1, 3]" gives 1 and 3)."""
    return [int(n) for group in MARKER.findall(text) for n in group.split(",")]


def sentences(answer: str) -> list[str]:
    """Answer sentences with text in them; a marker that follows the full stop stays with its sentence."""
    parts: list[str] = []
    for line in answer.splitlines():
        parts.extend(s.strip() for s in SENTENCE_BREAK.split(line) if s.strip())
    return [s for s in parts if WORD.search(MARKER.sub("", s).lower())]


def content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if (len(w) > 2 or w.isdigit()) and w not in STOPWORDS}


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage (1.0 for a near-verbatim quote)."""
    claim = MARKER.sub("", sentence).strip()
    if fuzz.partial_ratio(claim.lower(), passage.lower()) >= SUPPORT_FUZZ:
        return 1.0
    words = content_words(claim)
    if not words:
        return 1.0
    return len(words & content_words(passage)) / len(words)


def citation_integrity(answer: str, citations: Sequence[dict]) -> dict[str, float | None]:
    """Per-answer shares; None where the denominator is empty (no markers, no cited sentences)."""
    by_n = {c.get("n"): c for c in citations}
    found = markers(answer)
    resolved = sum(1 for n in found if n in by_n)
    sents = sentences(answer)
    cited = [s for s in sents if markers(s)]
    supported = 0
    for sent in cited:
        texts = [by_n[n].get("text", "") for n in markers(sent) if n in by_n]
        if texts and max(support(sent, t) for t in texts) >= SUPPORT_RECALL:
            supported += 1
    return {
        "resolved": resolved / len(found) if found else None,
        "sentences_cited": len(cited) / len(sents) if sents else None,
        "supported": supported / len(cited) if cited else None,
        "markers": float(len(found)),
    }


def mean_ignoring_none(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
