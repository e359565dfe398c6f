"""Follow-up questions without an LLM: which query texts to retrieve with, and how much each counts.

"And how is that confirmed?" means nothing alone; joined with the previous user turn it names what "that"
is. We retrieve for both texts and fuse them, weighting the joined text up when the question is short or
leans on an earlier turn (a pronoun, "and …", "what about …"), and down when it stands on its own, so a
self-contained new question is not dragged back to the old topic. Deterministic, so tests can rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.models import Turn
from service.text import content_terms, words

ANAPHORA = frozenset("it its this that these those they them their such same".split())
CONTINUATIONS = ("and ", "also ", "what about", "how about", "but ", "so ", "then ", "or ")
SHORT_QUESTION_TERMS = 4  # content words; fewer than this rarely says what the question is about


@dataclass(frozen=True)
class QueryText:
    text: str
    weight: float


def previous_user_turn(question: str, history: list[Turn]) -> str | None:
    """The last user turn before this question (the widget may or may not repeat the question in history)."""
    asked = question.strip().lower()
    for turn in reversed(history):
        if turn.role == "user" and turn.content.strip() and turn.content.strip().lower() != asked:
            return turn.content.strip()
    return None


def depends_on_context(question: str) -> bool:
    """Short, or opens with a continuation, or points back with a pronoun or determiner."""
    lowered = question.strip().lower()
    if lowered.startswith(CONTINUATIONS):
        return True
    if len(content_terms(question)) < SHORT_QUESTION_TERMS:
        return True
    return any(w in ANAPHORA for w in words(lowered))


def query_texts(question: str, history: list[Turn]) -> list[QueryText]:
    """The texts to retrieve with, best first; the first is always the question as asked."""
    question = question.strip()
    previous = previous_user_turn(question, history)
    if previous is None:
        return [QueryText(question, 1.0)]
    joined = f"{previous} {question}"
    weight = 1.5 if depends_on_context(question) else 0.35
    return [QueryText(question, 1.0), QueryText(joined, weight)]
