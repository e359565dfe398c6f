"""What a finding is, and the small regex helpers every rule module shares.

A finding is one matched clinical statement in the normalised text ("leg weakness", "saturation 84"). Its
`role` says how much it proves on its own:

* ``trigger``: enough to raise a red flag for its category if nothing in the context suppresses it;
* ``feature:<name>``: evidence that only counts in a combination (fever + hypotension = unstable sepsis;
  urticaria + wheeze = anaphylaxis; severe + uncontrolled pain), so "mild itchy rash" alone flags nothing.

Each finding keeps its character span: the context module reads the words around that span, and negation
words *inside* a span ("not breathing", "no pulse", "no effect") are part of the finding, not modifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

TRIGGER = "trigger"

# Words may be separated by spaces, hyphens, slashes or apostrophes, never by clause punctuation.
_SEP = r"[^\w.,;:?!]+"


@dataclass(frozen=True)
class Finding:
    """One matched statement: the category it points to, the rule that matched, its role and span."""

    category: str
    rule: str
    role: str
    start: int
    end: int
    numeric: bool = False

    @property
    def is_trigger(self) -> bool:
        return self.role == TRIGGER

    @property
    def feature(self) -> str | None:
        return self.role.split(":", 1)[1] if self.role.startswith("feature:") else None


def near(a: str, b: str, gap: int = 3) -> str:
    """Regex for `a` and `b` (either order) with at most `gap` words between them, inside one clause."""
    between = rf"(?:{_SEP}\w+){{0,{gap}}}?{_SEP}"
    return rf"\b(?:{a})\w*{between}(?:{b})\b|\b(?:{b})\w*{between}(?:{a})\b"
