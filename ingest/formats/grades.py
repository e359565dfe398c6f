"""Recommendation numbers and strengths/grades as guidelines state them, recognised in plain text.

One module for every format (and for Markdown), so a recommendation reads the same wherever it came from:

- ACC/AHA class of recommendation and level of evidence: "Class I", "Class IIa", "Class IIb",
  "Class III: No Benefit", "Class III: Harm", "COR 1", "COR 2a"; "LOE A", "LOE B-R", "B-NR", "C-LD", "C-EO".
- ESC: "Class I, Level A" (also "Class IIa, level of evidence B"); shown as "Class I, LOE A".
- GRADE: "strong recommendation, moderate certainty" / "conditional (weak) recommendation, low-quality
  evidence" / "strong recommendation for…" in either order.
- ACCP/KDIGO style: "Grade 1A", "Grade 2C".
- SIGN: "Grade B" (grades A-D) and "good practice point".
- AAOS: "Strength of Recommendation: Strong" (strong, moderate, limited, inconclusive, consensus); shown as
  "AAOS: strong".
- NICE: no grade; the verb states the strength ("offer"/"do not offer"/"refer" = strong,
  "consider" = conditional), taken from the recommendation's first word(s).

A *numbered* recommendation is a paragraph that starts with a dotted number ("1.3.4", "Recommendation 2.1",
"Recommendation 4")
and either states a grade or starts with a NICE verb; `recommendation()` returns (number, grade, text).
"""

from __future__ import annotations

import re

_ROMAN_CLASS = r"(?:III(?:\s*[:\-–]\s*(?:No\s+Benefit|Harm))?|IIa|IIb|II|I)"
_COR = (
    r"(?:COR|Class(?:\s+of\s+recommendation)?)\s*[:]?\s*(?:"
    + _ROMAN_CLASS
    + r"|[123][ab]?(?:\s*[:\-–]\s*(?:No\s+Benefit|Harm))?)"
)
_LOE = r"(?:LOE|Level(?:\s+of\s+evidence)?)\s*[:]?\s*(?:A|B-R|B-NR|C-LD|C-EO|B|C)(?![\w-])"
ACC_AHA = re.compile(
    r"\b(?P<cor>" + _COR + r")(?![\w])(?:\s*[,;/]?\s*(?P<loe>" + _LOE + r"))?", re.IGNORECASE
)
LOE_ONLY = re.compile(r"\b" + _LOE, re.IGNORECASE)
GRADE_STRENGTH = re.compile(
    r"\b(?P<strength>strong|conditional|weak)(?:\s*\((?:weak|conditional)\))?\s+recommendation"
    r"(?:\s*(?:for|against))?"
    r"(?:\s*[,;]\s*|\s+(?:and|with|based\s+on)\s+)?"
    r"(?:(?P<certainty>very\s+low|low|moderate|high)[\s-]+(?:certainty|quality)(?:\s+(?:of\s+)?evidence)?)?",
    re.IGNORECASE,
)
CERTAINTY_FIRST = re.compile(
    r"\b(?P<certainty>very\s+low|low|moderate|high)[\s-]+(?:certainty|quality)(?:\s+(?:of\s+)?evidence)?"
    r"\s*[,;]\s*(?P<strength>strong|conditional|weak)\s+recommendation",
    re.IGNORECASE,
)
NUMERIC_GRADE = re.compile(r"\bGrade\s+(?P<g>[12][A-C])\b")
SIGN_GRADE = re.compile(r"\b(?:SIGN\s+)?Grade\s+(?P<g>[A-D])\b(?![\w-])")
AAOS_STRENGTH = re.compile(
    r"\bStrength\s+of\s+Recommendation\s*:?\s*(?P<s>Strong|Moderate|Limited|Weak|Inconclusive|Consensus)\b",
    re.IGNORECASE,
)
GOOD_PRACTICE = re.compile(r"\bgood\s+practice\s+point\b", re.IGNORECASE)
NICE_VERB = re.compile(r"\A(?P<verb>do\s+not\s+offer|do\s+not\s+use|offer|consider|refer|do\s+not)\b", re.I)
_REC_REST = r"(?:[.:)]|\s*[-–—])?\s+(?P<rest>\S.*)\Z"  # after the number: punctuation, then the text
REC_NUMBER = re.compile(
    r"\A\s*(?:(?:Recommendation|Rec\.?)\s+)?(?P<num>\d{1,3}(?:\.\d{1,3}){1,4}[a-z]?|R\d{1,3})" + _REC_REST,
    re.DOTALL,
)
NAMED_INTEGER = re.compile(  # "Recommendation 4 …" (AAOS numbers its recommendations 1, 2, 3 …)
    r"\A\s*(?:Recommendation|Rec\.?)\s+(?P<num>\d{1,3}[a-z]?)" + _REC_REST, re.DOTALL | re.IGNORECASE
)
EXPLICIT_REC = re.compile(r"\A\s*(?:Recommendation|Rec\.?)\s+\d", re.IGNORECASE)
BRACKETED = re.compile(r"\s*[\[(](?P<inner>[^\[\]()]{2,120})[\])]\s*")


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ,;")


def _roman(value: str) -> str:
    return {"1": "I", "2a": "IIa", "2b": "IIb", "3": "III"}.get(value.lower(), value)


def find_grade(text: str) -> str | None:
    """The first grade/strength stated in `text`, normalised for display ("Class I, LOE B-R"), or None."""
    if match := ACC_AHA.search(text):
        cor_text = match.group("cor")
        if re.match(r"COR", cor_text, re.I):
            value = re.sub(r"\ACOR\s*:?\s*", "", cor_text, flags=re.I)
            roman = re.match(r"([123][ab]?)(.*)\Z", value, re.S)
            cor = f"Class {_roman(roman.group(1))}{roman.group(2)}" if roman else f"Class {value}"
        else:
            cor = re.sub(r"\AClass(?:\s+of\s+recommendation)?\s*:?\s*", "Class ", cor_text, flags=re.I)
        cor = _tidy(cor)
        loe = match.group("loe") or (m.group(0) if (m := LOE_ONLY.search(text)) else None)
        if loe:
            level = re.sub(r"\A(?:LOE|Level(?:\s+of\s+evidence)?)\s*:?\s*", "", loe, flags=re.I)
            return f"{cor}, LOE {level.upper()}"
        return cor
    for pattern in (CERTAINTY_FIRST, GRADE_STRENGTH):
        if match := pattern.search(text):
            strength = match.group("strength").lower()
            certainty = match.group("certainty")
            grade = f"{strength} recommendation"
            return f"{grade}, {_tidy(certainty).lower()} certainty" if certainty else grade
    if match := NUMERIC_GRADE.search(text):
        return f"Grade {match.group('g')}"
    if match := SIGN_GRADE.search(text):
        return f"Grade {match.group('g')}"
    if match := AAOS_STRENGTH.search(text):
        return f"AAOS: {match.group('s').lower()}"
    if GOOD_PRACTICE.search(text):
        return "good practice point"
    return None


def nice_strength(text: str) -> str | None:
    """NICE strength from a recommendation's opening verb: 'offer (strong)', 'consider (conditional)'."""
    match = NICE_VERB.match(text.strip())
    if not match:
        return None
    verb = re.sub(r"\s+", " ", match.group("verb").lower())
    return f"{verb} (conditional)" if verb == "consider" else f"{verb} (strong)"


def strip_grade(text: str, grade_text: str | None) -> str:
    """`text` without a bracketed grade badge ("[Class I, LOE B-R]", "(Grade B)") that restates the grade."""
    if not grade_text:
        return text.strip()
    out = text
    for match in list(BRACKETED.finditer(text)):
        if find_grade(match.group("inner")):
            out = out.replace(match.group(0), " ", 1)
    return re.sub(r"\s+", " ", out).strip()


def recommendation(text: str, *, grade_hint: str | None = None) -> tuple[str, str | None, str] | None:
    """(number, grade, text without number and badge) when `text` is a numbered recommendation, else None.

    `grade_hint` is a grade the markup gave separately (a badge element); it wins over the text.
    """
    match = REC_NUMBER.match(text) or NAMED_INTEGER.match(text)
    if not match:
        return None
    rest = match.group("rest").strip()
    if not rest[:1].isupper() and rest[:1] not in "[(":
        return None  # "2.5 mg twice daily" is a dose, not recommendation 2.5
    grade = grade_hint or find_grade(rest)
    body = strip_grade(rest, grade)
    if (lead := ACC_AHA.match(body)) and (found := find_grade(lead.group(0))):
        grade = grade or found  # "1.1.1 Class I LOE B-NR Chlorthalidone is…": the badge printed first
        body = body[lead.end() :].lstrip(" ,;:")
    if not grade:
        grade = nice_strength(body)
    if not grade and not EXPLICIT_REC.match(text):
        return None
    return match.group("num"), grade, body
