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


def context_turns(question: str, history: list[Turn], max_turns: int = 3) -> list[str]:
    """Earlier user turns this question may refer to, oldest first: back to the last self-contained one.

    "Is it common?" then "How is it confirmed?" both lean on the turn that named the topic, so we walk back
    past leaning turns (at most `max_turns`). The widget may or may not repeat the question in history.
    """
    asked = question.strip().lower()
    turns: list[str] = []
    for turn in reversed(history):
        text = turn.content.strip()
        if turn.role != "user" or not text or text.lower() == asked:
            continue
        turns.insert(0, text)
        if len(turns) == max_turns or not depends_on_context(text):
            break
    return turns


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
    context = context_turns(question, history)
    if not context:
        return [QueryText(question, 1.0)]
    joined = " ".join([*context, question])
    weight = 1.5 if depends_on_context(question) else 0.35
    return [QueryText(question, 1.0), QueryText(joined, weight)]
