"""Read and validate corpus documents: Markdown with optional YAML front matter → `Document`.

Everything is validated before anything is written, so one bad file names itself and the live index is left
as it was (see ingest/pipeline.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REQUIRED_FIELDS = ("id", "title", "type", "year", "source")
DOC_TYPES = ("guideline", "research", "guidance")
SKIPPED_TYPES = ("guardrail",)  # fixed emergency texts: served verbatim by the guardrail, never retrieved
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.DOTALL)
FIRST_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Document:
    """One validated source document."""

    doc_id: str
    title: str
    body: str
    path: Path
    source_root: str
    content_hash: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """A reason a file cannot be ingested, printed as one line naming the file."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class LoadResult:
    documents: list[Document]
    problems: list[Problem]
    skipped: list[Path]


def _parse(path: Path, root: Path) -> Document | Problem | None:
    raw = path.read_bytes()
    if len(raw) > MAX_BYTES:
        return Problem(path, f"file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(path, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    text = text.lstrip("\ufeff")
    if not text.strip():
        return Problem(path, "empty document")
    meta: dict = {}
    body = text
    if text.startswith("---"):
        match = FRONT_MATTER.match(text)
        if not match:
            return Problem(path, "front matter starts with '---' but has no closing '---' line")
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 2})" if where else ""
            return Problem(path, f"invalid YAML front matter{line}: {getattr(exc, 'problem', exc)}")
        if not isinstance(loaded, dict):
            return Problem(path, "front matter is not a YAML mapping")
        meta, body = loaded, match.group(2)
        if str(meta.get("type", "")).strip() in SKIPPED_TYPES:
            return None
        missing = [f for f in REQUIRED_FIELDS if not str(meta.get(f) or "").strip()]
        if not (meta.get("organisation") or meta.get("organization") or meta.get("journal")):
            missing.append("organisation or journal")
        if missing:
            return Problem(path, "missing required front-matter field(s): " + ", ".join(missing))
        if meta["type"] not in DOC_TYPES:
            return Problem(path, f"type must be one of {', '.join(DOC_TYPES)}, not {meta['type']!r}")
        try:
            meta["year"] = int(meta["year"])
        except (TypeError, ValueError):
            return Problem(path, f"year must be a number, not {meta['year']!r}")
        doc_id, title = str(meta["id"]).strip(), str(meta["title"]).strip()
    else:
        heading = FIRST_HEADING.search(text)
        if not heading:
            return Problem(path, "no front matter and no Markdown heading to take a title from")
        doc_id = path.relative_to(root).with_suffix("").as_posix()
        title = heading.group(1).strip()
    if not ID_PATTERN.match(doc_id):
        return Problem(path, f"id {doc_id!r} may only contain letters, digits, '_', '-', '.', '/'")
    if not body.strip():
        return Problem(path, "front matter but no body text")
    if meta.get("organization") and not meta.get("organisation"):
        meta["organisation"] = meta.pop("organization")
    for key, value in list(meta.items()):  # dates and lists become plain strings/lists for JSON metadata
        if hasattr(value, "isoformat"):
            meta[key] = value.isoformat()
    digest = hashlib.sha256(raw).hexdigest()
    return Document(doc_id, title, body, path, str(root), digest, meta)


def load_documents(roots: list[Path]) -> LoadResult:
    """Every `*.md` under each root (recursively), validated; duplicate ids are problems for both files."""
    documents: list[Document] = []
    problems: list[Problem] = []
    skipped: list[Path] = []
    for root in roots:
        root = root.resolve()
        if not root.exists():
            problems.append(Problem(root, "path does not exist"))
            continue
        files = [root] if root.is_file() else sorted(root.rglob("*.md"))
        base = root.parent if root.is_file() else root
        if not files:
            problems.append(Problem(root, "no *.md files found"))
        for path in files:
            if path.name.lower() == "readme.md":
                skipped.append(path)
                continue
            try:
                result = _parse(path, base)
            except OSError as exc:
                result = Problem(path, f"cannot read: {exc.strerror or exc}")
            if result is None:
                skipped.append(path)
            elif isinstance(result, Problem):
                problems.append(result)
            else:
                documents.append(result)
    by_id: dict[str, list[Path]] = {}
    for doc in documents:
        by_id.setdefault(doc.doc_id, []).append(doc.path)
    for doc_id, paths in by_id.items():
        for path in paths if len(paths) > 1 else []:
            others = ", ".join(str(p) for p in paths if p != path)
            problems.append(Problem(path, f"duplicate id {doc_id!r} (also in {others})"))
    return LoadResult(documents, problems, skipped)
