"""Citation integrity of one answer: do the `[n]` resolve, is every sentence cited, does the passage say it?

These are our own checks of the product promise (every answer sentence carries a citation to a returned
passage), independent of ragas and of any LLM. "Supported" is lexical on purpose: a cited sentence counts as
supported when most of its content words appear in one of the passages it cites (or it is a near-verbatim
quote). That is strict for paraphrase and lenient for negation flips, so it is a floor check for grounding,
not a proof; the LLM-judge faithfulness metric is the semantic one when a judge is configured.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from service.markers import cited_numbers, marked_sentences, strip_markers
from service.text import content_terms, support_share

SUPPORT_RECALL = 0.6
SUPPORT_FUZZ = 90.0


def markers(text: str) -> list[int]:
    """Every citation number in `text`, in order (service/markers.py reads them the one way)."""
    return cited_numbers(text)


def sentences(answer: str) -> list[str]:
    """Answer sentences with text in them; a marker that follows the full stop stays with its sentence."""
    return [s for s in marked_sentences(answer) if any(ch.isalnum() for ch in strip_markers(s))]


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words found in the passage (1.0 for a near-verbatim quote), measured as
    LLM validation measures it (service/text.py `support_share`)."""
    claim = strip_markers(sentence)
    if fuzz.partial_ratio(claim.lower(), passage.lower()) >= SUPPORT_FUZZ:
        return 1.0
    share = support_share(claim, set(content_terms(passage)))
    return 1.0 if share is None else share


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
