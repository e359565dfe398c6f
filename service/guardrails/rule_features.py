"""What the deterministic rules saw, as a fixed-length numeric vector for the learned layer.

Why: the rules read structure well (negation, history, experiencer, hypotheticals, vital-sign numbers,
framing) and vocabulary narrowly; sentence embeddings read vocabulary broadly and structure poorly. Giving
the learned layer the rules' structural verdicts as inputs lets one model weigh both, instead of the rules
alone deciding with their listed words.
"""

from __future__ import annotations

import numpy as np

from .detector import RuleResult

SUPPRESSIONS = ("general question", "managed", "informational")
MODIFIERS = ("negated", "historical", "resolved", "experiencer", "hypothetical")
NAMES = (
    ("verdict", "uncertain", "any_finding", "active_triggers", "active_features", "abnormal_vital")
    + tuple(f"suppressed:{s}" for s in SUPPRESSIONS)
    + tuple(f"modified:{m}" for m in MODIFIERS)
    + ("framing:informational", "framing:acute_anchor", "framing:managed", "framing:deterioration",
       "framing:general")
)


def rule_features(result: RuleResult) -> np.ndarray:
    """A vector in NAMES order; counts are squashed (log1p) so a long note does not dominate."""
    active = [f for f, mods in result.findings if mods.active]
    triggers = [f for f in active if f.is_trigger]
    row = [
        float(result.verdict is not None),
        float(result.uncertain),
        float(bool(result.findings)),
        np.log1p(len(triggers)),
        np.log1p(len(active) - len(triggers)),
        float(any(f.numeric and f.is_trigger for f in active)),
    ]
    row += [float(result.suppressed_by == s) for s in SUPPRESSIONS]
    row += [np.log1p(sum(getattr(mods, m) for _, mods in result.findings)) for m in MODIFIERS]
    fr = result.framing
    row += [float(bool(fr and getattr(fr, name))) for name in
            ("informational", "acute_anchor", "managed", "deterioration", "general")]
    return np.asarray(row, dtype=np.float32)
