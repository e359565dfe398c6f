"""Read and validate corpus documents: Markdown with optional YAML front matter → `Document`.

Everything is validated before anything is written, so one bad file names itself and the live index is left
as it was (see ingest/pipeline.py).

Corpus folders are written by many hands and are read by an unattended job whose output is public, so this
module treats every file as hostile:

- only regular files *inside* the given PATH are read. A symbolic link (file or folder) whose target lies
  outside PATH is refused by name, because following it would publish whatever it points at (a planted link
  to a secrets file came back from `/v1/retrieve`). FIFOs, devices and sockets are skipped with a notice and
  never opened: opening a FIFO blocks until a writer appears, i.e. forever.
- the size comes from `fstat` of the opened file and is checked before reading; reads are bounded anyway, so
  a file that grows (or a device swapped in after the check) cannot make ingest read without end.
- YAML front matter is parsed with a SafeLoader that refuses anchors and aliases and bounds nesting depth: a
  few hundred bytes of nested aliases ("billion laughs") otherwise expand to billions of elements as soon as
  anything walks or stringifies the value.
- every known front-matter field is checked for type and range, with a message naming the file, and ids are
  matched with `\\Z` (`$` also matches before a trailing newline, so a file name ending in a newline would
  otherwise become an id).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.formats import FORMATS, FormatError, extract
from ingest.formats import MAX_BYTES as FORMAT_MAX_BYTES

REQUIRED_FIELDS = ("id", "title", "type", "year", "source")
DOC_TYPES = ("guideline", "research", "guidance")
# Provenance (corpus/README.md): optional at ingest (other corpora have none), checked whenever present; the
# shipped corpus must have them all (tests/ingest/test_corpus_provenance.py).
SOURCE_KINDS = ("guideline", "research", "summary", "answer-page")
REVIEW_STATUSES = ("reviewed", "pending-review")
PROVENANCE_FIELDS = ("source_kind", "review_status", "reviewed", "reviewer_role", "attribution")
SKIPPED_TYPES = ("guardrail",)  # fixed emergency texts: served verbatim by the guardrail, never retrieved
ID_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-/]*\Z")  # \Z, not $: "$" matches before a final "\n"
MAX_ID_CHARS = 200
FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.DOTALL)
FIRST_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
DATE_PATTERN = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
MAX_BYTES = 5_000_000
MAX_FRONT_MATTER_BYTES = 64_000  # real front matter is < 1 kB; this bounds YAML parsing work per file
MAX_YAML_DEPTH = 16  # front matter is flat (a list at most); deep nesting only exhausts recursion
YEAR_MIN, YEAR_MAX = 1800, 2100  # a source year outside this is a typo or an attack, not a guideline
MAX_CITES = 500
TEXT_LIMITS = {  # field → longest accepted value in characters
    "title": 500,
    "organisation": 500,
    "organization": 500,
    "journal": 500,
    "source": 4000,
    "reviewer_role": 200,
    "attribution": 1000,
}
READ_CHUNK = 1 << 20
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    """A reason a file cannot be ingested (or was skipped), printed as one line naming the file."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{printable(str(self.path))}: {printable(self.message)}"


def printable(text: str) -> str:
    """`text` with control characters escaped: a file name ending in a newline must stay on its own line."""
    return CONTROL_CHARS.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass
class LoadResult:
    """Validated documents, problems that block the ingest, and files left out (with a notice why)."""

    documents: list[Document]
    problems: list[Problem]
    skipped: list[Path]
    notices: list[Problem] = field(default_factory=list)


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
                None, None, f"alias *{event.anchor} is not allowed (no anchors or aliases)", event.start_mark  # type: ignore[arg-type]
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


def _show(value: Any, limit: int = 60) -> str:
    """A short repr for messages: a hostile value must not turn into a megabyte error line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", bool: "true/false"}.get(type(value), type(value).__name__)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, dict)) and not value


def _check_text(meta: dict, key: str, *, single_line: bool = False) -> str | None:
    value = meta[key]
    if not isinstance(value, str):
        return f"{key} must be text, not {_kind(value)} ({_show(value)}); quote it"
    value = value.strip()
    if len(value) > TEXT_LIMITS[key]:
        return f"{key} is longer than {TEXT_LIMITS[key]} characters"
    if single_line and ("\n" in value or "\r" in value):
        return f"{key} must be one line"
    meta[key] = value
    return None


def _check_id(doc_id: str) -> str | None:
    if len(doc_id) > MAX_ID_CHARS:
        return f"id is longer than {MAX_ID_CHARS} characters"
    if not ID_PATTERN.match(doc_id):
        return f"id {_show(doc_id)} may only contain letters, digits, '_', '-', '.', '/'"
    return None


def _check_year(value: Any) -> int | str:
    """The year as an int, or a message. Floats are refused: `.inf` and `1e300` are floats in YAML."""
    year: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{1,4}\s*", value):
        year = int(value)
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        year = int(value)
    if year is None or not YEAR_MIN <= year <= YEAR_MAX:
        return f"year must be a whole number from {YEAR_MIN} to {YEAR_MAX}, not {_show(value)}"
    return year


def _check_updated(value: Any, key: str = "updated") -> str | None:
    if isinstance(value, dt.date):  # YAML gives date (or datetime, a subclass) for unquoted dates
        day: dt.date | None = value
    elif isinstance(value, str) and DATE_PATTERN.match(value.strip()):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            day = None
    else:
        day = None
    if day is None or not YEAR_MIN <= day.year <= YEAR_MAX:
        return f"{key} must be a date YYYY-MM-DD from {YEAR_MIN} to {YEAR_MAX}, not {_show(value)}"
    return None


def _check_cites(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"cites must be a list of document ids, not {_kind(value)} ({_show(value)})"
    if len(value) > MAX_CITES:
        return f"cites lists more than {MAX_CITES} ids"
    for item in value:
        if not isinstance(item, str) or _check_id(item):
            return f"cites holds {_show(item)}, which is not a document id"
    return None


def _check_choice(meta: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    """An optional field that, when present, must name one of `allowed` (stripped in place)."""
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.strip() not in allowed:
        return f"{key} must be one of {', '.join(allowed)}, not {_show(value)}"
    meta[key] = value.strip()
    return None


def _check_provenance(meta: dict) -> str | None:
    """source_kind, review_status, reviewed (date), reviewer_role, attribution: each checked when present."""
    for key, allowed in (("source_kind", SOURCE_KINDS), ("review_status", REVIEW_STATUSES)):
        if problem := _check_choice(meta, key, allowed):
            return problem
    if meta.get("reviewed") is not None:
        if problem := _check_updated(meta["reviewed"], "reviewed"):
            return problem
        if meta.get("review_status") != "reviewed":
            status = _show(meta.get("review_status"))
            return f"reviewed (a review date) needs review_status: reviewed, not {status}"
    return None


def _check_front_matter(meta: dict) -> str | None:
    """Type and range of every known field (in place: text stripped, year made an int); a message or None."""
    missing = [f for f in REQUIRED_FIELDS if _blank(meta.get(f))]
    if all(_blank(meta.get(k)) for k in ("organisation", "organization", "journal")):
        missing.append("organisation or journal")
    if missing:
        return "missing required front-matter field(s): " + ", ".join(missing)
    if not isinstance(meta["id"], str):
        return f"id must be text, not {_kind(meta['id'])} ({_show(meta['id'])}); quote it"
    meta["id"] = meta["id"].strip()
    if problem := _check_id(meta["id"]):
        return problem
    if not isinstance(meta["type"], str) or meta["type"].strip() not in DOC_TYPES:
        return f"type must be one of {', '.join(DOC_TYPES)}, not {_show(meta['type'])}"
    meta["type"] = meta["type"].strip()
    year = _check_year(meta["year"])
    if isinstance(year, str):
        return year
    meta["year"] = year
    for key in TEXT_LIMITS:
        if meta.get(key) is not None:  # optional ones may be present but empty
            if problem := _check_text(meta, key, single_line=key in ("title", "reviewer_role")):
                return problem
    if meta.get("updated") is not None and (problem := _check_updated(meta["updated"])):
        return problem
    if meta.get("cites") is not None and (problem := _check_cites(meta["cites"])):
        return problem
    return _check_provenance(meta)


def _parse(path: Path, root: Path, raw: bytes) -> Document | Problem | None:
    """Validate one file's bytes; None for files that are deliberately not indexed (guardrail texts)."""
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
        if len(match.group(1).encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
            return Problem(path, f"front matter is larger than {MAX_FRONT_MATTER_BYTES} bytes")
        try:
            loaded = load_front_matter(match.group(1))
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 2})" if where else ""
            return Problem(path, f"invalid YAML front matter{line}: {getattr(exc, 'problem', exc)}")
        except (ValueError, OverflowError) as exc:  # e.g. an impossible unquoted date: 2025-02-30
            return Problem(path, f"invalid value in YAML front matter: {_show(str(exc), 120)}")
        if not isinstance(loaded, dict):
            return Problem(path, "front matter is not a YAML mapping")
        meta, body = loaded, match.group(2)
        kind = meta.get("type")
        if isinstance(kind, str) and kind.strip() in SKIPPED_TYPES:
            return None
        if problem := _check_front_matter(meta):
            return Problem(path, problem)
        doc_id, title = meta["id"], meta["title"]
    else:
        heading = FIRST_HEADING.search(text)
        if not heading:
            return Problem(path, "no front matter and no Markdown heading to take a title from")
        doc_id = path.relative_to(root).with_suffix("").as_posix()
        title = heading.group(1).strip()
        if problem := _check_id(doc_id):
            return Problem(path, f"{problem} (the id comes from the file name; rename the file)")
    if not body.strip():
        return Problem(path, "front matter but no body text")
    if meta.get("organization") and not meta.get("organisation"):
        meta["organisation"] = meta.pop("organization")
    for key, value in list(meta.items()):  # dates and lists become plain strings/lists for JSON metadata
        if hasattr(value, "isoformat"):
            meta[key] = value.isoformat()
    digest = hashlib.sha256(raw).hexdigest()
    return Document(doc_id, title, body, path, str(root), digest, meta)


SIDECAR_SUFFIX = ".meta.yaml"
MAX_SIDECAR_BYTES = MAX_FRONT_MATTER_BYTES


def sidecar_paths(path: Path) -> list[Path]:
    """Where a file's sidecar metadata may be: `NAME.meta.yaml`, or `NAME.pdf.meta.yaml` when two formats of
    one name sit side by side."""
    return [path.with_name(path.name + SIDECAR_SUFFIX), path.with_name(path.stem + SIDECAR_SUFFIX)]


def _read_sidecar(path: Path) -> tuple[dict, Path | None] | Problem:
    for candidate in sidecar_paths(path):
        if not os.path.lexists(candidate):
            continue
        raw = read_regular_file(candidate, MAX_SIDECAR_BYTES)
        if isinstance(raw, Problem):
            return Problem(path, f"sidecar {candidate.name}: {raw.message}")
        try:
            loaded = load_front_matter(raw.decode("utf-8").lstrip("\ufeff"))
        except UnicodeDecodeError:
            return Problem(path, f"sidecar {candidate.name} is not UTF-8")
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", exc)
            return Problem(path, f"sidecar {candidate.name} is not valid YAML: {reason}")
        except (ValueError, OverflowError) as exc:
            return Problem(path, f"invalid value in sidecar {candidate.name}: {_show(str(exc), 120)}")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            return Problem(path, f"sidecar {candidate.name} is not a YAML mapping")
        return loaded, candidate
    return {}, None


def _parse_format(path: Path, root: Path, raw: bytes) -> Document | Problem:
    """PDF/HTML/DOCX/JATS through its adapter; metadata from the document, gaps filled from the sidecar."""
    try:
        extracted = extract(path, raw)
    except FormatError as exc:
        return Problem(path, str(exc))
    sidecar = _read_sidecar(path)
    if isinstance(sidecar, Problem):
        return sidecar
    side, side_path = sidecar
    meta = dict(side)
    for key, value in extracted.meta.items():  # what the document itself states wins
        if not _blank(value):
            meta[key] = value
    if _blank(meta.get("id")):
        doc_id = path.relative_to(root).with_suffix("").as_posix()
        if problem := _check_id(doc_id):
            return Problem(path, f"{problem} (the id comes from the file name; rename the file or set id)")
        meta["id"] = doc_id
    problem = _check_front_matter(meta)
    if problem and problem.startswith("missing required front-matter field(s): "):
        fields = problem.split(": ", 1)[1]
        where = (
            f"nor in its sidecar {side_path.name}"
            if side_path
            else f"and there is no sidecar {path.stem}{SIDECAR_SUFFIX}"
        )
        return Problem(path, f"missing metadata field(s): {fields} (not stated in the document {where})")
    if problem:
        return Problem(path, f"{problem} (document or sidecar metadata)")
    if meta.get("organization") and not meta.get("organisation"):
        meta["organisation"] = meta.pop("organization")
    for key, value in list(meta.items()):
        if hasattr(value, "isoformat"):
            meta[key] = value.isoformat()
    meta.setdefault("format", FORMATS[path.suffix.lower()])
    digest = hashlib.sha256(raw + b"\0" + repr(sorted(side.items())).encode()).hexdigest()
    return Document(meta["id"], meta["title"], extracted.body, path, str(root), digest, meta)


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes | Problem:
    """The bytes of a regular file of at most MAX_BYTES, or a Problem; never blocks, never reads more.

    The caller has already checked (by stat, without opening) that `path` is a regular file. This re-checks
    on the open descriptor, because the name could have been replaced in between: O_NONBLOCK keeps the open
    of a FIFO from hanging, O_NOFOLLOW refuses a symlink swapped in, and `fstat` gives the size of the file
    actually opened. The read stops at MAX_BYTES + 1 whatever the size said, for files that grow.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Problem(path, "became a symbolic link while being read; refused")
        return Problem(path, f"cannot read: {exc.strerror or exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Problem(path, f"is {_file_kind(info.st_mode)}, not a regular file; refused")
        if info.st_size > max_bytes:
            return Problem(path, f"file is larger than {max_bytes} bytes ({info.st_size})")
        parts: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            data = os.read(fd, min(READ_CHUNK, remaining))
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
        if remaining <= 0:
            return Problem(path, f"file is larger than {max_bytes} bytes (it grew while being read)")
        return b"".join(parts)
    except OSError as exc:
        return Problem(path, f"cannot read: {exc.strerror or exc}")
    finally:
        os.close(fd)


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


@dataclass
class _Scan:
    """What a walk of one PATH found: files to read, problems (refused links) and notices (skips)."""

    files: list[tuple[Path, Path]] = field(default_factory=list)  # (path as found, real path to open)
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def _classify(path: Path, root: Path, scan: _Scan) -> None:
    """Decide, from `lstat`/`stat` only (nothing is opened), whether `path` is read, refused or skipped."""
    try:
        info = os.lstat(path)
        real = path
        if stat.S_ISLNK(info.st_mode):
            real = path.resolve()
            if not _inside(real, root):
                scan.problems.append(
                    Problem(
                        path,
                        f"symbolic link to {real}, outside {root}; refused (only files inside "
                        "PATH are read: copy the file in or ingest its folder as its own PATH)",
                    )
                )
                return
            info = os.stat(real)
    except FileNotFoundError:
        scan.problems.append(Problem(path, "broken symbolic link (its target does not exist)"))
        return
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
        scan.problems.append(Problem(path, f"cannot inspect: {getattr(exc, 'strerror', None) or exc}"))
        return
    if not stat.S_ISREG(info.st_mode):
        scan.skipped.append(path)
        scan.notices.append(Problem(path, f"skipped: {_file_kind(info.st_mode)}, not a regular file"))
        return
    scan.files.append((path, real))


def _scan(root: Path) -> _Scan:
    """Every `*.md`, .pdf, .html/.htm, .docx, .xml/.nxml under `root`, recursively, not following symlinked
    folders.

    A symlinked folder leaving `root` is refused by name; one pointing inside `root` is skipped with a
    notice, since its files are read at their real location anyway (and following it could loop).
    """
    scan = _Scan()
    errors: list[OSError] = []
    for folder, dirnames, filenames in os.walk(root, followlinks=False, onerror=errors.append):
        here = Path(folder)
        for name in sorted(dirnames):
            sub = here / name
            if not sub.is_symlink():
                continue
            real = sub.resolve()
            if not _inside(real, root):
                scan.problems.append(
                    Problem(
                        sub,
                        f"symbolic link to folder {real}, outside {root}; refused (only files "
                        "inside PATH are read)",
                    )
                )
            else:
                scan.notices.append(
                    Problem(sub, "skipped: symbolic link to a folder inside PATH (its files are read there)")
                )
        for name in filenames:
            if name.lower() == "readme.md":  # never read, so never opened or followed either
                scan.skipped.append(here / name)
            elif name.endswith(".md") or Path(name).suffix.lower() in FORMATS:
                _classify(here / name, root, scan)
    for exc in errors:
        scan.problems.append(Problem(Path(exc.filename or root), f"cannot list: {exc.strerror or exc}"))
    scan.files.sort()
    return scan


def load_documents(roots: list[Path]) -> LoadResult:
    """Every `*.md` under each root (recursively), validated; duplicate ids are problems for both files.

    A root is resolved first (naming a symlinked folder on the command line is the operator's choice);
    everything found under it must stay inside it.
    """
    documents: list[Document] = []
    problems: list[Problem] = []
    skipped: list[Path] = []
    notices: list[Problem] = []
    for given in roots:
        root = given.resolve()
        if not root.exists():
            problems.append(Problem(root, "path does not exist"))
            continue
        if root.is_dir():
            scan, base = _scan(root), root
        else:
            scan, base = _Scan(), root.parent
            mode = os.stat(root).st_mode
            if stat.S_ISREG(mode):
                scan.files.append((root, root))
            else:
                scan.problems.append(Problem(root, f"is {_file_kind(mode)}, not a regular file"))
        problems.extend(scan.problems)
        notices.extend(scan.notices)
        skipped.extend(scan.skipped)
        if not scan.files and not scan.problems:
            problems.append(
                Problem(root, "no documents found (*.md, *.pdf, *.html, *.htm, *.docx, *.xml, *.nxml)")
            )
        for path, real in scan.files:
            if path.name.lower() == "readme.md":
                skipped.append(path)
                continue
            kind = FORMATS.get(path.suffix.lower())
            raw = read_regular_file(real, FORMAT_MAX_BYTES[kind] if kind else MAX_BYTES)
            if isinstance(raw, Problem):
                result: Document | Problem | None = Problem(path, raw.message)
            else:
                try:
                    result = _parse_format(path, base, raw) if kind else _parse(path, base, raw)
                except Exception as exc:  # noqa: BLE001 - whatever a hostile file triggers, name the file
                    result = Problem(path, f"cannot be parsed ({type(exc).__name__})")
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
    return LoadResult(documents, problems, skipped, notices)
