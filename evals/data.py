"""Load and validate the evaluation datasets (JSON lines; schema in evals/datasets/README.md).

Validation happens before any request is sent, so a typo in line 73 fails in a second with the line number
instead of after ten minutes of evaluation. Every dataset is hashed so results.json can say exactly what
was measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
EXPECTED_MODES = ("answer", "abstain", "red_flag")
SPLITS = ("calibration", "holdout")


class DatasetError(ValueError):
    """A dataset line that does not follow the schema; the message names file and line."""


@dataclass(frozen=True)
class Context:
    """A place in the corpus: a document and, optionally, one section path inside it."""

    doc_id: str
    section: str | None = None

    @property
    def key(self) -> str:
        return f"{self.doc_id}#{self.section or ''}"


@dataclass
class QAItem:
    """One question for the retrieval or answers suite."""

    id: str
    question: str
    history: list[dict] = field(default_factory=list)
    reference_contexts: list[Context] = field(default_factory=list)
    reference_answer: str | None = None
    expected_mode: str = "answer"
    tags: list[str] = field(default_factory=list)


@dataclass
class RedFlagItem:
    """One labelled message for the guardrail suite (schema owned by the guardrail's README_redflag.md)."""

    id: str
    text: str
    label: bool
    category: str | None
    kind: str
    split: str
    history: list[dict] = field(default_factory=list)


@dataclass
class Dataset:
    path: Path
    sha256: str
    items: list

    def describe(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "n": len(self.items)}


def _lines(path: Path) -> tuple[str, list[tuple[int, dict]]]:
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    raw = path.read_bytes()
    rows: list[tuple[int, dict]] = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}: a line must be a JSON object")
        rows.append((number, row))
    if not rows:
        raise DatasetError(f"{path}: the dataset is empty")
    return hashlib.sha256(raw).hexdigest(), rows


def _history(where: str, value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        for t in value
    ):
        raise DatasetError(f"{where}: history must be a list of {{role: user|assistant, content: str}}")
    return value


def _require_str(where: str, row: dict, key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: '{key}' must be a non-empty string")
    return value


def _qa_item(where: str, row: dict) -> QAItem:
    contexts = []
    for ctx in row.get("reference_contexts") or []:
        if not isinstance(ctx, dict) or not isinstance(ctx.get("doc_id"), str):
            raise DatasetError(f"{where}: each reference context needs a 'doc_id' (and optionally 'section')")
        contexts.append(Context(ctx["doc_id"], ctx.get("section") or None))
    mode = row.get("expected_mode", "answer")
    if mode not in EXPECTED_MODES:
        raise DatasetError(f"{where}: expected_mode must be one of {', '.join(EXPECTED_MODES)}, not {mode!r}")
    if mode == "answer" and not contexts:
        raise DatasetError(f"{where}: an answerable question needs at least one reference context")
    answer = row.get("reference_answer")
    if answer is not None and not isinstance(answer, str):
        raise DatasetError(f"{where}: 'reference_answer' must be a string or null")
    return QAItem(
        id=_require_str(where, row, "id"),
        question=_require_str(where, row, "question"),
        history=_history(where, row.get("history")),
        reference_contexts=contexts,
        reference_answer=answer,
        expected_mode=mode,
        tags=list(row.get("tags") or []),
    )


def _redflag_item(where: str, row: dict, split: str | None = None) -> RedFlagItem:
    """One labelled message; `split` given (an author's name for author batches) replaces the row's."""
    if not isinstance(row.get("label"), bool):
        raise DatasetError(f"{where}: 'label' must be true or false")
    if split is None and row.get("split") not in SPLITS:
        raise DatasetError(f"{where}: 'split' must be one of {', '.join(SPLITS)}")
    category = row.get("category")
    if row["label"] and not isinstance(category, str):
        raise DatasetError(f"{where}: a red flag (label true) needs its 'category'")
    return RedFlagItem(
        id=_require_str(where, row, "id"),
        text=_require_str(where, row, "text"),
        label=row["label"],
        category=category,
        kind=str(row.get("kind") or "unspecified"),
        split=split or row["split"],
        history=_history(where, row.get("history")),
    )


def _load(path: Path, make) -> Dataset:
    sha, rows = _lines(path)
    items, seen = [], set()
    for number, row in rows:
        item = make(f"{path}:{number}", row)
        if item.id in seen:
            raise DatasetError(f"{path}:{number}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return Dataset(path=path, sha256=sha, items=items)


def load_qa(path: Path) -> Dataset:
    return _load(path, _qa_item)


def load_redflag(path: Path) -> Dataset:
    return _load(path, _redflag_item)


def quick_subset(items: list, size: int) -> list:
    """An evenly spaced, deterministic subset, so `--quick` covers every part of an ordered dataset."""
    if len(items) <= size:
        return list(items)
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]
