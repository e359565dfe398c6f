"""Key-fact metric: does the answer say what was asked?

Citations that resolve and are supported say nothing about whether the answer contains the drug, the number
or the action the clinician asked for. Each in-scope question carries the facts a correct answer must state
(patterns written by its author from the source text); an answer is complete when every pattern matches the
answer text (citation markers removed). Reported with the share of facts, median words, false abstentions,
out-of-scope abstention and red-flag banners on ordinary questions, so a composer cannot win by saying more
(words) or by refusing (abstentions).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from service.markers import strip_markers

WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def plain(text: str) -> str:
    """Answer text as a reader sees it, without `[n]` markers (service/markers.py)."""
    return strip_markers(text or "")


def words(text: str) -> int:
    return len(WORD.findall(plain(text)))


@dataclass
class KeyFactRecord:
    """One question's outcome; `facts_found` is None when the question was not answered."""

    id: str
    author: str
    expected_mode: str
    mode: str | None
    n_facts: int
    facts_found: int | None
    words: int
    follow_up: bool
    top_passage_found: int | None = None
    second_corpus: bool = False  # an out-of-scope question asked again of the author's other corpus
    # under a red-flag banner: the facts in the response's `related_answer` (shown collapsed below the
    # emergency guidance), None when there was no banner or no related answer
    related_found: int | None = None

    @property
    def complete(self) -> bool:
        return self.facts_found is not None and self.facts_found == self.n_facts

    @property
    def complete_below_banner(self) -> bool:
        """A banner whose related answer holds every fact: the clinician gets the answer one click down."""
        return self.mode == "red_flag" and self.related_found == self.n_facts


def count_found(patterns: Sequence[re.Pattern[str]], text: str) -> int:
    body = plain(text)
    return sum(bool(p.search(body)) for p in patterns)


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def keyfact_metrics(records: Sequence[KeyFactRecord]) -> dict:
    """All-facts share, fact share, median words, false abstentions, out-of-scope abstention, banners.

    `abstain_rate_out_of_scope_every_corpus`: an out-of-scope question counts as abstained only when every
    corpus it was asked of abstained (records marked `second_corpus` are the second asks; they enter no
    other figure)."""
    again: dict[str, list[KeyFactRecord]] = {}
    for r in records:
        if r.second_corpus:
            again.setdefault(r.id, []).append(r)
    records = [r for r in records if not r.second_corpus]
    inscope = [r for r in records if r.expected_mode == "answer"]
    answered = [r for r in inscope if r.mode in ("extractive", "llm")]
    oos = [r for r in records if r.expected_mode == "abstain"]
    follow = [r for r in inscope if r.follow_up]
    with_top = [r for r in inscope if r.top_passage_found is not None]
    return {
        "n_in_scope": len(inscope),
        "all_facts": _share([r.complete for r in inscope]),
        # the same, counting a banner whose related answer holds every fact (reported beside, never instead)
        "all_facts_with_related_answers": _share([r.complete or r.complete_below_banner for r in inscope]),
        "fact_share": (sum(r.facts_found or 0 for r in inscope) / sum(r.n_facts for r in inscope))
        if inscope else None,
        "median_words": statistics.median([r.words for r in answered]) if answered else None,
        "false_abstentions": sum(r.mode == "abstain" for r in inscope),
        "false_abstention_rate": _share([r.mode == "abstain" for r in inscope]),
        "red_flag_banners": sum(r.mode == "red_flag" for r in records if r.expected_mode != "red_flag"),
        "n_out_of_scope": len(oos),
        "abstain_rate_out_of_scope": _share([r.mode == "abstain" for r in oos]),
        "abstain_rate_out_of_scope_every_corpus": _share(
            [r.mode == "abstain" and all(a.mode == "abstain" for a in again.get(r.id, [])) for r in oos]),
        "n_out_of_scope_asked_twice": sum(r.id in again for r in oos),
        "follow_up_all_facts": _share([r.complete for r in follow]),
        "n_follow_up": len(follow),
        "top_passage_all_facts": _share([r.top_passage_found == r.n_facts for r in with_top]),
    }
