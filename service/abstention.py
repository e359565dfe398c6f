"""When to say "the content does not cover this": every threshold of the decision, in one place.

Why more than the two dense cosines: near-domain questions ("usual dose of ibandronate?", "enoxaparin for VTE
prophylaxis on the spinal ward?") are as close to an osteoporosis or vertebroplasty passage in MiniLM space as
many in-scope questions, so one cut on cosine either refused answerable questions (36 of 97 on the first
look at author b1) or answered questions the content does not cover. What such questions have in common is a
specialised word — a drug, a disease, a procedure — that the corpus never uses. So the evidence is:

* support: best passage cosine + best sentence cosine (as before; the joined follow-up text counts only when
  the question leans on it);
* unknown specialised words: question words of ≥ 5 letters that the corpus does not contain (nor a one-edit
  variant, nor a longer word they begin: typos and "kypho" are not unknown), that are not clinical shorthand
  from the lexicon, and that the model's WordPiece vocabulary splits into ≥ 3 pieces (everyday words such
  as "tomorrow" or "teach" are single pieces; "ibandronate" is four).

The rule: abstain when support < SUPPORT_MIN, or when the question has an unknown specialised word and
support < SUPPORT_WITH_UNKNOWN (a strong match still answers: "methadone" in a question whose passage is
about alcohol-use-disorder drugs). Calibrated on authors b1 and b2 (docs/answering.md).

The learned decision (issue 13, sixth round): when the request's support signals were computed
(service/abstention_features.py) and weights are shipped (service/data/abstention.json), a logistic
regression over those signals decides instead (service/abstention_model.py); without the weights file the
rule above decides, as before.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from service.lexicon import lexicon
from service.text import STOPWORDS, content_terms, words

SUPPORT_MIN = 0.85  # below this nothing in the corpus is close to the question
SUPPORT_WITH_UNKNOWN = 1.25  # with a specialised word the corpus never uses, the match must be strong
SPECIALISED_MIN_LETTERS = 5
SPECIALISED_MIN_PIECES = 3  # WordPiece pieces; everyday English words are one or two


@dataclass(frozen=True)
class Evidence:
    """How well the retrieved content matches the question (see module docstring)."""

    passage_sim: float
    sentence_sim: float
    unknown_words: tuple[str, ...] = ()
    signals: tuple[float, ...] = ()  # service/abstention_features.FEATURES, when computed for the request

    @property
    def support(self) -> float:
        return self.passage_sim + self.sentence_sim

    @property
    def covered_by_rule(self) -> bool:
        """The hand-set rule's decision (the fallback without shipped weights)."""
        if self.support < SUPPORT_MIN:
            return False
        return not (self.unknown_words and self.support < SUPPORT_WITH_UNKNOWN)

    @property
    def sufficient(self) -> bool:
        """Answer (True) or abstain: the shipped learned decision over the signals when both exist, else the
        rule."""
        from service.abstention_model import shipped_model  # lazy: its features module imports the index

        model = shipped_model() if self.signals else None
        if model is None:
            return self.covered_by_rule
        return model.covers(np.asarray(self.signals, dtype=np.float64))


def deletions(word: str) -> set[str]:
    """The word with one letter removed, every way: one-edit typo matching without scanning the vocabulary."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True)
class Vocabulary:
    """The corpus's own words, for "does the corpus ever say this?" (built once per snapshot)."""

    words: frozenset[str]
    deleted: frozenset[str]  # one-letter deletions of the corpus words of ≥ SPECIALISED_MIN_LETTERS
    ordered: tuple[str, ...]  # sorted, for prefix look-ups
    stems: frozenset[str] = frozenset()  # stemmed content words of the corpus

    @classmethod
    def build(cls, texts: Iterable[str]) -> Vocabulary:
        vocab: set[str] = set()
        for text in texts:
            vocab.update(words(text))
        deleted: set[str] = set()
        for word in vocab:
            if len(word) >= SPECIALISED_MIN_LETTERS:
                deleted |= deletions(word)
        stems = frozenset(content_terms(" ".join(vocab)))
        return cls(frozenset(vocab), frozenset(deleted), tuple(sorted(vocab)), stems)

    def knows(self, word: str) -> bool:
        """In the corpus, one edit away from a corpus word (a letter added, dropped, changed or swapped), the
        start of one ("kypho", "pyelo"), or the same stem ("anticoagulating")."""
        if word in self.words or word in self.deleted:
            return True
        if any(d in self.words or d in self.deleted for d in deletions(word)):
            return True
        if any(stem in self.stems for stem in content_terms(word)):
            return True
        i = bisect.bisect_left(self.ordered, word)
        return i < len(self.ordered) and self.ordered[i].startswith(word)


# A capitalised word after a title or "pt"/"patient" is a person's name ("Mrs Zebrasentinel 84y asks how
# often cement leaks"): a rare surname looks to the checks below like an unknown drug and would refuse it.
_NAMED = re.compile(r"\b(?i:mr|mrs|ms|miss|mx|dr|prof|pt|patient)\.?\s+([A-Z][a-z'\u2019-]+)")


def person_names(question: str) -> frozenset[str]:
    """Lower-cased words the question uses as a person's name (after a title, "pt" or "patient")."""
    return frozenset(w for name in _NAMED.findall(question) for w in words(name))


def unknown_specialised(question: str, vocab: Vocabulary, pieces: Callable[[str], int]) -> tuple[str, ...]:
    """The question's specialised words the corpus never uses (hyphenated words are judged by their parts;
    a person's name is not one)."""
    shorthand = lexicon()
    names = person_names(question)
    found: list[str] = []
    for token in dict.fromkeys(words(question)):
        for word in token.split("-"):
            if (
                len(word) < SPECIALISED_MIN_LETTERS
                or word in STOPWORDS
                or word in names
                or word in shorthand
                or any(c.isdigit() for c in word)
                or vocab.knows(word)
                or pieces(word) < SPECIALISED_MIN_PIECES
            ):
                continue
            found.append(word)
    return tuple(found)
