"""Load the fixed emergency guidance texts from corpus/guardrails/ and give each a tamper-evident version.

Each file is Markdown with YAML front matter (`type: guardrail`, `category`, `version`, `title`). The body
after the front matter is returned to the clinician verbatim; it is never generated or edited here. The
version is the file's explicit version plus a short hash of the body ("2026-11-24.1+sha256:1a2b3c4d5e6f"), so
an edit made without bumping the version is still visible in responses and in the audit log.

Loading fails loudly when a category has no text: a red flag with nothing to show would be worse than a
service that refuses to start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from ingest import front_matter

from .combine import CATEGORIES

REQUIRED_FIELDS = ("type", "category", "version", "title")


class GuidanceError(ValueError):
    """The guidance folder is incomplete or a file is malformed (message names the file)."""


@dataclass(frozen=True)
class Guidance:
    """One category's fixed text, its version and where it came from."""

    category: str
    title: str
    text: str
    version: str
    path: Path


def split_front_matter(raw: str) -> tuple[dict, str]:
    """(metadata, body); the body is everything after the closing `---`, without surrounding blank space."""
    parts = front_matter.split_front_matter(raw)
    if parts is None:
        raise GuidanceError("no YAML front matter (--- ... ---) at the top")
    meta = front_matter.load_front_matter(parts[0]) or {}
    if not isinstance(meta, dict):
        raise GuidanceError("front matter is not a mapping")
    return meta, parts[1].strip()


def versioned(explicit: str, body: str) -> str:
    return f"{explicit}+sha256:{hashlib.sha256(body.encode('utf-8')).hexdigest()[:12]}"


def read_guidance(path: Path) -> Guidance:
    try:
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
    except (GuidanceError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GuidanceError(f"{path}: {exc}") from exc
    missing = [k for k in REQUIRED_FIELDS if not str(meta.get(k) or "").strip()]
    if missing:
        raise GuidanceError(f"{path}: front matter lacks {', '.join(missing)}")
    if meta["type"] != "guardrail":
        raise GuidanceError(f"{path}: type is {meta['type']!r}, expected 'guardrail'")
    if meta["category"] not in CATEGORIES:
        known = ", ".join(sorted(CATEGORIES))
        raise GuidanceError(f"{path}: unknown category {meta['category']!r}; known: {known}")
    if not body:
        raise GuidanceError(f"{path}: empty guidance text")
    return Guidance(meta["category"], str(meta["title"]), body, versioned(str(meta["version"]), body), path)


def load_guidance(directory: Path) -> dict[str, Guidance]:
    """Every category's guidance from `directory`; GuidanceError if a category is missing or doubled."""
    directory = Path(directory)
    if not directory.is_dir():
        raise GuidanceError(f"guardrails directory {directory} does not exist")
    loaded: dict[str, Guidance] = {}
    for path in sorted(directory.glob("*.md")):
        g = read_guidance(path)
        if g.category in loaded:
            first = loaded[g.category].path
            raise GuidanceError(f"{path}: category {g.category!r} already defined in {first}")
        loaded[g.category] = g
    missing = sorted(CATEGORIES - loaded.keys())
    if missing:
        raise GuidanceError(f"{directory}: no guidance for {', '.join(missing)}")
    return loaded
