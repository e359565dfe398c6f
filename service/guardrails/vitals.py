"""Numeric red flags: "sats 86%", "RR 32", "BP 80/40", "HR 140", "GCS 7", "Hb 132 -> 84", "PVR 650".

Which readings count and from which value (NEWS2 single-parameter "red" scores where one exists, Surviving
Sepsis for MAP and lactate, ward practice elsewhere) is data a clinician can review: `rules/vitals.yaml`
(keyword, plausible range, bands with their category, role and finding name). This module only *reads the
numbers*: the window after a keyword, "97% to 82%", a bare "80/40", "Hb 60 from 110".

The finding's span covers the *keyword* only ("saturation"), not the number, so that modifiers such as
"briefly" or "baseline" after the number are still read by the context module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from .findings import Finding
from .literals import NORMALISED
from .ruleset import RULESET, Reading

_V = RULESET.vitals

# A vital's value is read up to the next clause mark or comma; a decimal point ("38.9") is not a clause mark.
_STOP = r"(?:[^;.?!,]|(?<=\d)\.(?=\d))"
_SPO2_FOLLOW_ON = re.compile(
    r"\s*,\s*(?:and )?(?:now|then|dropping|dropped|down|falling|fell)(?: to)?\s*(\d{2,3}(?:\.\d)?)\s*%"
)
_NEXT_VITAL = re.compile(r"\b(?:respiratory rate|heart rate|blood pressure|temperature|on \d+ ?l)\b")
# MRC power at or below the threshold: the digit class follows the data ("[0-3]" for at_most 3), so a weaker
# value later in the window ("power 4/5 left, 2/5 right") is still the one read.
_POWER_MAX = int(_V["power"].bands[0].at_most or 0)
_POWER = re.compile(rf"\bpower\b[^;.?!,]{{0,12}}?(?<![\d/])([0-{_POWER_MAX}])\s*/\s*5\b")


def _prefix(pattern: str, text: str) -> str:
    """The match of `pattern` at the start of `text`; the patterns here allow zero length, so it always
    matches ("" when nothing does, for the type checker)."""
    m = _compiled(pattern).match(text)
    return m.group(0) if m else ""


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A window pattern compiled once (the windows are built with several lengths)."""
    return re.compile(pattern)


def _screened(pattern: str) -> re.Pattern[str]:
    """A pattern searched over the whole normalised text, compiled once at import and registered with the
    literal screen (literals.py): a reading whose keyword is absent costs one set look-up."""
    return NORMALISED.add(re.compile(pattern))


_KEYWORDS = {name: _screened(r.keyword) for name, r in _V.items() if r.keyword is not None}
_OXYGEN_FROM_TO = _screened(r"\b(?:oxygen|o2)\b[^.;?!]{0,40}?\bfrom (\d+) ?(?:l|litres|liters)? "
                            r"to (\d+) ?(?:l\b|litres|liters)")
_BLOOD_LOSS = _screened(r"\b(?:drain|blood loss|lost|bled|blood|ebl)\b[^.;?!]{0,40}?\b(\d{3,4}) ?ml\b|"
                        r"\b(\d{3,4}) ?ml\b[^.;?!]{0,25}?"
                        r"\b(?:of blood|blood loss|from the drain|in the drain)\b")
_BREATHS = _screened(r"\b(\d{1,2}) breaths?\b")
_BP_PAIR = _screened(r"(?<![\d./])(\d{2,3})\s*/\s*(\d{2,3})(?![\d/])")
_HAEMOGLOBIN = _screened(r"\bhemoglobin\b")
_PAIN_SCORE = _screened(r"(?<![\d/])(\d{1,2})\s*(?:/|out of)\s*10\b")
NORMALISED.add(_POWER)


def _keyword(reading: Reading) -> re.Pattern[str]:
    if reading.name not in _KEYWORDS:
        raise RuntimeError(f"rules/vitals.yaml: {reading.name} needs a keyword")  # the loader requires it
    return _KEYWORDS[reading.name]


def _finditer(pattern: re.Pattern[str], norm: str) -> Iterator[re.Match[str]]:
    """Matches of a registered pattern in the normalised text; none without its literals."""
    return NORMALISED.finditer(pattern, norm)


def _range(reading: Reading) -> tuple[float, float]:
    if reading.range is None:
        raise RuntimeError(f"rules/vitals.yaml: {reading.name} needs a range")
    return reading.range


def _found(reading: Reading, measured: float, start: int, end: int, **shown: str) -> list[Finding]:
    """The findings of the first band of `reading` that holds for `measured` (none when no band holds); the
    finding's name is the band's template filled with `shown` (the values as the name should show them)."""
    band = reading.band(measured)
    if band is None:
        return []
    return [Finding(category, rule.format(**shown), role, start, end, numeric=True)
            for category, role, rule in band.findings]


_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d)?)(?![\d/])")
_LOW_DECADE = re.compile(r"\blow (\d)0s\b")
_DECADE = re.compile(r"\b(\d{2,3})s\b")


def _numbers(text: str, low: float, high: float) -> list[float]:
    vals = [float(x) for x in _NUMBER.findall(text)]
    vals += [float(d) * 10 for d in _LOW_DECADE.findall(text)] if "low " in text else []
    vals += [float(d) for d in _DECADE.findall(text)]
    return [v for v in vals if low <= v <= high]


def _spo2(norm: str) -> list[Finding]:
    reading = _V["spo2"]
    out = []
    for m in _finditer(_keyword(reading), norm):
        window = _prefix(_STOP + "{0,40}", norm[m.end():])
        window = _NEXT_VITAL.split(window)[0]
        rest = norm[m.end() + len(window):]
        follow = _SPO2_FOLLOW_ON.match(rest)  # "sats 97% earlier, now 84%": the later value counts too
        if follow:
            window += " " + follow.group(1)
        vals = _numbers(window, *_range(reading))
        if vals:
            out += _found(reading, min(vals), *m.span(), value=f"{min(vals):g}")
    return out


def _first_value(norm: str, reading: Reading, reach: int = 14) -> list[tuple[re.Match, float]]:
    out = []
    for m in _finditer(_keyword(reading), norm):
        window = _prefix(f"{_STOP}{{0,{reach}}}", norm[m.end():])
        vals = _numbers(window, *_range(reading))
        if vals:
            out.append((m, vals[0] if len(vals) == 1 else min(vals)))
    return out


def _simple(norm: str, name: str, reach: int = 14) -> list[Finding]:
    """A reading whose value is the (lowest) number shortly after its keyword."""
    reading = _V[name]
    out = []
    for m, v in _first_value(norm, reading, reach):
        out += _found(reading, v, *m.span(), value=f"{v:g}")
    return out


def _oxygen_escalation(norm: str) -> list[Finding]:
    """ "oxygen from 2 to 10 litres": needing a lot of oxygen, and rising, is hypoxia whatever the SpO2."""
    out = []
    for m in _finditer(_OXYGEN_FROM_TO, norm):
        before, after = float(m.group(1)), float(m.group(2))
        if after > before:
            out += _found(_V["oxygen_escalation"], after, *m.span(), before=f"{before:g}", after=f"{after:g}")
    return out


def _blood_loss_volume(norm: str) -> list[Finding]:
    """ "800 mL from the drain in the last hour": a measured loss."""
    out = []
    for m in _finditer(_BLOOD_LOSS, norm):
        v = float(m.group(1) or m.group(2))
        out += _found(_V["blood_loss"], v, *m.span(), value=f"{v:g}")
    return out


def _respiratory_rate(norm: str) -> list[Finding]:
    reading = _V["respiratory_rate"]
    found = _first_value(norm, reading)
    found += [(m, float(m.group(1))) for m in _finditer(_BREATHS, norm)]
    out = []
    for m, v in found:
        out += _found(reading, v, *m.span(), value=f"{v:g}")
    return out


def _blood_pressure(norm: str) -> list[Finding]:
    reading = _V["systolic_bp"]
    systolic = []
    for m in _finditer(_keyword(reading), norm):
        window = _prefix(_STOP + "{0,28}", norm[m.end():])
        bp = _compiled(r"(?<!\d)(\d{2,3})\s*(?:/\s*\d{2,3}|s\b)?").search(window)
        if bp:
            systolic.append((m.start(), m.end(), float(bp.group(1))))
    for m in _finditer(_BP_PAIR, norm):
        sys_, dia = float(m.group(1)), float(m.group(2))
        if 50 <= sys_ <= 250 and 20 <= dia <= 150 and sys_ > dia:
            systolic.append((m.start(), m.end(), sys_))
    out = []
    for start, end, v in systolic:
        out += _found(reading, v, start, end, value=f"{v:g}")
    return out + _simple(norm, "mean_arterial_pressure")


def _gcs(norm: str) -> list[Finding]:
    reading = _V["gcs"]
    out = []
    for m in _finditer(_keyword(reading), norm):
        window = _prefix(_STOP + "{0,30}", norm[m.end():])
        vals = _numbers(window, *_range(reading))
        if vals:
            out += _found(reading, min(vals), *m.span(), value=f"{min(vals):g}")
    return out


def _haemoglobin_drop(norm: str) -> list[Finding]:
    out = []
    for m in _finditer(_HAEMOGLOBIN, norm):
        window = _prefix(r"[^;?!]{0,40}", norm[m.end():])
        pair = _compiled(r"(\d{2,3}(?:\.\d)?)\s*(?:to|then)\s*(\d{1,3}(?:\.\d)?)").search(window)
        reverse = _compiled(r"(\d{1,3}(?:\.\d)?)\s*(?:\w+\s+){0,2}?from\s*(\d{2,3}(?:\.\d)?)").search(window)
        if pair:
            before, after = float(pair.group(1)), float(pair.group(2))
        elif reverse:  # "Hb 60 from 110"
            before, after = float(reverse.group(2)), float(reverse.group(1))
        else:
            continue
        drop_g_l = (before - after) * (1 if before > 25 else 10)
        out += _found(_V["haemoglobin_drop"], drop_g_l, *m.span(), before=f"{before:g}", after=f"{after:g}")
    return out


def _pain_and_power(norm: str) -> list[Finding]:
    out = []
    for m in _finditer(_PAIN_SCORE, norm):
        out += _found(_V["pain_score"], int(m.group(1)), *m.span(), value=m.group(1))
    for m in _finditer(_POWER, norm):
        out += _found(_V["power"], int(m.group(1)), *m.span(), value=m.group(1))
    return out


def _blood_gas_news_glucose(norm: str) -> list[Finding]:
    """PaO2, NEWS2 (emergency response), glucose."""
    return _simple(norm, "pao2") + _simple(norm, "news2") + _simple(norm, "glucose")


def _heart_rate(norm: str) -> list[Finding]:
    return _simple(norm, "heart_rate")


def _temperature(norm: str) -> list[Finding]:
    return _simple(norm, "temperature", reach=16)


def _lactate(norm: str) -> list[Finding]:
    return _simple(norm, "lactate")


def _retention_volume(norm: str) -> list[Finding]:
    return _simple(norm, "residual_volume")


def vital_findings(norm: str) -> list[Finding]:
    """All numeric findings in the normalised text."""
    out: list[Finding] = []
    for reader in (_spo2, _oxygen_escalation, _blood_loss_volume, _blood_gas_news_glucose, _respiratory_rate,
                   _heart_rate, _blood_pressure, _gcs, _temperature, _lactate, _haemoglobin_drop,
                   _retention_volume, _pain_and_power):
        out.extend(reader(norm))
    unique: dict[tuple[str, str], Finding] = {}
    for f in out:  # "BP 80/40" is read both after the keyword and as a bare pair: count it once
        unique.setdefault((f.category, f.rule), f)
    return list(unique.values())
