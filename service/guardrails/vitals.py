"""Numeric red flags: "sats 86%", "RR 32", "BP 80/40", "HR 140", "GCS 7", "Hb 132 -> 84", "PVR 650".

Thresholds follow NEWS2 single-parameter "red" scores where one exists (SpO2 <= 91 %, RR >= 25 or <= 8,
systolic BP <= 90, HR >= 131 or <= 40), Surviving Sepsis for MAP < 65 and lactate >= 4, and common ward
practice elsewhere (GCS <= 12, post-void residual >= 300 mL, haemoglobin drop >= 20 g/L). Values between the
"red" line and normal become features (e.g. HR 111-130 counts as instability only together with infection).

The finding's span covers the *keyword* only ("saturation"), not the number, so that modifiers such as
"briefly" or "baseline" after the number are still read by the context module.
"""

from __future__ import annotations

import re

from .findings import TRIGGER, Finding

# A vital's value is read up to the next clause mark or comma; a decimal point ("38.9") is not a clause mark.
_STOP = r"(?:[^;.?!,]|(?<=\d)\.(?=\d))"
_SPO2_FOLLOW_ON = re.compile(
    r"\s*,\s*(?:and )?(?:now|then|dropping|dropped|down|falling|fell)(?: to)?\s*(\d{2,3}(?:\.\d)?)\s*%"
)
_NEXT_VITAL = re.compile(r"\b(?:respiratory rate|heart rate|blood pressure|temperature|on \d+ ?l)\b")


def _prefix(pattern: str, text: str) -> str:
    """The match of `pattern` at the start of `text`; the patterns here allow zero length, so it always
    matches ("" when nothing does, for the type checker)."""
    m = re.match(pattern, text)
    return m.group(0) if m else ""


def _num(category: str, rule: str, role: str, start: int, end: int) -> Finding:
    return Finding(category, rule, role, start, end, numeric=True)


def _numbers(text: str, low: float, high: float) -> list[float]:
    vals = [float(x) for x in re.findall(r"(?<![\d.])(\d{1,3}(?:\.\d)?)(?![\d/])", text)]
    vals += [float(d) * 10 for d in re.findall(r"\blow (\d)0s\b", text)]
    vals += [float(d) for d in re.findall(r"\b(\d{2,3})s\b", text)]
    return [v for v in vals if low <= v <= high]


def _spo2(norm: str) -> list[Finding]:
    out = []
    for m in re.finditer(r"\b(?:saturations?|saturating|desaturat\w*|oxygen saturation)\b", norm):
        window = _prefix(_STOP + "{0,40}", norm[m.end():])
        window = _NEXT_VITAL.split(window)[0]
        rest = norm[m.end() + len(window):]
        follow = _SPO2_FOLLOW_ON.match(rest)  # "sats 97% earlier, now 84%": the later value counts too
        if follow:
            window += " " + follow.group(1)
        vals = _numbers(window, 50, 100)
        if vals and min(vals) <= 91:
            out.append(_num("respiratory_embolism", f"SpO2 {min(vals):g}% (<= 91)", TRIGGER, *m.span()))
    return out


def _first_value(
    norm: str, keyword: str, low: float, high: float, reach: int = 14
) -> list[tuple[re.Match, float]]:
    out = []
    for m in re.finditer(keyword, norm):
        window = _prefix(f"{_STOP}{{0,{reach}}}", norm[m.end():])
        vals = _numbers(window, low, high)
        if vals:
            out.append((m, vals[0] if len(vals) == 1 else min(vals)))
    return out


def _oxygen_escalation(norm: str) -> list[Finding]:
    """ "oxygen from 2 to 10 litres": needing 6 L/min or more, and rising, is hypoxia whatever the SpO2."""
    out = []
    pattern = (r"\b(?:oxygen|o2)\b[^.;?!]{0,40}?\bfrom (\d+) ?(?:l|litres|liters)? "
               r"to (\d+) ?(?:l\b|litres|liters)")
    for m in re.finditer(pattern, norm):
        before, after = float(m.group(1)), float(m.group(2))
        if after > before and after >= 6:
            out.append(_num("respiratory_embolism", f"oxygen {before:g} to {after:g} L", TRIGGER, *m.span()))
    return out


def _blood_loss_volume(norm: str) -> list[Finding]:
    """ "800 mL from the drain in the last hour": a measured loss of 500 mL or more is major bleeding."""
    out = []
    pattern = (r"\b(?:drain|blood loss|lost|bled|blood|ebl)\b[^.;?!]{0,40}?\b(\d{3,4}) ?ml\b|"
               r"\b(\d{3,4}) ?ml\b[^.;?!]{0,25}?\b(?:of blood|blood loss|from the drain|in the drain)\b")
    for m in re.finditer(pattern, norm):
        v = float(m.group(1) or m.group(2))
        if v >= 500:
            out.append(_num("major_bleeding", f"blood loss {v:g} mL (>= 500)", TRIGGER, *m.span()))
    return out


def _blood_gas_news_glucose(norm: str) -> list[Finding]:
    """PaO2 < 8 kPa (60 mmHg), NEWS2 >= 7 (emergency response), glucose < 3 mmol/L."""
    out = []
    for m, v in _first_value(norm, r"\b(?:pao2|po2)\b", 1, 200):
        if v < 8 or 20 <= v < 60:
            out.append(_num("respiratory_embolism", f"PaO2 {v:g}", TRIGGER, *m.span()))
    for m, v in _first_value(norm, r"\bnews ?2?(?: score)?\b", 0, 20):
        if v >= 7:
            out.append(_num("haemodynamic_instability", f"NEWS2 {v:g} (>= 7)", TRIGGER, *m.span()))
    for m, v in _first_value(norm, r"\b(?:bm|cbg|glucose|blood sugar|blood glucose)\b", 0.5, 40):
        if v < 3:
            out.append(_num("collapse_seizure", f"glucose {v:g} (< 3)", TRIGGER, *m.span()))
    return out


def _respiratory_rate(norm: str) -> list[Finding]:
    out = []
    keyword = r"\b(?:respiratory rate|breathing rate|breathing at|breaths? per minute of)\b"
    found = _first_value(norm, keyword, 2, 70)
    found += [(m, float(m.group(1))) for m in re.finditer(r"\b(\d{1,2}) breaths?\b", norm)]
    for m, v in found:
        if v >= 25:
            out.append(_num("respiratory_embolism", f"RR {v:g} (>= 25)", TRIGGER, *m.span()))
        elif v <= 8:
            out.append(_num("collapse_seizure", f"RR {v:g} (<= 8)", TRIGGER, *m.span()))
        elif v >= 22:
            out.append(_num("sepsis_unstable", f"RR {v:g} (>= 22)", "feature:instability", *m.span()))
    return out


def _heart_rate(norm: str) -> list[Finding]:
    out = []
    for m, v in _first_value(norm, r"\b(?:heart rate|pulse|tachycardic|tachycardia|bradycardic)\b", 20, 250):
        if v >= 131 or v <= 40:
            out.append(_num("haemodynamic_instability", f"HR {v:g}", TRIGGER, *m.span()))
        elif v >= 111:
            out.append(_num("sepsis_unstable", f"HR {v:g} (>= 111)", "feature:instability", *m.span()))
    return out


def _blood_pressure(norm: str) -> list[Finding]:
    out = []
    systolic = []
    for m in re.finditer(r"\b(?:systolic blood pressure|blood pressure|systolic)\b", norm):
        window = _prefix(_STOP + "{0,28}", norm[m.end():])
        bp = re.search(r"(?<!\d)(\d{2,3})\s*(?:/\s*\d{2,3}|s\b)?", window)
        if bp:
            systolic.append((m.start(), m.end(), float(bp.group(1))))
    for m in re.finditer(r"(?<![\d./])(\d{2,3})\s*/\s*(\d{2,3})(?![\d/])", norm):
        sys_, dia = float(m.group(1)), float(m.group(2))
        if 50 <= sys_ <= 250 and 20 <= dia <= 150 and sys_ > dia:
            systolic.append((m.start(), m.end(), sys_))
    for start, end, v in systolic:
        if 40 <= v <= 90:
            out.append(_num("haemodynamic_instability", f"systolic BP {v:g} (<= 90)", TRIGGER, start, end))
    for m, v in _first_value(norm, r"\bmean arterial pressure\b", 20, 150):
        if v < 65:
            out.append(_num("haemodynamic_instability", f"MAP {v:g} (< 65)", TRIGGER, *m.span()))
    return out


def _gcs(norm: str) -> list[Finding]:
    out = []
    for m in re.finditer(r"\bgcs\b", norm):
        window = _prefix(_STOP + "{0,30}", norm[m.end():])
        vals = _numbers(window, 3, 15)
        if vals and min(vals) <= 12:
            out.append(_num("collapse_seizure", f"GCS {min(vals):g} (<= 12)", TRIGGER, *m.span()))
    return out


def _temperature(norm: str) -> list[Finding]:
    out = []
    keyword = r"\b(?:temp\w*|febrile|fever|pyrexial|spiking|spiked)\b"
    for m, v in _first_value(norm, keyword, 34, 43, reach=16):
        if v >= 38:
            out.append(_num("sepsis_unstable", f"temperature {v:g}", "feature:infection", *m.span()))
    return out


def _lactate(norm: str) -> list[Finding]:
    return [
        _num("sepsis_unstable", f"lactate {v:g} (>= 4)", "feature:instability", *m.span())
        for m, v in _first_value(norm, r"\blactate\b", 0, 30)
        if v >= 4
    ]


def _haemoglobin_drop(norm: str) -> list[Finding]:
    out = []
    for m in re.finditer(r"\bhemoglobin\b", norm):
        window = _prefix(r"[^;?!]{0,40}", norm[m.end():])
        pair = re.search(r"(\d{2,3}(?:\.\d)?)\s*(?:to|then)\s*(\d{1,3}(?:\.\d)?)", window)
        reverse = re.search(r"(\d{1,3}(?:\.\d)?)\s*(?:\w+\s+){0,2}?from\s*(\d{2,3}(?:\.\d)?)", window)
        if pair:
            before, after = float(pair.group(1)), float(pair.group(2))
        elif reverse:  # "Hb 60 from 110"
            before, after = float(reverse.group(2)), float(reverse.group(1))
        else:
            continue
        drop_g_l = (before - after) * (1 if before > 25 else 10)
        if drop_g_l >= 20:
            out.append(_num("major_bleeding", f"Hb drop {before:g} to {after:g}", TRIGGER, *m.span()))
    return out


def _retention_volume(norm: str) -> list[Finding]:
    return [
        _num("neuro_deficit", f"residual {v:g} mL (>= 300)", TRIGGER, *m.span())
        for m, v in _first_value(norm, r"\b(?:post void residual|bladder scan|residual)\b", 50, 3000)
        if v >= 300
    ]


def _pain_and_power(norm: str) -> list[Finding]:
    out = []
    for m in re.finditer(r"(?<![\d/])(\d{1,2})\s*(?:/|out of)\s*10\b", norm):
        if int(m.group(1)) >= 8:
            out.append(_num("uncontrolled_pain", f"pain {m.group(1)}/10", "feature:severe", *m.span()))
            out.append(_num("uncontrolled_pain", "pain score", "feature:pain", *m.span()))
    for m in re.finditer(r"\bpower\b[^;.?!,]{0,12}?(?<![\d/])([0-3])\s*/\s*5\b", norm):
        out.append(_num("neuro_deficit", f"power {m.group(1)}/5", TRIGGER, *m.span()))
    return out


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
