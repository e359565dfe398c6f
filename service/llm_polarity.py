"""Does an answer sentence say the same thing as its passage, or the opposite?

Why clauses: a passage sentence often pairs a claim with its exception ("leakage is found in up to 72% of
cases, although most leaks cause no symptoms"), so polarity is compared clause by clause. Each clause of the
answer sentence is aligned with the passage clause that shares most of its content words (ties broken by
the more specific clause). A clause that negates must align with one that negates. A clause that asserts
must not align with one that negates the same thing, judged by the words within SCOPE tokens of the
negation cue ("seen in 33% of vertebrae and caused no complications" negates complications, not the 33%).
Negation cues are the words that reverse a clinical instruction: not, no, never, avoid, contraindicated,
without, "do not", "-n't" and the like. When the best-aligned passage clauses disagree among themselves,
the sentence is not trusted either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.sentences import split_sentences
from service.text import content_terms

NEGATION_CUES = frozenset(
    "not no never none nor neither without cannot nothing nobody nowhere avoid avoids avoided avoiding "
    "avoidance contraindicated contraindication contraindications unnecessary inappropriate unsafe "
    "unsuitable ineffective absent asymptomatic".split()
)
SCOPE = 4  # words either side of a negation cue that it is taken to negate
TOKEN = re.compile(r"[a-z]+(?:['’][a-z]+)?")
CLAUSE_BREAK = re.compile(
    r"[,;:()\u2013\u2014]|\s(?:although|though|but|whereas|while|however|unless|except|because)\s",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    text: str
    terms: frozenset[str]
    negated: bool
    negated_terms: frozenset[str]  # content terms near a negation cue: what the clause negates


def _is_cue(token: str) -> bool:
    return token in NEGATION_CUES or token.endswith(("n't", "n’t"))


def negated(text: str) -> bool:
    """Whether `text` carries a negation cue (a word from NEGATION_CUES or a "-n't" contraction)."""
    return any(_is_cue(t) for t in TOKEN.findall(text.lower()))


def _negated_terms(text: str) -> frozenset[str]:
    tokens = TOKEN.findall(text.lower())
    near = [" ".join(tokens[max(0, i - SCOPE) : i + SCOPE + 1]) for i, t in enumerate(tokens) if _is_cue(t)]
    return frozenset(content_terms(" ".join(near)))


def clauses(text: str) -> list[Clause]:
    """The clauses of `text` that have content words, each with its stemmed terms and polarity."""
    out: list[Clause] = []
    for sentence in split_sentences(text):
        for piece in CLAUSE_BREAK.split(sentence):
            terms = frozenset(content_terms(piece))
            if terms:
                out.append(Clause(piece.strip(), terms, negated(piece), _negated_terms(piece)))
    return out


def polarity_conflict(sentence: str, passage_clauses: list[Clause]) -> str | None:
    """Why `sentence` contradicts the passage clauses it aligns with, or None when polarities agree."""
    for clause in clauses(sentence):
        ranked: list[tuple[tuple[int, float], Clause]] = []
        for candidate in passage_clauses:
            shared = len(clause.terms & candidate.terms)
            if shared:
                ranked.append(((shared, shared / len(candidate.terms)), candidate))
        if not ranked:
            continue  # nothing to compare with: the support check judges such a clause
        top = max(score for score, _ in ranked)
        best = [candidate for score, candidate in ranked if score == top]
        if any(_disagree(clause, candidate) for candidate in best):
            said, passage = ("negates", "asserts") if clause.negated else ("asserts", "negates")
            return f"{said} what the cited passage {passage}: {best[0].text!r}"
    return None


def _disagree(answer: Clause, passage: Clause) -> bool:
    """The answer negates what the passage does not, or asserts something the passage negates."""
    if answer.negated:
        return not passage.negated
    return passage.negated and bool(answer.terms & passage.negated_terms)
