"""Follow-up questions without an LLM: which query texts to retrieve with, and how much each counts.

"And how is that confirmed?" means nothing alone. What "that" is lives in the conversation: usually in the
previous *answer* (after "commonest cause of pain after VP?" → "A new compression fracture at an adjacent
level.", "how do we confirm it?" is about the new fracture, not about pain after VP), sometimes in the user
turn that named the topic. So a leaning question gets three query texts, fused like any others:

1. the question as asked;
2. the user turns it leans on joined with it (walking back past turns that lean themselves);
3. the question *resolved*: "the second one" / "the last one" / "the latter" replaced by that item of the
   previous answer's list ("Bisphosphonates, denosumab and teriparatide." → "denosumab"), or else the
   question followed by the head of the previous answer (the entity it named) and the user turn it answered.

The resolved text is also what the composer ranks sentences against, so "how long can each of them be used
for?" looks for durations of the drugs just named. Texts 2 and 3 weigh up when the question leans on the
conversation (a pronoun such as "it"/"that"/"those", an ordinal reference, a continuation such as "and …",
"what about …", or fewer than four content words) and down otherwise, so a self-contained new question is not
dragged back to the old topic. Leaning cues beyond pronouns: "ones", "instead", "though", "afterwards",
"in the meantime"; text-speak "n"/"&" for "and"; an acknowledgement ("ok and …", "thx. and …") is skipped
before the continuation is looked for. Deterministic, so tests can rely on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.sentences import split_sentences
from service.markers import strip_markers
from service.models import Turn
from service.text import content_terms, words

# "which ones", "what if … instead?", "how recent is recent though?", "… afterwards?", "… in the meantime?"
# point back as surely as a pronoun does
ANAPHORA = frozenset("it its this that these those they them their such same ones instead though afterwards "
                     "meantime".split())
# "n"/"&" are text-speak for "and" ("n if warfarin instead?")
CONTINUATIONS = ("and ", "also ", "what about", "how about", "but ", "so ", "then ", "or ", "n ", "& ")
# an acknowledgement before the question ("ok and …", "thx. and …") is not where it starts
ACKNOWLEDGEMENT = re.compile(r"^(?:ok(?:ay)?|thanks|thank you|thx|ta|right|great|cool|sure)\b[\s,.!:;-]*",
                             re.IGNORECASE)
SHORT_QUESTION_TERMS = 4  # content words; fewer than this rarely says what the question is about
JOINED_WEIGHT_LEANING = 1.5
JOINED_WEIGHT_STANDALONE = 0.35
RESOLVED_WEIGHT_LEANING = 1.0
RESOLVED_WEIGHT_ORDINAL = 2.5  # "the second one" resolved to a name is the clearest text there is
ANSWER_HEAD_WORDS = 12  # the previous answer's first words name its entity; the rest is detail

ORDINALS = {"first": 0, "former": 0, "second": 1, "third": 2, "fourth": 3, "last": -1, "latter": -1,
            "final": -1}
# "the second one", "the last option", "the third — …", "the latter is …": an ordinal that is a noun phrase of
# its own, followed by a pause or a verb; "the first hour", "the first subcutaneous dose" are not references
ORDINAL_REF = re.compile(
    r"\bthe\s+(first|second|third|fourth|last|final|former|latter)"
    r"(?:\s+(?:one|option|drug|agent|test|thing|choice)\b(?![-\w])"  # "the second one …": always a reference
    r"|\b(?![-\w])(?=\s*(?:$|[-\u2013\u2014,.;:?!)]|(?:is|was|does|do|has|have|had|can|could|should|would|"
    r"will|works?|needs?|means?|of them|mentioned|you|they|still|also|then)\b)))",  # a bare ordinal: a pause
    re.IGNORECASE,
)
LIST_LINE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+(.+)$", re.MULTILINE)
ITEM_SPLIT = re.compile(r"\s*(?:,|;|\(|\)|\bor\b|\band\b|\bplus\b|/)\s*", re.IGNORECASE)
# An enumerated item is a name, not a clause: it does not start with a verb form or a function word.
NOT_AN_ITEM = re.compile(
    r"^(?:followed|then|titrated|given|used|started|if|when|with|for|as|at|in|to|by|is|are|was|be|it|"
    r"which|that|since|because|but|no|not|both|either|each|every|all|any)\b|^\w+ed\b",
    re.IGNORECASE,
)
CLAUSE_BREAK = re.compile(r"\s*(?:;|:|\s[\u2013\u2014-]\s)\s*")
ENUMERATION = re.compile(r"\b(?:include|includes|including|such as|namely|options are|choices are)\s+",
                         re.IGNORECASE)
ITEM_TAIL = re.compile(r"\s+(?:for|at|in|with|to|from|up|as|if|when|which|that|is|are|can|may|should)\b.*$",
                       re.IGNORECASE)


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


def previous_answer(history: list[Turn]) -> str:
    """The latest assistant turn, `[n]` markers removed ("" when there is none)."""
    for turn in reversed(history):
        if turn.role == "assistant" and turn.content.strip():
            return strip_markers(turn.content)
    return ""


def answer_head(answer: str, max_words: int = ANSWER_HEAD_WORDS) -> str:
    """The previous answer's first sentence (its entity), at most `max_words` words."""
    first = next(iter(split_sentences(answer)), "")
    return " ".join(first.split()[:max_words])


def listed_items(answer: str) -> list[str]:
    """The items the previous answer enumerated: its list lines, or the names in its first sentence
    ("Teriparatide or abaloparatide for up to 2 years, or romosozumab for 12 months" → three drugs)."""
    answer = strip_markers(answer)
    lines = [m.group(1).strip() for m in LIST_LINE.finditer(answer)]
    if len(lines) >= 2:
        return lines
    # the first clause of the first sentence that enumerates: "X should be started; options include A, B and
    # C" names A, B and C; "A and B — both need …" names A and B
    for clause in CLAUSE_BREAK.split(answer_head(answer, 60).rstrip(".")):
        markers = list(ENUMERATION.finditer(clause))
        items = []
        for part in ITEM_SPLIT.split(clause[markers[-1].end():] if markers else clause):
            part = ITEM_TAIL.sub("", part.strip(" .:—-"))
            if part and not NOT_AN_ITEM.match(part) and len(part.split()) <= 5:
                items.append(part)
        if len(items) >= 2:
            return items
    return []


def ordinal_item(question: str, answer: str) -> tuple[re.Match[str], str] | None:
    """("the second one" in the question, the second item of the previous answer), if both exist."""
    match = ORDINAL_REF.search(question)
    if not match:
        return None
    items = listed_items(answer)
    index = ORDINALS[match.group(1).lower()]
    if not items or index >= len(items):
        return None
    return match, items[index]


def depends_on_context(question: str) -> bool:
    """Short, or opens with a continuation, or points back with a pronoun, determiner or ordinal."""
    lowered = ACKNOWLEDGEMENT.sub("", question.strip().lower())
    if lowered.startswith(CONTINUATIONS):
        return True
    if len(content_terms(question)) < SHORT_QUESTION_TERMS:
        return True
    if ORDINAL_REF.search(lowered) and re.search(r"\b(?:one|latter|former)\b", lowered):
        return True
    return any(w in ANAPHORA for w in words(lowered))


def resolved_question(question: str, history: list[Turn]) -> str:
    """The question with what it points back to made explicit (itself when nothing in history helps).

    An ordinal reference becomes the item it names; any other leaning question is followed by the previous
    answer's head and the user turns it leans on, so its content words name the entity.
    """
    question = question.strip()
    if not history or not depends_on_context(question):
        return question
    answer = previous_answer(history)
    found = ordinal_item(question, answer) if answer else None
    if found:
        match, item = found
        return f"{question[: match.start()]}{item}{question[match.end():]}"
    context = context_turns(question, history)
    parts = [question, answer_head(answer), *reversed(context)]
    return " ".join(p for p in parts if p)


def query_texts(question: str, history: list[Turn]) -> list[QueryText]:
    """The texts to retrieve with, best first; the first is always the question as asked."""
    question = question.strip()
    context = context_turns(question, history)
    answer = previous_answer(history)
    if not context and not answer:
        return [QueryText(question, 1.0)]
    leaning = depends_on_context(question)
    texts = [QueryText(question, 1.0)]
    if context:
        joined = " ".join([*context, question])
        texts.append(QueryText(joined, JOINED_WEIGHT_LEANING if leaning else JOINED_WEIGHT_STANDALONE))
    if leaning:
        resolved = resolved_question(question, history)
        if resolved != question and all(resolved != t.text for t in texts):
            ordinal = answer and ordinal_item(question, answer) is not None
            texts.append(QueryText(resolved, RESOLVED_WEIGHT_ORDINAL if ordinal else RESOLVED_WEIGHT_LEANING))
    return texts
