"""Red-flag guardrail: deterministic emergency screen that runs before retrieval on every question.

    from service.guardrails import Guardrail, RedFlag
    guard = Guardrail.from_settings(settings)
    hit = guard.screen(question, history)   # RedFlag | None, audit line written on a hit
    hit = guard.check(question, history)    # same decision, no audit

See docs/guardrails.md for where the line between "deteriorating now" and "managing an established
diagnosis" is drawn, the layers and their thresholds.
"""

from .guard import Guardrail, RedFlag

__all__ = ["Guardrail", "RedFlag"]
