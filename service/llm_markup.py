"""Markup and links in LLM text: a sentence carrying any is dropped, never escaped and shown.

Why drop rather than sanitise: an answer written from plain guideline passages has no reason to contain
HTML, Markdown images or links, or URLs. Their presence means the model was steered (prompt injection in
a passage or question) or is broken, and the claim around them is not worth keeping. Every client (the
widget, integrations that render Markdown or HTML) then receives plain text only.
"""

from __future__ import annotations

import re

TLDS = "com|org|net|io|gov|edu|int|uk|eu|de|fr|ru|cn|co|me|ly|xyz|info|app|dev|site|online|example|invalid"
# Each pattern names what it found; the first that matches is the reason logged for the drop.
MARKUP: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an HTML tag or comment", re.compile(r"</?[a-z!?]", re.IGNORECASE)),
    ("a Markdown image", re.compile(r"!\[[^\]]*\]")),
    ("a Markdown link", re.compile(r"\]\(")),
    ("a URL", re.compile(r"\b(?:https?|ftp|file|javascript|vbscript|mailto)\s*:|\bdata:\w+/|\bwww\.", re.I)),
    ("a domain name", re.compile(rf"\b[a-z0-9-]+\.(?:{TLDS})\b", re.IGNORECASE)),
    ("an HTML entity", re.compile(r"&(?:#\d+|#x[0-9a-f]+|[a-z]{2,8});", re.IGNORECASE)),
    ("an event-handler attribute", re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)),
    ("a code span", re.compile(r"`")),
)
EMPHASIS = re.compile(r"(\*\*|__|\*(?=\S)|(?<=\S)\*)")


def markup_in(text: str) -> str | None:
    """What kind of markup or link `text` contains, or None when it is plain text."""
    for name, pattern in MARKUP:
        if pattern.search(text):
            return name
    return None


def without_emphasis(text: str) -> str:
    """`text` with Markdown bold/italic asterisks removed (harmless, and common in model output)."""
    return EMPHASIS.sub("", text)
