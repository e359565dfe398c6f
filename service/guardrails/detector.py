"""The rule layer as one pure function: text in, verdict (or why not) out.

normalise -> lexical and numeric findings -> per-finding context modifiers -> question framing ->
combinations and category. Deterministic, no model, well under a millisecond per question.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .combine import Verdict, resolve
from .context import Context, Modifiers
from .findings import Finding
from .framing import NAMED_DIAGNOSES, Framing, frame, stated_as_fact
from .normalise import normalise
from .rules import lexical_findings
from .vitals import vital_findings


@dataclass(frozen=True)
class RuleResult:
    """What the rules saw: the verdict if any, and enough detail to explain a miss or a suppression."""

    normalised: str
    verdict: Verdict | None
    findings: list[tuple[Finding, Modifiers]] = field(default_factory=list)
    framing: Framing | None = None
    suppressed_by: str | None = None

    @property
    def alarm_vocabulary(self) -> bool:
        """Any red-flag statement at all, even negated or framed away: worth a second look by exemplars."""
        return bool(self.findings)


def detect(text: str) -> RuleResult:
    """Run every rule on one piece of text (a question or one user turn)."""
    norm = normalise(text)
    found = lexical_findings(norm) + vital_findings(norm)
    if not found:
        return RuleResult(norm, None)
    ctx = Context(norm, found)
    judged = [(f, ctx.modifiers(f)) for f in found]
    active = [f for f, mods in judged if mods.active]
    abnormal_vital = any(f.is_trigger and f.numeric for f in active)
    triggers = [f for f in active if f.is_trigger]
    diagnosis_only = bool(triggers) and all(
        f.rule in NAMED_DIAGNOSES and stated_as_fact(norm, f.start, f.end) for f in triggers
    )
    framing = frame(norm, abnormal_vital, diagnosis_only)
    verdict = resolve(active)
    if verdict is None:
        return RuleResult(norm, None, judged, framing)
    if framing.suppresses:
        return RuleResult(norm, None, judged, framing, suppressed_by=framing.suppresses)
    return RuleResult(norm, verdict, judged, framing)
