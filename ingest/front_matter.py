"""YAML front matter: the one parser for corpus documents (ingest/documents.py) and the guardrail's fixed
guidance texts (service/guardrails/guidance.py).

A file has front matter when it starts with a `---` line and a later `---` line closes it. The YAML is read
with a SafeLoader that refuses anchors and aliases and bounds nesting depth: front matter is flat, and an
alias bomb or deep nesting would only cost time and memory.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.DOTALL)
MAX_FRONT_MATTER_BYTES = 64_000  # real front matter is < 1 kB; this bounds YAML parsing work per file
MAX_YAML_DEPTH = 16  # front matter is flat (a list at most); deep nesting only exhausts recursion


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front-matter YAML text, body) of `text`, or None when it has no closed front matter."""
    match = FRONT_MATTER.match(text)
    return (match.group(1), match.group(2)) if match else None


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and bounds nesting depth.

    Refusing at composition time means an alias bomb fails on its first `&anchor`, before any node is
    built, in time proportional to the text read so far. Front matter never needs either feature.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(  # the stubs type a C-loader Mark apart from yaml.error.Mark
                None,
                None,
                f"alias *{event.anchor} is not allowed (no anchors or aliases)",
                event.start_mark,  # type: ignore[arg-type]
            )
        if getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, f"anchor &{event.anchor} is not allowed (no anchors or aliases)", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_front_matter(text: str) -> Any:
    """Parse front-matter YAML safely (no tags, anchors, aliases or deep nesting); raises yaml.YAMLError."""
    loader = _FrontMatterLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
