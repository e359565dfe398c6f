"""`[n]` citation markers: how answers write them and the one way they are read back out of text.

The service writes markers with `marker` (service/citations.py renders answers); LLM validation reads a
model's markers, follow-up resolution strips them from the previous answer and the evals check that an
answer's markers resolve, all with the functions here. Clients need not parse at all: every answer also
carries `sentences` (`[{text, citations: [n…]}]`), which the widget uses.

A marker holds one or more numbers separated by commas or semicolons, and short ranges ("[1-3]", "[2–4]",
at most 10 numbers) are expanded; a model writes them all.
"""

from __future__ import annotations

import re

from ingest.sentences import split_sentences

MARKER = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
MARKER_AND_SPACE = re.compile(r"\s*" + MARKER.pattern)
TRAILING_MARKERS = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;–-]\s*\d+)*\])+)")
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.!?,;:])")
MAX_RANGE = 10


def marker(n: int) -> str:
    """How citation number `n` is written in an answer."""
    return f"[{n}]"


def _numbers_in(body: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", body):
        bounds = re.split(r"\s*[–-]\s*", part)
        if len(bounds) == 2 and all(b.isdigit() for b in bounds):
            first, last = int(bounds[0]), int(bounds[1])
            if last - first < MAX_RANGE:
                out.extend(range(first, last + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def cited_numbers(text: str) -> list[int]:
    """Every citation number in `text`, in order ("[1, 3]" gives 1 and 3, "[2-4]" gives 2, 3 and 4)."""
    return [n for body in MARKER.findall(text) for n in _numbers_in(body)]


def strip_markers(text: str) -> str:
    """`text` without its markers, and without the space they leave before punctuation."""
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", MARKER_AND_SPACE.sub("", text)).strip()


def marked_sentences(text: str) -> list[str]:
    """The sentences of `text` (ingest/sentences.py), each with its markers: markers written after the full
    stop ("… daily. [2] Next …") are moved before it first, so they stay with the sentence they cite."""
    pieces: list[str] = []
    for line in text.splitlines():
        line = TRAILING_MARKERS.sub(lambda m: f"{m.group(2)}{m.group(1)}", line)
        pieces.extend(split_sentences(line))
    return pieces
