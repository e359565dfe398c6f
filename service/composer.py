"""The extractive composer: decide which passage answers, then which of its sentences, then what else.

Why passage first: the old sentence-level MMR over all retrieved passages picked the *topic* sentence of
several passages ("Vital signs should be monitored to detect signs of pulmonary embolism.") and dropped the
sentence after it that held the answer ("Tachycardia, hypoxia and chest pain are the signs …"). Guideline
passages are written as short arguments; the answer usually sits in the best passage, next to the sentence
that matches the question best. So:

1. Units. A passage's sentences (verbatim spans stored at ingest); a lead-in ending in ":" is kept together
   with the list items that follow it (each item quoted as its own piece, even items too short to have been
   stored as sentences): a lead-in without its items, or items without their lead-in, answer nothing.
2. Relevance of a unit = cosine(query, the sentence's standalone vector: ingest/standalone.py) + weight ×
   IDF-weighted share of the question's content words in it + a bonus when it holds the *kind* of thing
   asked for (service/question_kind.py: a number with a unit for "how many/what dose/how long", a list for
   "which drugs/criteria", an action for "what next").
3. The main passage is the one among the top hits that the learned chooser scores highest
   (service/passage_choice.py; the service passes the shipped one), or, without a chooser, the one whose
   best unit, plus a small prior for its retrieval rank, is best. Its
   relevant units are quoted in document order: the best unit, the one right after it (where guidelines
   put the figure, the list or the reason), and any other unit close to the best, within a word budget —
   or, when the whole passage fits the budget, all of it: the sentences beside the best-matching one are
   where the criteria, the figure or the caveat the question asked about tend to be ("TA279 recommends …
   only for patients who meet both criteria" scored above the two sentences that state the criteria; on
   the tuning authors quoting the whole passage added 6 of 582 complete answers and lost none). When the
   section goes on in further stored chunks (a section longer than one chunk; the service appends them to
   the hits with score 0, service/answering.py `with_section_siblings`) and the whole section fits, the
   rest of it is quoted too, each piece cited to its own chunk (7 more of 582; none lost). Such appended
   chunks are never quoted on their own. When the quoted passage ends with a lead-in (":") whose items
   are stored as the next chunk, under a subheading of its own, those items follow it within the budget.
4. A top hit from a sibling section of the main passage's (same document, same parent heading) adds its
   best unit when that is within SIBLING_MARGIN of the main passage's best and the answer still has room:
   guidelines split a list (the red flags after vertebroplasty, the options for a drug, the criteria) into
   one subsection per item, and a question asking for the list needs one sentence from each. The limits
   were set before measuring (3 siblings, the main margin): on the tuning authors it added 10 complete
   answers of 582 and lost 2 (411 → 419; median words 103 → 110); the margin was widened to 0.4 in the
   eleventh session, measured on eighteen tuning authors with step 5's relevance bar.
   Making room by dropping the main passage's weaker units instead lost more than it gained (406).
5. Other passages add a unit only if it covers question words (facets) the answer does not have yet.

Every piece is a verbatim substring of its passage and is cited by the caller.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from service.index import Snapshot
from service.passage_choice import PassageChooser, passage_features
from service.question_kind import QuestionKind, kind_bonus
from service.retrieval import Hit
from service.text import content_terms

LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
LEXICAL_WEIGHT = 0.30  # IDF-weighted share of the question's content words in the unit
PASSAGE_PRIOR = 0.25  # how much the passage's fused retrieval score adds when choosing the main passage
MAIN_MARGIN = 0.25  # units of the main passage within this of its best unit are quoted too
# the whole answer: a clinician reads it on a phone between patients. 120 until the tenth session; the issue
# bounds the median at 120 words, and 140 keeps it at about 105 (docs/answering.md, "tenth session")
WORD_BUDGET = 140
MAIN_CANDIDATES = 3  # the main passage is chosen among the top hits only
EXTRA_MIN_NEW_TERMS = 1  # a unit from another passage must add at least this many question words
# … and be at least this relevant, relative to the best unit (best - x); 0.15 until the eleventh session, when
# the eighteen tuning authors measured 0.35 (with SIBLING_MARGIN 0.4) at +12 of 1,577 (docs/answering.md)
EXTRA_MIN_RELEVANCE = 0.35
MAX_EXTRA_UNITS = 2
SIBLING_UNITS = 3  # at most this many sibling sections' best units (step 4)
SIBLING_MARGIN = 0.4  # … each within this of the main passage's best unit (0.25 until the eleventh session)
MAX_LIST_ITEMS = 12
OWN_WORD_WEIGHT = 4.0  # a follow-up's own words count double against the words of what it points back to
SAID_COVERAGE = 0.7  # a unit whose content words are this much in the conversation so far repeats it
SAID_DISCOUNT = 0.10  # … is never quoted, and counts this much less when choosing the main passage


@dataclass
class Unit:
    """What a fact needs kept together: one sentence, or a lead-in and its list items."""

    hit: int
    pieces: list[str]
    rows: list[int] = field(default_factory=list)  # stored sentence rows covered (vectors, terms)
    position: int = 0  # order within the passage
    is_list: bool = False
    relevance: float = -math.inf
    said: bool = False  # repeats the conversation so far: it still marks its passage as on topic, unquoted

    @property
    def text(self) -> str:
        return " ".join(self.pieces)

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Piece:
    """One quoted piece of the answer, verbatim from the passage of hit `hit`."""

    text: str
    hit: int


def passage_units(snapshot: Snapshot, hit_index: int, row: int) -> list[Unit]:
    """The units of one passage, in document order."""
    text = snapshot.texts[row]
    spans = snapshot.metas[row].get("sentence_spans") or []
    sentence_rows = list(snapshot.sentences_of(row))
    stored = list(zip(spans, sentence_rows, strict=False))
    units: list[Unit] = []
    open_list: Unit | None = None
    offset = 0
    last_line_end = -2  # end of the last line that held a stored sentence
    for line in text.split("\n"):
        start, end = offset, offset + len(line)
        offset = end + 1
        inside = [(a, b, r) for (a, b), r in stored if a >= start and b <= end]
        item = LIST_ITEM.match(line)
        if item and open_list is None and units and last_line_end == start - 1:
            # Items right after a lead-in that ends in "." ("The service works through these steps."): the
            # last sentence of the line before opens the list.
            open_list = units[-1]
            open_list.is_list = True
        if item and open_list is not None:
            body = line[item.end():].strip()
            if body and len(open_list.pieces) <= MAX_LIST_ITEMS:
                open_list.pieces.append(body)
                open_list.rows.extend(r for _, _, r in inside)
            continue
        open_list = None
        if inside:
            last_line_end = end
        for a, b, r in inside:
            sentence = text[a:b].strip()
            unit = Unit(hit_index, [sentence], [r], position=len(units))
            units.append(unit)
            if sentence.endswith(":"):
                unit.is_list = True
                open_list = unit
        if not inside and item:  # a list item without a lead-in: quote it alone if it says enough
            body = line[item.end():].strip()
            if len(body.split()) >= 3:
                units.append(Unit(hit_index, [body], [], position=len(units)))
    # a lead-in whose items are gone, unless they are the next chunk's (`_continuation_units` adds them)
    continued = snapshot.continuation_row(row) is not None
    return [u for u in units if not (u.is_list and len(u.pieces) == 1)
            or (continued and u is units[-1] and u.text.rstrip().endswith(":"))]


def _idf_weights(snapshot: Snapshot, terms: list[str]) -> dict[str, float]:
    n = max(snapshot.size, 1)
    return {t: math.log(1.0 + n / (snapshot.term_df.get(t, 0) + 0.5)) for t in terms}


def _unit_terms(snapshot: Snapshot, unit: Unit) -> frozenset[str]:
    if unit.rows and not unit.is_list:
        return snapshot.sent_terms[unit.rows[0]]
    return frozenset(content_terms(unit.text))


def repeats(terms: frozenset[str], said: frozenset[str]) -> bool:
    """Are most of a unit's content words already in the conversation (it says nothing new)?"""
    return bool(said) and len(terms) >= 3 and len(terms & said) >= SAID_COVERAGE * len(terms)


def score_units(
    snapshot: Snapshot,
    units: list[Unit],
    query_vec: np.ndarray,
    idf: dict[str, float],
    kind: QuestionKind,
    said: frozenset[str] = frozenset(),
) -> None:
    """Set each unit's relevance (see module docstring, step 2)."""
    total = sum(idf.values()) or 1.0
    for unit in units:
        dense = float((snapshot.relevance_vecs[unit.rows] @ query_vec).max()) if unit.rows else 0.0
        terms = _unit_terms(snapshot, unit)
        lexical = sum(w for t, w in idf.items() if t in terms) / total
        unit.relevance = dense + LEXICAL_WEIGHT * lexical + kind_bonus(kind, unit.text, unit.is_list)
        unit.said = repeats(terms, said)


@dataclass
class Scored:
    """A question's retrieved passages cut into units, each unit scored (step 2), and the question's words."""

    per_hit: list[list[Unit]]
    q_terms: list[str]
    idf: dict[str, float]

    def best_unit(self, h: int) -> float:
        """Passage `h`'s best unit, a unit that repeats the conversation counting SAID_DISCOUNT less."""
        values = (u.relevance - (SAID_DISCOUNT if u.said else 0.0) for u in self.per_hit[h])
        return max(values, default=-math.inf)


def scored_units(
    snapshot: Snapshot,
    hits: list[Hit],
    query_vec: np.ndarray,
    question: str,
    kind: QuestionKind,
    *,
    own_words: str = "",
    said: str = "",
) -> Scored:
    """Steps 1 and 2 for every retrieved passage (see `compose` for the arguments)."""
    q_terms = list(dict.fromkeys(content_terms(question)))
    idf = _idf_weights(snapshot, q_terms)
    own = set(content_terms(own_words))
    idf = {t: w * (OWN_WORD_WEIGHT if t in own else 1.0) for t, w in idf.items()}
    said_terms = frozenset(content_terms(said))
    per_hit = [passage_units(snapshot, h, hit.row) for h, hit in enumerate(hits)]
    for units in per_hit:
        score_units(snapshot, units, query_vec, idf, kind, said_terms)
    return Scored(per_hit, q_terms, idf)


def main_candidates(scored: Scored, hits: list[Hit], chooser: PassageChooser | None) -> list[int]:
    """The hits the main passage is chosen among: the top ones that have a unit to quote."""
    depth = chooser.candidates if chooser is not None else MAIN_CANDIDATES
    return [h for h in range(min(depth, len(hits))) if scored.per_hit[h]]


def candidate_features(
    snapshot: Snapshot, hits: list[Hit], scored: Scored, candidates: list[int], query_vec: np.ndarray,
    kind: QuestionKind, bm25: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The learned chooser's features of each candidate (service/passage_choice.py)."""
    return passage_features(snapshot, hits, candidates, scored.per_hit,
                            [scored.best_unit(h) for h in candidates], query_vec, scored.idf, kind, bm25)


def _second_passage_unit(units: list[Unit], chosen: list[Unit], best: Unit, max_words: int) -> Unit | None:
    """The runner-up passage's best unit, when the chooser could hardly tell the two passages apart: quoted
    if it has at most `max_words` words and says something new; room is made within the budget by dropping
    the main passage's least relevant units other than its best (`chosen` is changed in place)."""
    fresh = [u for u in units if not u.said]
    if not fresh:
        return None
    second = max(fresh, key=lambda u: u.relevance)
    if second.words > max_words or second.text in {u.text for u in chosen}:
        return None
    used = sum(u.words for u in chosen)
    while used + second.words > WORD_BUDGET and len(chosen) > 1:
        drop = min((u for u in chosen if u is not best), key=lambda u: u.relevance)
        chosen.remove(drop)
        used -= drop.words
    return second if used + second.words <= WORD_BUDGET else None


def _parent(section: str) -> str:
    return section.rsplit(" › ", 1)[0]


def _sibling_units(snapshot: Snapshot, hits: list[Hit], per_hit: list[list[Unit]], main: int, best: Unit,
                   taken: list[Unit]) -> list[Unit]:
    """The best unit of each top hit in a sibling section of the main passage's (same document, same parent
    heading, another section): guidelines split a list of red flags, options or criteria into one
    subsection per item, and a question asking for the list needs one sentence from each."""
    meta = snapshot.metas[hits[main].row]
    doc, section = meta.get("doc_id"), meta.get("section", "")
    if " › " not in section:
        return []
    seen = {u.text for u in taken}
    out: list[Unit] = []
    for h, units in enumerate(per_hit):
        m = snapshot.metas[hits[h].row]
        if h == main or hits[h].score <= 0 or m.get("doc_id") != doc:
            continue
        other = m.get("section", "")
        if other == section or _parent(other) != _parent(section):
            continue
        fresh = [u for u in units if not u.said and u.text not in seen]
        if not fresh:
            continue
        top = max(fresh, key=lambda u: u.relevance)
        if top.relevance < best.relevance - SIBLING_MARGIN:
            continue
        out.append(top)
        seen.add(top.text)
        if len(out) == SIBLING_UNITS:
            break
    return out


def _continuation_units(snapshot: Snapshot, hits: list[Hit], per_hit: list[list[Unit]], main: int,
                        chosen: list[Unit], room: int) -> list[Unit]:
    """The items of a lead-in the main passage ends with, when the answer quotes that lead-in and they are
    stored in the next chunk (`Snapshot.continuation_row`; service/answering.py appends it to the hits): in
    document order, as many as fit in `room` words. A lead-in without its items answers nothing: when none
    fits, a lead-in quoted alone is taken out of `chosen`."""
    units = per_hit[main]
    if not units or units[-1] not in chosen or not units[-1].text.rstrip().endswith(":"):
        return []
    row = snapshot.continuation_row(hits[main].row)
    at = None if row is None else next((h for h, hit in enumerate(hits) if hit.row == row), None)
    if at is None:
        return []
    out: list[Unit] = []
    for unit in per_hit[at]:
        if unit in chosen or unit.words > room:
            break
        out.append(unit)
        room -= unit.words
    if not out and len(units[-1].pieces) == 1 and len(chosen) > 1:
        chosen.remove(units[-1])  # no room for its items: the lead-in alone says nothing
    return out


def compose(
    snapshot: Snapshot,
    hits: list[Hit],
    query_vec: np.ndarray,
    question: str,
    kind: QuestionKind,
    *,
    own_words: str = "",
    said: str = "",
    chooser: PassageChooser | None = None,
    bm25: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Piece]:
    """The answer's pieces in reading order: main passage first, then facets from others.

    For a follow-up, `question` is the resolved text (service/followup.py), `own_words` the question as
    asked (its words count double) and `said` the conversation so far (units repeating it are demoted).
    With a `chooser` (service/passage_choice.py) the main passage is the one it scores highest among its
    candidates (`bm25`: retrieval's BM25 ranking of the question, two of its features); without one, the
    rule of the module docstring (step 3)."""
    scored = scored_units(snapshot, hits, query_vec, question, kind, own_words=own_words, said=said)
    per_hit, q_terms = scored.per_hit, scored.q_terms
    top_score = max((hit.score for hit in hits), default=1.0) or 1.0

    def passage_value(h: int) -> float:
        return scored.best_unit(h) + PASSAGE_PRIOR * hits[h].score / top_score

    candidates = main_candidates(scored, hits, chooser)
    if not candidates:
        return []
    runner_up: int | None = None
    if chooser is not None:
        features = candidate_features(snapshot, hits, scored, candidates, query_vec, kind, bm25)
        values = chooser.scores(features)
        order = np.argsort(-values, kind="stable")
        main = candidates[int(order[0])]
        if len(order) > 1 and values[order[0]] - values[order[1]] < chooser.second_margin:
            runner_up = candidates[int(order[1])]
    else:
        main = max(candidates, key=passage_value)
    units = [u for u in per_hit[main] if not u.said] or per_hit[main]
    best = max(units, key=lambda u: u.relevance)
    used = sum(u.words for u in units)
    if used <= WORD_BUDGET:  # the whole passage fits: quote it whole (step 3) …
        chosen = list(units)
        siblings = set(snapshot.section_rows(hits[main].row))
        section = [u for h, us in enumerate(per_hit) if hits[h].row in siblings for u in us if not u.said]
        if section and used + sum(u.words for u in section) <= WORD_BUDGET:  # … and the rest of its section
            chosen, used = chosen + section, used + sum(u.words for u in section)
    else:  # its relevant units: the best, the one after it, and those close to the best
        while best.is_list and best.words > WORD_BUDGET and len(best.pieces) > 2:
            best.pieces.pop()  # a very long list: its first items, within the budget
        chosen = [best]
        used = best.words
        following = [u for u in units if u.position == best.position + 1]
        rest = sorted((u for u in units if u is not best), key=lambda u: -u.relevance)
        for unit in following + rest:
            if unit in chosen:
                continue
            if unit not in following and unit.relevance < best.relevance - MAIN_MARGIN:
                continue
            if used + unit.words > WORD_BUDGET:
                continue
            chosen.append(unit)
            used += unit.words
    chosen += _continuation_units(snapshot, hits, per_hit, main, chosen, WORD_BUDGET - used)
    used = sum(u.words for u in chosen)
    extras: list[Unit] = []
    if runner_up is not None and chooser is not None:
        second = _second_passage_unit(per_hit[runner_up], chosen, best, chooser.second_words)
        if second is not None:
            extras.append(second)
            used = sum(u.words for u in chosen) + second.words
    if SIBLING_UNITS:  # step 4
        for unit in _sibling_units(snapshot, hits, per_hit, main, best, chosen + extras):
            if sum(u.words for u in chosen + extras) + unit.words <= WORD_BUDGET:
                extras.append(unit)
        used = sum(u.words for u in chosen + extras)
    chosen.sort(key=lambda u: (hits[u.hit].row, u.position))

    covered = set().union(*(_unit_terms(snapshot, u) for u in chosen + extras))
    seen_texts = {u.text for u in chosen + extras}
    others = sorted(
        (u for h, us in enumerate(per_hit) if h != main and hits[h].score > 0
         for u in us if not u.said and u not in extras and u not in chosen),
        key=lambda u: -u.relevance,
    )
    for unit in others:
        if len(extras) == MAX_EXTRA_UNITS:
            break
        if unit.relevance < best.relevance - EXTRA_MIN_RELEVANCE or unit.text in seen_texts:
            continue
        terms = _unit_terms(snapshot, unit)
        new = [t for t in q_terms if t in terms and t not in covered]
        if len(new) < EXTRA_MIN_NEW_TERMS or used + unit.words > WORD_BUDGET:
            continue
        extras.append(unit)
        covered |= terms
        seen_texts.add(unit.text)
        used += unit.words
    extras.sort(key=lambda u: (u.hit, u.position))
    return [Piece(text, u.hit) for u in chosen + extras for text in u.pieces]
