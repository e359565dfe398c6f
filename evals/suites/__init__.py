"""Evaluation suites: each drives the service over HTTP for one dataset and returns a `SuiteResult`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Track = Callable[[Iterable[T], str, int], Iterable[T]]


def no_progress(items: Iterable[T], label: str, total: int) -> Iterable[T]:
    return items


@dataclass
class SuiteResult:
    """Flat metrics (name → value; None = could not be computed), what did not run and why, and details.

    Metric names are dotted paths ("retrieval.section.hit@5") so `--fail-under` and `--compare` address them.
    """

    name: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
