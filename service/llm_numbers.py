"""Numbers with their units, as a clinician reads them: "six weeks" is 6 week, "33 %" is 33 percent.

The LLM check compares an answer sentence's numbers with those of the passage it cites as (value, unit)
pairs, so "6 weeks" does not match "six months", "3 %" does not match "33%" (values, not substrings), and a
dose with no counterpart in the passage is caught. Numbers in words are turned into digits first with
text2num (isolated one/two/three stay words, since "one of", "a second" are not quantities, unless a unit
follows them: "two weeks").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from text_to_num import alpha2digit

# Spellings of a unit → one canonical name. Longer spellings first so "mg/kg" wins over "mg".
UNIT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "percent": ("%", "percent", "per cent", "pc"),
    "mg/kg": ("mg/kg", "mg per kg", "milligrams per kilogram"),
    "mg": ("mg", "milligram", "milligrams", "milligramme", "milligrammes"),
    "mcg": ("mcg", "µg", "μg", "ug", "microgram", "micrograms"),
    "g": ("g", "gram", "grams", "gramme", "grammes"),
    "kg": ("kg", "kilogram", "kilograms", "kilo", "kilos"),
    "ml": ("ml", "millilitre", "millilitres", "milliliter", "milliliters", "cc"),
    "l": ("l", "litre", "litres", "liter", "liters"),
    "mmol": ("mmol", "mmol/l", "millimoles"),
    "unit": ("iu", "unit", "units", "international units"),
    "mmhg": ("mmhg", "mm hg"),
    "mm": ("mm", "millimetre", "millimetres", "millimeter", "millimeters"),
    "cm": ("cm", "centimetre", "centimetres", "centimeter", "centimeters"),
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("min", "mins", "minute", "minutes"),
    "hour": ("h", "hr", "hrs", "hour", "hours", "hourly"),
    "day": ("d", "day", "days", "daily"),
    "week": ("wk", "wks", "week", "weeks", "weekly"),
    "month": ("mo", "mos", "month", "months", "monthly"),
    "year": ("y", "yr", "yrs", "year", "years", "yearly"),
    "times": ("times", "x", "×", "fold"),
    "dose": ("dose", "doses"),
    "tablet": ("tablet", "tablets", "tab", "tabs", "capsule", "capsules"),
    "level": ("level", "levels", "vertebra", "vertebrae"),
    "ordinal": ("st", "nd", "rd", "th"),
}
UNIT_OF = {spelling: unit for unit, spellings in UNIT_SPELLINGS.items() for spelling in spellings}
_UNIT_ALT = "|".join(re.escape(s) for s in sorted(UNIT_OF, key=len, reverse=True))
NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
# A number not glued to a letter before it (T2, L1 are names, handled as identifiers), then its unit if one
# follows directly or after a space or hyphen ("6-week"), or a range whose second number carries the unit.
QUANTITY = re.compile(
    rf"(?<![A-Za-z\d.,])(?P<value>{NUMBER})"
    rf"(?:\s*(?:-|–|—|to|and|or)\s*(?P<upper>{NUMBER}))?"
    rf"(?:[\s-]?(?P<unit>{_UNIT_ALT})(?![A-Za-z]))?",
    re.IGNORECASE,
)
IDENTIFIER = re.compile(r"\b[A-Za-z]+\d+[A-Za-z\d]*\b")  # T2, L1, S1, C5, H2O: must appear verbatim
_WORD_UNITS = "|".join(re.escape(s) for s in UNIT_OF if s.isalpha() and len(s) > 2)
SMALL_BEFORE_UNIT = re.compile(rf"(?<![\w-])(one|two|three)(?=[\s-]+(?:{_WORD_UNITS})\b)", re.IGNORECASE)
SMALL = {"one": "1", "two": "2", "three": "3"}


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None  # canonical unit name, None for a bare number


def digits_for_words(text: str) -> str:
    """`text` with numbers written in words replaced by digits ("six weeks" → "6 weeks")."""
    text = SMALL_BEFORE_UNIT.sub(lambda m: SMALL[m.group(1).lower()], text)
    try:
        return alpha2digit(text, "en")
    except Exception:  # noqa: BLE001 - an unparseable phrase keeps its words; the digits check still runs
        return text


def _value(number: str) -> float:
    return float(number.replace(",", ""))


@lru_cache(maxsize=4096)
def quantities(text: str) -> tuple[Quantity, ...]:
    """Every number in `text` (words included) with the unit written after it, ranges sharing theirs."""
    found: list[Quantity] = []
    for match in QUANTITY.finditer(digits_for_words(text)):
        raw_unit = match.group("unit")
        unit = UNIT_OF.get(raw_unit.lower()) if raw_unit else None
        found.append(Quantity(_value(match.group("value")), unit))
        if match.group("upper"):
            found.append(Quantity(_value(match.group("upper")), unit))
    return tuple(found)


def identifiers(text: str) -> set[str]:
    """Letter-digit names (T2, L1): swapping one for another changes the claim, so they must match."""
    return {m.group(0).lower() for m in IDENTIFIER.finditer(text)}


def unmatched_quantities(sentence: str, passage: str) -> list[str]:
    """The sentence's quantities with no equal value in `passage`, or whose unit the passage never pairs
    with that value; bare numbers in the sentence need only the value."""
    available = quantities(passage)
    values = {q.value for q in available}
    missing: list[str] = []
    for q in quantities(sentence):
        if q.unit is None:
            ok = q.value in values
        else:
            ok = any(a.value == q.value and a.unit == q.unit for a in available)
        if not ok:
            missing.append(f"{q.value:g}{' ' + q.unit if q.unit else ''}")
    missing.extend(sorted(identifiers(sentence) - identifiers(passage)))
    return missing
