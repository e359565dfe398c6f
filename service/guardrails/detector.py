"""The rule layer as one pure function: text in, verdict (or why not) out.

normalise -> lexical and numeric findings -> per-finding context modifiers -> question framing ->
combinations and category. Deterministic, no model, well under a millisecond per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from .combine import Verdict, resolve
from .context import Context, Modifiers
from .findings import Finding
from .framing import NAMED_DIAGNOSES, Framing, frame, stated_as_fact
from .lexical import lexical_findings
from .literals import NORMALISED
from .normalise import normalise
from .topic import general_question
from .vitals import vital_findings

NORMALISED.prepare()  # every rule module above has registered its patterns: build the literal scan once


@dataclass(frozen=True)
class RuleResult:
    """What the rules saw: the verdict if any, and enough detail to explain a miss or a suppression."""

    normalised: str
    verdict: Verdict | None
    findings: list[tuple[Finding, Modifiers]] = field(default_factory=list)
    framing: Framing | None = None
    suppressed_by: str | None = None

    @property
    def uncertain(self) -> bool:
        """Current, unmodified clinical findings were seen but did not add up to a flag (an incomplete
        combination such as pain without a recognised "uncontrolled" phrase): the band where a second,
        independent opinion (exemplars) is worth its cost. Findings set aside by an explicit cue (negated,
        past, hypothetical, someone else's, teaching or managed framing) are not re-opened: the sentence
        embedder cannot read those cues, so letting it overrule them only adds false alarms."""
        if self.verdict is not None or self.suppressed_by is not None:
            return False
        return any(mods.active for _, mods in self.findings)


MAX_JUDGED = 40  # findings per piece whose negation/history/... context is analysed
MAX_CHUNK = 800  # characters; long notes are read in sentence-aligned pieces so the cost stays linear


def chunks(text: str, size: int = MAX_CHUNK) -> list[str]:
    """Sentence-aligned pieces of at most `size` characters (a longer sentence is cut at spaces)."""
    pieces: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?\n])\s+", text):
        while len(sentence) > size:
            cut = sentence.rfind(" ", size // 2, size)
            cut = cut if cut > 0 else size
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def detect(text: str) -> RuleResult:
    """Run every rule on one piece of text (a question or one user turn); any flagged piece flags it all."""
    if len(text) <= MAX_CHUNK:
        return _detect_piece(text)
    first_seen: RuleResult | None = None
    first: RuleResult | None = None
    for piece in chunks(text):
        result = _detect_piece(piece)
        if result.verdict:
            return result  # the first flagged piece decides; the rest need not be read
        first = first or result
        if first_seen is None and result.findings:
            first_seen = result
    return first_seen or first or _detect_piece("")


@lru_cache(maxsize=2048)
def _detect_piece(text: str) -> RuleResult:
    """One piece, memoised: a pure function of its text, so a repeated piece (a pasted note sent again
    in the history, a flood of the same words) costs one dictionary look-up."""
    norm = normalise(text)
    found = lexical_findings(norm) + vital_findings(norm)
    if not found:
        return RuleResult(norm, None)
    ctx = Context(norm, found)
    # Bounded work per request: past MAX_JUDGED findings in one piece (no real note has that many), the rest
    # are taken as unmodified, i.e. current. That can only add flags, never hide one: when unsure, flag.
    judged = [(f, ctx.modifiers(f) if i < MAX_JUDGED else Modifiers()) for i, f in enumerate(found)]
    active = [f for f, mods in judged if mods.active]
    abnormal_vital = any(f.is_trigger and f.numeric for f in active)
    triggers = [f for f in active if f.is_trigger]
    diagnosis_only = bool(triggers) and all(
        f.rule in NAMED_DIAGNOSES and stated_as_fact(norm, f.start, f.end) for f in triggers
    )
    framing = frame(norm, abnormal_vital, diagnosis_only, [(f.start, f.end) for f in triggers],
                    general=general_question(norm, active))
    verdict = resolve(active)
    if verdict is None:
        topic_only = general_question(norm, active, triggers_only=False)
        why = "general question" if topic_only else None
        return RuleResult(norm, None, judged, framing, suppressed_by=why)
    if framing.suppresses:
        return RuleResult(norm, None, judged, framing, suppressed_by=framing.suppresses)
    return RuleResult(norm, verdict, judged, framing)
