"""Load the guardrail's rules from the reviewable data files in `rules/`: validate, compile once, version.

Why data and not Python: the rules are clinical judgements (which words are a finding, which words negate it
and how far, from which value a heart rate is an emergency). A clinician should be able to read them and
review a change as a diff without reading code; the code keeps only the mechanics (scopes, number reading,
combinations). The files are listed, in order, in `rules/ruleset.yaml`.

Loading happens once, at import, so a malformed file stops the service at start-up with a RuleFileError that
names the file and the entry ("findings.yaml: findings[12] 'chest pain': match[1]: pattern does not
compile: ..."), as GuidanceError does for the guidance texts. Nothing is compiled per request.

The version is the manifest's `version` plus the first 12 hex of a SHA-256 over every file (name and bytes,
in manifest order), so any edit, reviewed or not, shows in `RedFlag.rules_version` and the audit line.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .combine import RULE_CATEGORIES
from .findings import TRIGGER, near

RULES_DIR = Path(__file__).resolve().parent / "rules"
MANIFEST = "ruleset.yaml"
MODIFIER_CATEGORIES = ("negated", "historical", "resolved", "experiencer", "hypothetical")
DIRECTIONS = ("forward", "backward", "bidirectional", "following_clause")
WINDOWS = {
    "forward": ("comma_segment", "clause", "clause_through_list_items"),
    "backward": ("comma_segment", "clause"),
}
PATIENT_NOW_READERS = ("informational", "general_question")
_ROLE = re.compile(r"^(?:trigger|feature:[a-z_]+)$")
_TERM = re.compile(r"\{\{(\w+)\}\}")


class RuleFileError(ValueError):
    """A rule file is missing, unreadable or malformed (the message names the file and the entry)."""


@dataclass(frozen=True)
class FindingRule:
    """One finding of findings.yaml, its pattern compiled."""

    category: str
    name: str
    role: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Scope:
    """How far a modifier reaches in one direction: the window it may not leave, at most how many words."""

    window: str
    max_scope: int


@dataclass(frozen=True)
class ModifierRule:
    """One ConText modifier of context.yaml (direction, scope per direction, terminators, pattern)."""

    id: str
    category: str
    direction: str
    pattern: re.Pattern[str]
    forward: Scope | None = None
    backward: Scope | None = None
    terminated: bool = True
    max_chars: int = 0  # following_clause only


@dataclass(frozen=True)
class ContextRules:
    clause_breaks: re.Pattern[str]
    list_item_max_words: int
    not_a_list_item: re.Pattern[str]
    terminate: re.Pattern[str]
    pseudo: re.Pattern[str]
    modifiers: tuple[ModifierRule, ...]


@dataclass(frozen=True)
class Band:
    """A value range of one reading and the findings it gives: (category, role, rule template) each."""

    at_least: float | None
    at_most: float | None
    below: float | None
    above: float | None
    findings: tuple[tuple[str, str, str], ...]

    def holds(self, value: float) -> bool:
        return ((self.at_least is None or value >= self.at_least)
                and (self.at_most is None or value <= self.at_most)
                and (self.below is None or value < self.below)
                and (self.above is None or value > self.above))


@dataclass(frozen=True)
class Reading:
    """One vital sign or score of vitals.yaml."""

    name: str
    keyword: str | None
    range: tuple[float, float] | None
    bands: tuple[Band, ...]

    def band(self, value: float) -> Band | None:
        """The first band that holds for `value`, or None."""
        return next((b for b in self.bands if b.holds(value)), None)


@dataclass(frozen=True)
class PatientNow:
    """The one "patient now" list, compiled for its readers (see patient_now.yaml)."""

    referent: re.Pattern[str]
    informational: re.Pattern[str]  # evidence against the teaching/informational framing
    general_question: re.Pattern[str]  # evidence against the general-question (topic) exemption


@dataclass(frozen=True)
class FramingWords:
    """The framing vocabularies of framing.yaml, each one alternation; framing.py adds the structure."""

    informational: str
    weak_informational: str
    weak_anchor: str
    established: str
    diagnosis_cue: str
    specific_question: str
    deterioration: str
    named_diagnoses: frozenset[str]
    suspected_before: str
    suspected_after: str


@dataclass(frozen=True)
class TopicWords:
    """The general-question vocabularies of topic.yaml, each one alternation; topic.py adds the structure."""

    condition_modifiers: str
    condition_names: str
    prepositions: str
    populations: str
    guideline_nouns: str
    suspicion: str
    resuming: str


@dataclass(frozen=True)
class NormaliseRules:
    """How free typing is read before the rules (normalise.yaml): ordered (pattern, replacement) pairs and
    the typo-repair word lists."""

    punctuated: tuple[tuple[str, str], ...]
    contextual: tuple[tuple[str, str], ...]
    typo_targets: frozenset[str]
    typo_protected: frozenset[str]
    opposite_prefixes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Ruleset:
    version: str
    findings: tuple[FindingRule, ...]
    context: ContextRules
    vitals: dict[str, Reading]
    patient_now: PatientNow
    framing: FramingWords
    topic: TopicWords
    normalise: NormaliseRules


class _Where:
    """Where in which file a value sits, for error messages ("context.yaml: modifiers[3] 'hypothetical'")."""

    def __init__(self, path: Path, trail: str = ""):
        self.path, self.trail = path, trail

    def __truediv__(self, part: str | int) -> _Where:
        step = f"[{part}]" if isinstance(part, int) else (f".{part}" if self.trail else part)
        return _Where(self.path, self.trail + step)

    def named(self, name: str) -> _Where:
        return _Where(self.path, f"{self.trail} {name!r}")

    def error(self, message: str) -> RuleFileError:
        return RuleFileError(f"{self.path}: {self.trail + ': ' if self.trail else ''}{message}")


def _mapping(where: _Where, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping with {', '.join(required)}, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise where.error(f"missing {', '.join(missing)}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        known = ", ".join(required + optional)
        raise where.error(f"unknown key {', '.join(map(str, unknown))} (known: {known})")
    return value


def _text(where: _Where, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise where.error(f"expected a non-empty string, got {value!r} (quote words YAML reads as "
                          "something else, such as 'no')")
    return value


def _list(where: _Where, value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise where.error("expected a non-empty list")
    return value


def _number(where: _Where, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"expected a number, got {value!r}")
    return float(value)


def _compile(where: _Where, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise where.error(f"pattern does not compile: {exc}: {pattern!r}") from exc


def _alternatives(where: _Where, value: Any) -> str:
    """A list of patterns (a `words:` item is whole words) as one alternation, in the order written."""
    parts = []
    for i, item in enumerate(_list(where, value)):
        if isinstance(item, dict):
            words = _list(where / i, _mapping(where / i, item, ("words",))["words"])
            parts.append(r"\b(?:" + "|".join(_text(where / i / j, w) for j, w in enumerate(words)) + r")\b")
        else:
            parts.append(_text(where / i, item))
        _compile(where / i, parts[-1])  # each item on its own, so the error names it
    return "|".join(parts)


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleFileError(f"{path}: expected a mapping at the top")
    return data


# --- findings.yaml ------------------------------------------------------------------------------------------

def _findings(path: Path, data: dict) -> tuple[FindingRule, ...]:
    top = _Where(path)
    data = _mapping(top, data, ("findings",), ("terms",))
    terms: dict[str, str] = {}
    raw_terms = data.get("terms") or {}
    if not isinstance(raw_terms, dict):
        raise (top / "terms").error("expected a mapping NAME: [patterns]")
    for name, alts in raw_terms.items():
        terms[str(name)] = _alternatives(top / "terms" / str(name), alts)
        if _TERM.search(terms[str(name)]):
            raise (top / "terms" / str(name)).error("a term cannot use another term ({{...}})")

    def expand(where: _Where, pattern: str) -> str:
        unknown = [t for t in _TERM.findall(pattern) if t not in terms]
        if unknown:
            raise where.error(f"unknown term {{{{{unknown[0]}}}}} (terms: {', '.join(terms)})")
        return _TERM.sub(lambda m: terms[m.group(1)], pattern)

    rules, seen = [], set()
    for i, raw in enumerate(_list(top / "findings", data["findings"])):
        where = top / "findings" / i
        entry = _mapping(where, raw, ("category", "name", "role", "match"))
        name = _text(where / "name", entry["name"])
        where = where.named(name)
        category, role = _text(where / "category", entry["category"]), _text(where / "role", entry["role"])
        if category not in RULE_CATEGORIES:
            raise where.error(f"unknown category {category!r}; known: {', '.join(sorted(RULE_CATEGORIES))}")
        if not _ROLE.match(role):
            raise where.error(f"role must be {TRIGGER!r} or 'feature:<name>', not {role!r}")
        if (category, name) in seen:
            raise where.error(f"{category}/{name} is defined twice")
        seen.add((category, name))
        parts = []
        for j, alt in enumerate(_list(where / "match", entry["match"])):
            if isinstance(alt, dict):
                spec = _mapping(where / "match" / j, alt, ("near", "gap"))
                pair = spec["near"]
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise (where / "match" / j).error("near needs two patterns: [A, B]")
                gap = spec["gap"]
                if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
                    raise (where / "match" / j).error(f"gap must be a whole number of words, not {gap!r}")
                a, b = (expand(where / "match" / j, _text(where / "match" / j, p)) for p in pair)
                parts.append(near(a, b, gap))
            else:
                parts.append(expand(where / "match" / j, _text(where / "match" / j, alt)))
            _compile(where / "match" / j, parts[-1])
        rules.append(FindingRule(category, name, role, _compile(where, "|".join(parts))))
    return tuple(rules)


# --- context.yaml -------------------------------------------------------------------------------------------

def _scope(where: _Where, direction: str, raw: Any) -> Scope:
    spec = _mapping(where, raw, ("window", "max_scope"))
    window = spec["window"]
    if window not in WINDOWS[direction]:
        raise where.error(f"window {window!r} is not one of {', '.join(WINDOWS[direction])}")
    words = spec["max_scope"]
    if isinstance(words, bool) or not isinstance(words, int) or words < 0:
        raise where.error(f"max_scope must be a whole number of words, not {words!r}")
    return Scope(window, words)


def _modifier(where: _Where, raw: Any) -> ModifierRule:
    entry = _mapping(where, raw, ("id", "category", "direction", "patterns"),
                     ("scope", "terminated_by", "max_chars"))
    rule_id = _text(where / "id", entry["id"])
    where = where.named(rule_id)
    category, direction = entry["category"], entry["direction"]
    if category not in MODIFIER_CATEGORIES:
        raise where.error(f"category {category!r} is not one of {', '.join(MODIFIER_CATEGORIES)}")
    if direction not in DIRECTIONS:
        raise where.error(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    pattern = _compile(where, _alternatives(where / "patterns", entry["patterns"]))
    if direction == "following_clause":
        chars = entry.get("max_chars")
        if isinstance(chars, bool) or not isinstance(chars, int) or chars <= 0:
            raise where.error("a following_clause rule needs max_chars (a positive whole number)")
        return ModifierRule(rule_id, category, direction, pattern, max_chars=chars)
    wanted = ("forward", "backward") if direction == "bidirectional" else (direction,)
    scope = _mapping(where / "scope", entry.get("scope"), wanted)
    terminated_by = entry.get("terminated_by", ["TERMINATE"])
    if terminated_by not in (["TERMINATE"], []):
        raise where.error(f"terminated_by must be [TERMINATE] or [], not {terminated_by!r}")
    return ModifierRule(
        rule_id, category, direction, pattern,
        forward=_scope(where / "scope" / "forward", "forward", scope["forward"])
        if "forward" in scope else None,
        backward=_scope(where / "scope" / "backward", "backward", scope["backward"])
        if "backward" in scope else None,
        terminated=bool(terminated_by),
    )


def _context(path: Path, data: dict) -> ContextRules:
    top = _Where(path)
    data = _mapping(top, data, ("clause_breaks", "list_item", "terminate", "pseudo", "modifiers"))
    item = _mapping(top / "list_item", data["list_item"], ("max_words", "not_a_list_item"))
    max_words = item["max_words"]
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 0:
        raise (top / "list_item" / "max_words").error(f"expected a whole number, not {max_words!r}")
    modifiers, ids = [], set()
    for i, raw in enumerate(_list(top / "modifiers", data["modifiers"])):
        rule = _modifier(top / "modifiers" / i, raw)
        if rule.id in ids:
            raise (top / "modifiers" / i).error(f"id {rule.id!r} is used twice")
        ids.add(rule.id)
        modifiers.append(rule)
    return ContextRules(
        clause_breaks=_compile(top, _alternatives(top / "clause_breaks", data["clause_breaks"])),
        list_item_max_words=max_words,
        not_a_list_item=_compile(top, _alternatives(top / "list_item" / "not_a_list_item",
                                                    item["not_a_list_item"])),
        terminate=_compile(top, _alternatives(top / "terminate", data["terminate"])),
        pseudo=_compile(top, _alternatives(top / "pseudo", data["pseudo"])),
        modifiers=tuple(modifiers),
    )


# --- vitals.yaml --------------------------------------------------------------------------------------------

_BOUNDS = ("at_least", "at_most", "below", "above")
_BEFORE_AFTER = ("oxygen_escalation", "haemoglobin_drop")  # their finding names show two values
_FINDING_KEYS = ("category", "role", "rule")


def _band_finding(where: _Where, raw: dict, shown: tuple[str, ...]) -> tuple[str, str, str]:
    category, role = _text(where / "category", raw["category"]), _text(where / "role", raw["role"])
    if category not in RULE_CATEGORIES:
        raise where.error(f"unknown category {category!r}; known: {', '.join(sorted(RULE_CATEGORIES))}")
    if not _ROLE.match(role):
        raise where.error(f"role must be {TRIGGER!r} or 'feature:<name>', not {role!r}")
    rule = _text(where / "rule", raw["rule"])
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(rule) if field is not None}
    except ValueError as exc:
        raise (where / "rule").error(f"{rule!r}: {exc}") from exc
    if used - set(shown):
        raise (where / "rule").error(f"{rule!r} uses {', '.join(sorted(used - set(shown)))}; this reading "
                                     f"can show {', '.join('{' + s + '}' for s in shown)}")
    return category, role, rule


def _band(where: _Where, raw: Any, shown: tuple[str, ...]) -> Band:
    if isinstance(raw, dict) and "findings" in raw:
        spec = _mapping(where, raw, ("findings",), _BOUNDS)
        items = _list(where / "findings", spec["findings"])
        found = tuple(
            _band_finding(where / "findings" / i, _mapping(where / "findings" / i, f, _FINDING_KEYS), shown)
            for i, f in enumerate(items)
        )
    else:
        spec = _mapping(where, raw, _FINDING_KEYS, _BOUNDS)
        found = (_band_finding(where, spec, shown),)
    bounds = {k: _number(where / k, spec[k]) if k in spec else None for k in _BOUNDS}
    if all(v is None for v in bounds.values()):
        raise where.error(f"a band needs at least one of {', '.join(_BOUNDS)}")
    return Band(bounds["at_least"], bounds["at_most"], bounds["below"], bounds["above"], found)


def _vitals(path: Path, data: dict, needed: dict[str, tuple[str, ...]]) -> dict[str, Reading]:
    top = _Where(path)
    missing = [n for n in needed if n not in data]
    if missing:
        raise top.error(f"no reading for {', '.join(missing)} (the number readers in vitals.py need them)")
    readings = {}
    for name, raw in data.items():
        where = top / str(name)
        if name not in needed:
            raise where.error(f"no number reader for {name!r} in vitals.py; known: {', '.join(needed)}")
        spec = _mapping(where, raw, ("bands",), ("keyword", "range"))
        lacking = [k for k in needed[name] if k not in spec]
        if lacking:
            raise where.error(f"the number reader for {name!r} needs {' and '.join(lacking)}")
        keyword = spec.get("keyword")
        if keyword is not None:
            _compile(where / "keyword", _text(where / "keyword", keyword))
        span = spec.get("range")
        if span is not None:
            if not (isinstance(span, list) and len(span) == 2):
                raise (where / "range").error("expected [lowest, highest]")
            span = (_number(where / "range", span[0]), _number(where / "range", span[1]))
        raw_bands = _list(where / "bands", spec["bands"])
        shown = ("before", "after") if name in _BEFORE_AFTER else ("value",)
        bands = tuple(_band(where / "bands" / i, b, shown) for i, b in enumerate(raw_bands))
        readings[str(name)] = Reading(str(name), keyword, span, bands)
    return readings


# --- patient_now.yaml ---------------------------------------------------------------------------------------

def _patient_now(path: Path, data: dict) -> PatientNow:
    top = _Where(path)
    data = _mapping(top, data, ("referent", "now"))
    referent = _alternatives(top / "referent", data["referent"])
    readers: dict[str, list[str]] = {r: [] for r in PATIENT_NOW_READERS}
    for i, raw in enumerate(_list(top / "now", data["now"])):
        where = top / "now" / i
        only: tuple[str, ...]
        if isinstance(raw, dict):
            spec = _mapping(where, raw, ("match", "only"))
            if spec["only"] not in PATIENT_NOW_READERS:
                readers_known = ", ".join(PATIENT_NOW_READERS)
                raise where.error(f"only must be one of {readers_known}, not {spec['only']!r}")
            pattern, only = _text(where / "match", spec["match"]), (spec["only"],)
        else:
            pattern, only = _text(where, raw), PATIENT_NOW_READERS
        _compile(where, pattern)
        for reader in only:
            readers[reader].append(pattern)
    return PatientNow(
        referent=_compile(top, referent),
        informational=_compile(top, "|".join([referent] + readers["informational"])),
        general_question=_compile(top, "|".join([referent] + readers["general_question"])),
    )


# --- framing.yaml and topic.yaml ---------------------------------------------------------------------------

_FRAMING_LISTS = ("informational", "weak_informational", "weak_anchor", "established", "diagnosis_cue",
                  "specific_question", "deterioration", "suspected_before", "suspected_after")
_TOPIC_LISTS = ("condition_modifiers", "condition_names", "prepositions", "populations", "guideline_nouns",
                "suspicion", "resuming")


def _framing(path: Path, data: dict) -> FramingWords:
    top = _Where(path)
    data = _mapping(top, data, (*_FRAMING_LISTS, "named_diagnoses"))
    names = frozenset(_text(top / "named_diagnoses" / i, n)
                      for i, n in enumerate(_list(top / "named_diagnoses", data["named_diagnoses"])))
    lists = {key: _alternatives(top / key, data[key]) for key in _FRAMING_LISTS}
    return FramingWords(**lists, named_diagnoses=names)


def _topic(path: Path, data: dict) -> TopicWords:
    top = _Where(path)
    data = _mapping(top, data, _TOPIC_LISTS)
    return TopicWords(**{key: _alternatives(top / key, data[key]) for key in _TOPIC_LISTS})


def _check_named_diagnoses(path: Path, framing: FramingWords, findings: tuple[FindingRule, ...]) -> None:
    """Every named diagnosis must be a trigger finding's name: a typo would silently stop it counting."""
    triggers = {rule.name for rule in findings if rule.role == TRIGGER}
    unknown = sorted(framing.named_diagnoses - triggers)
    if unknown:
        raise (_Where(path) / "named_diagnoses").error(
            f"{unknown[0]!r} is not the name of a trigger finding in findings.yaml")


# --- normalise.yaml -----------------------------------------------------------------------------------------

_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)?$")
_GROUP_REF = re.compile(r"\\(\d+)")


def _rewrites(where: _Where, value: Any) -> tuple[tuple[str, str], ...]:
    """Ordered {match, replace} pairs; a replacement may only name groups its pattern has."""
    pairs = []
    for i, raw in enumerate(_list(where, value)):
        spec = _mapping(where / i, raw, ("match", "replace"))
        pattern = _text(where / i / "match", spec["match"])
        replace = spec["replace"]
        if not isinstance(replace, str):
            raise (where / i / "replace").error(f"expected a string, got {replace!r}")
        groups = _compile(where / i / "match", pattern).groups
        refs = [int(n) for n in _GROUP_REF.findall(replace)]
        if any(n < 1 or n > groups for n in refs):
            raise (where / i / "replace").error(f"names a group its pattern lacks ({groups} groups)")
        pairs.append((pattern, replace))
    return tuple(pairs)


def _words(where: _Where, value: Any) -> frozenset[str]:
    words = _text(where, value).split()
    bad = [w for w in words if not _WORD.match(w)]
    if bad:
        raise where.error(f"{bad[0]!r} is not a lower-case word")
    return frozenset(words)


def _normalise(path: Path, data: dict) -> NormaliseRules:
    top = _Where(path)
    keys = ("punctuated", "contextual", "typo_targets", "typo_protected", "opposite_prefixes")
    data = _mapping(top, data, keys)
    prefixes = []
    for i, pair in enumerate(_list(top / "opposite_prefixes", data["opposite_prefixes"])):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p for p in pair)):
            raise (top / "opposite_prefixes" / i).error("expected a pair of prefixes: [hyper, hypo]")
        prefixes.append((pair[0], pair[1]))
    return NormaliseRules(
        punctuated=_rewrites(top / "punctuated", data["punctuated"]),
        contextual=_rewrites(top / "contextual", data["contextual"]),
        typo_targets=_words(top / "typo_targets", data["typo_targets"]),
        typo_protected=_words(top / "typo_protected", data["typo_protected"]),
        opposite_prefixes=tuple(prefixes),
    )


# --- the set ------------------------------------------------------------------------------------------------

_SECTIONS: dict[str, Callable[[Path, dict], Any]] = {
    "findings.yaml": _findings, "context.yaml": _context, "patient_now.yaml": _patient_now,
    "framing.yaml": _framing, "topic.yaml": _topic, "normalise.yaml": _normalise,
}
# The readings vitals.py has a number reader for, and what each reader takes from the file besides bands.
_KEYWORD_RANGE = ("keyword", "range")
VITAL_READINGS: dict[str, tuple[str, ...]] = {
    "spo2": _KEYWORD_RANGE, "oxygen_escalation": (), "blood_loss": (), "pao2": _KEYWORD_RANGE,
    "news2": _KEYWORD_RANGE, "glucose": _KEYWORD_RANGE, "respiratory_rate": _KEYWORD_RANGE,
    "heart_rate": _KEYWORD_RANGE, "systolic_bp": ("keyword",), "mean_arterial_pressure": _KEYWORD_RANGE,
    "gcs": _KEYWORD_RANGE, "temperature": _KEYWORD_RANGE, "lactate": _KEYWORD_RANGE, "haemoglobin_drop": (),
    "residual_volume": _KEYWORD_RANGE, "pain_score": (), "power": (),
}


def load_ruleset(directory: Path = RULES_DIR) -> Ruleset:
    """Every rule file of `directory`, validated and compiled; RuleFileError names the file and entry."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise RuleFileError(f"{manifest_path}: no rule-set manifest")
    manifest = _mapping(_Where(manifest_path), _load_yaml(manifest_path), ("version", "files"))
    version = str(manifest["version"] or "").strip()
    if not version:
        raise RuleFileError(f"{manifest_path}: version is empty")
    files = _list(_Where(manifest_path) / "files", manifest["files"])
    expected = sorted([*_SECTIONS, "vitals.yaml"])
    if sorted(map(str, files)) != expected:
        raise RuleFileError(f"{manifest_path}: files must list exactly {', '.join(expected)}, not {files}")
    stray = sorted(p.name for p in directory.glob("*.y*ml") if p.name not in (*files, MANIFEST))
    if stray:
        raise RuleFileError(f"{directory / stray[0]}: not listed in {MANIFEST}; list it or remove it")
    digest = hashlib.sha256()
    parsed: dict[str, Any] = {}
    for name in [MANIFEST, *files]:
        path = directory / name
        if not path.is_file():
            raise RuleFileError(f"{path}: listed in {MANIFEST} but missing")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        if name == MANIFEST:
            continue
        data = _load_yaml(path)
        parsed[name] = (_vitals(path, data, VITAL_READINGS) if name == "vitals.yaml"
                        else _SECTIONS[name](path, data))
    _check_named_diagnoses(directory / "framing.yaml", parsed["framing.yaml"], parsed["findings.yaml"])
    return Ruleset(
        version=f"{version}+sha256:{digest.hexdigest()[:12]}",
        findings=parsed["findings.yaml"],
        context=parsed["context.yaml"],
        vitals=parsed["vitals.yaml"],
        patient_now=parsed["patient_now.yaml"],
        framing=parsed["framing.yaml"],
        topic=parsed["topic.yaml"],
        normalise=parsed["normalise.yaml"],
    )


RULESET = load_ruleset()
RULES_VERSION = RULESET.version
