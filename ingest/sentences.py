"""The one sentence splitter: ingest cuts passages into the sentences answers quote, and the service, the LLM
checks and the evals split text the same way, so "a sentence" means one thing end to end.

A sentence ends at `.`, `!` or `?` (after any closing quote, bracket or parenthesis) followed by white space
and a capital, a digit or an opening quote or parenthesis. Every line is split on its own (a list item or a
table row never runs into the next line) and a list marker at the start of a line is not part of its sentence.

A full stop that ends a common abbreviation ("e.g.", "i.e.", "vs.", "et al.", "Fig.") ends no sentence. The
look-behinds include the full stop: they are checked where the match starts, just after it. (Until
CHUNKER_VERSION 6 they did not, so they never fired and "e.g. 1 g" was cut after "e.g.".)
"""

from __future__ import annotations

import re

LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
ABBREVIATIONS = (
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bDr\.)(?<!\bet al\.)(?<!\bapprox\.)(?<!\bcf\.)(?<!\bNo\.)"
    r"(?<!\bFig\.)"
)
SENTENCE_END = re.compile(ABBREVIATIONS + r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9(\"'])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, line by line, list markers and trailing space left out."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        marker = LIST_MARK.match(line)
        start = marker.end() if marker else len(line) - len(line.lstrip())
        body = line[start:]
        cursor = 0
        for match in SENTENCE_END.finditer(body):
            spans.append((offset + start + cursor, offset + start + match.start()))
            cursor = match.end()
        if body[cursor:].strip():
            spans.append((offset + start + cursor, offset + start + len(body.rstrip())))
        offset += len(line) + 1
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` as strings (stripped; empty ones left out)."""
    return [s for s in (text[a:b].strip() for a, b in sentence_spans(text)) if s]
