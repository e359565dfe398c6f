"""The guardrail's rules as data (service/guardrails/rules/*.yaml): each modifier kind of context.yaml, the
vital-sign thresholds of vitals.yaml, the one "patient now" list, and the loader that refuses a malformed
file by name and versions the set by a hash of its files.

Modifier cases build one finding by hand and ask the context module about it, so a failure names the
modifier rule that changed, not a whole-screen decision (those are in test_guardrails.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from service.guardrails import Guardrail
from service.guardrails.audit import AuditLog
from service.guardrails.context import Context, Modifiers
from service.guardrails.findings import TRIGGER, Finding
from service.guardrails.framing import frame, stated_as_fact
from service.guardrails.guidance import load_guidance
from service.guardrails.normalise import normalise
from service.guardrails.ruleset import RULES_DIR, RULES_VERSION, RULESET, RuleFileError, load_ruleset
from service.guardrails.topic import patient_now, topic_spans
from service.guardrails.vitals import vital_findings

ROOT = Path(__file__).resolve().parent.parent


def modifiers(text: str, phrase: str) -> Modifiers:
    norm = normalise(text)
    start = norm.index(phrase)
    f = Finding("test", "test-rule", TRIGGER, start, start + len(phrase))
    return Context(norm, [f]).modifiers(f)


def reasons(text: str, phrase: str) -> list[str]:
    return modifiers(text, phrase).reasons()


# --- negation: forward and backward, scope ends at clause breaks, terminators, new statements -------------


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        ("no leg weakness", "leg weakness", True),
        ("she has no leg weakness", "leg weakness", True),
        ("no headache but leg weakness", "leg weakness", False),  # a contrastive conjunction ends the clause
        ("no headache. leg weakness", "leg weakness", False),  # so does a full stop
        ("no headache - leg weakness", "leg weakness", False),  # and a spaced dash
        ("no headache then leg weakness", "leg weakness", False),  # TERMINATE: a new statement starts
        ("no headache, suddenly leg weakness", "leg weakness", False),
        ("denies headache, dizziness, leg weakness", "leg weakness", True),  # across commas into list items
        ("no allergies, she collapsed on the ward", "collapsed", False),  # not into a new statement
        ("nil by mouth overnight for the procedure and leg weakness", "leg weakness", False),  # > 6 words
        ("no new leg weakness", "leg weakness", True),  # "no new" is one trigger, not "new" terminating
    ],
)
def test_negation_before_the_finding_stops_at_its_scope(text: str, phrase: str, negated: bool) -> None:
    assert modifiers(text, phrase).negated is negated


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        ("saddle sensation normal", "saddle sensation", True),
        ("saddle sensation is intact", "saddle sensation", True),
        ("leg weakness, reflexes normal", "leg weakness", False),  # backward scope stays in its segment
        ("leg weakness and now the reflexes are normal", "leg weakness", False),  # terminated by "now"
    ],
)
def test_negation_after_the_finding_stays_in_its_comma_segment(text: str, phrase: str, negated: bool) -> None:
    assert modifiers(text, phrase).negated is negated


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("no iv access and leg weakness", "leg weakness"),
        ("no idea what caused the chest pain", "chest pain"),
        ("not sure about the leg weakness", "leg weakness"),
    ],
)
def test_a_pseudo_trigger_negates_nothing(text: str, phrase: str) -> None:
    assert reasons(text, phrase) == []


def test_the_same_negation_word_outside_a_pseudo_trigger_negates() -> None:
    assert modifiers("no fluids and leg weakness", "leg weakness").negated


# --- history ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "historical"),
    [
        ("history of stroke", "stroke", True),
        ("previous pulmonary embolism", "pulmonary embolism", True),
        ("pulmonary embolism in 2019", "pulmonary embolism", True),  # a year after the finding
        ("stroke 3 years ago", "stroke", True),
        ("in 2019 a stroke", "stroke", True),  # and before it
        ("history of asthma, chest pain", "chest pain", False),  # forward scope ends at the comma
        ("old infarct and now chest pain", "chest pain", False),  # TERMINATE
        ("chest pain, last year", "chest pain", False),  # a date in another segment
    ],
)
def test_history_scope(text: str, phrase: str, historical: bool) -> None:
    assert modifiers(text, phrase).historical is historical


# --- resolved / baseline ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "resolved"),
    [
        ("tingling resolved", "tingling", True),
        ("transient tingling", "tingling", True),
        ("sats 90%, her usual baseline", "saturation", True),  # backward across the comma, in the clause
        ("legs felt heavy, but that wore off", "heavy", True),  # the next clause only says it went away
        ("legs felt heavy but she cannot stand", "heavy", False),
        ("chest pain, which has since subsided", "chest pain", True),
    ],
)
def test_resolved_scope(text: str, phrase: str, resolved: bool) -> None:
    assert modifiers(text, phrase).resolved is resolved


# --- experiencer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "experiencer"),
    [
        ("her mother had a stroke", "stroke", True),
        ("family history of cauda equina", "cauda equina", True),
        ("his brother has chest pain", "chest pain", True),
        ("her mother had a stroke, she has facial droop", "facial droop", False),  # the patient's own
        ("the patient had a stroke", "stroke", False),
    ],
)
def test_experiencer_scope(text: str, phrase: str, experiencer: bool) -> None:
    assert modifiers(text, phrase).experiencer is experiencer


# --- hypothetical -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "hypothetical"),
    [
        ("if she develops leg weakness, what imaging?", "leg weakness", True),
        ("if she suddenly develops leg weakness", "leg weakness", True),  # not ended by TERMINATE words
        ("what should we do should cement embolism occur", "cement embolism", True),
        ("in case of leg weakness", "leg weakness", True),
        ("what if she falls? she now has leg weakness", "leg weakness", False),  # the clause ended
        ("she would rather die", "die", False),  # "would rather" is not a hypothetical
        ("if the scan is delayed because the scanner is booked up all day long we might see "
         "more leg weakness", "leg weakness", True),  # "might": a trigger of its own, close by
        ("if the scan is delayed because the scanner is booked up all day long and the team "
         "sees more leg weakness", "leg weakness", False),  # "if" is more than 14 words back
    ],
)
def test_hypothetical_scope(text: str, phrase: str, hypothetical: bool) -> None:
    assert modifiers(text, phrase).hypothetical is hypothetical


# --- vital-sign thresholds (vitals.yaml) --------------------------------------------------------------


def rules_of(text: str) -> set[str]:
    return {f.rule for f in vital_findings(normalise(text))}


@pytest.mark.parametrize(
    ("text", "flagged", "not_flagged"),
    [
        ("sats 91% on air", "SpO2 91% (<= 91)", None),
        ("sats 92% on air", None, "SpO2 92% (<= 91)"),
        ("RR 25", "RR 25 (>= 25)", None),
        ("RR 24", "RR 24 (>= 22)", "RR 24 (>= 25)"),  # between the red line and normal: a feature
        ("RR 8", "RR 8 (<= 8)", None),
        ("HR 131", "HR 131", None),
        ("HR 130", "HR 130 (>= 111)", "HR 130"),
        ("HR 40", "HR 40", None),
        ("BP 90/60", "systolic BP 90 (<= 90)", None),
        ("BP 91/60", None, "systolic BP 91 (<= 90)"),
        ("MAP 64", "MAP 64 (< 65)", None),
        ("MAP 65", None, "MAP 65 (< 65)"),
        ("GCS 12", "GCS 12 (<= 12)", None),
        ("GCS 13", None, "GCS 13 (<= 12)"),
        ("temp 38.0", "temperature 38", None),
        ("temp 37.9", None, "temperature 37.9"),
        ("lactate 4", "lactate 4 (>= 4)", None),
        ("glucose 2.9", "glucose 2.9 (< 3)", None),
        ("glucose 3", None, "glucose 3 (< 3)"),
        ("NEWS2 7", "NEWS2 7 (>= 7)", None),
        ("NEWS2 6", None, "NEWS2 6 (>= 7)"),
        ("Hb 120 to 100", "Hb drop 120 to 100", None),
        ("Hb 120 to 101", None, "Hb drop 120 to 101"),
        ("bladder scan 300 ml", "residual 300 mL (>= 300)", None),
        ("800 ml from the drain", "blood loss 800 mL (>= 500)", None),
        ("499 ml from the drain", None, "blood loss 499 mL (>= 500)"),
        ("oxygen from 2 to 6 litres", "oxygen 2 to 6 L", None),
        ("oxygen from 2 to 5 litres", None, "oxygen 2 to 5 L"),
        ("PaO2 7.9", "PaO2 7.9", None),
        ("PaO2 59", "PaO2 59", None),
        ("PaO2 60", None, "PaO2 60"),
        ("pain 8/10", "pain 8/10", None),
        ("pain 7/10", None, "pain 7/10"),
        ("power 3/5", "power 3/5", None),
        ("power 4/5", None, "power 4/5"),
    ],
)
def test_vital_sign_thresholds(text: str, flagged: str | None, not_flagged: str | None) -> None:
    found = rules_of(text)
    if flagged:
        assert flagged in found
    if not_flagged:
        assert not_flagged not in found


def test_a_band_gives_its_category_and_role() -> None:
    by_rule = {f.rule: f for f in vital_findings(normalise("HR 120, RR 30"))}
    assert (by_rule["HR 120 (>= 111)"].category, by_rule["HR 120 (>= 111)"].role) == (
        "sepsis_unstable", "feature:instability")
    assert (by_rule["RR 30 (>= 25)"].category, by_rule["RR 30 (>= 25)"].role) == (
        "respiratory_embolism", TRIGGER)


def test_a_threshold_is_read_from_the_file(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    edit(rules / "vitals.yaml", "{at_most: 91, category: respiratory_embolism",
         "{at_most: 93, category: respiratory_embolism")
    spo2 = load_ruleset(rules).vitals["spo2"]
    assert spo2.band(93) is not None and spo2.band(94) is None
    assert RULESET.vitals["spo2"].band(93) is None  # the shipped line is 91


# --- the one "patient now" list ---------------------------------------------------------------------------


def test_one_patient_now_list_serves_the_teaching_framing_and_the_topic_exemption() -> None:
    # an entry without `only` counts for both readers
    norm = normalise("what are the red flags of cauda equina? since this morning")
    assert patient_now(norm)
    assert frame(norm, False, False, []).acute_anchor
    # "ago" counts against the topic exemption only, "still" against the teaching framing only
    ago = normalise("signs of a stroke ago")
    assert patient_now(ago) and not frame(ago, False, False, []).acute_anchor
    still = normalise("is alteplase still recommended for stroke")
    assert not patient_now(still) and frame(still, False, False, []).acute_anchor


def test_an_entry_added_once_reaches_both_readers(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    edit(rules / "patient_now.yaml", "  - '\\bnow\\b'\n", "  - '\\bnow\\b'\n  - '\\bzzqq\\b'\n")
    pn = load_ruleset(rules).patient_now
    assert pn.informational.search("zzqq") and pn.general_question.search("zzqq")
    assert not RULESET.patient_now.informational.search("zzqq")


# --- the framing and topic vocabularies (framing.yaml, topic.yaml) ----------------------------------------


@pytest.mark.parametrize(
    ("text", "informational"),
    [
        ("what are the red flags of cauda equina", True),  # informational list
        ("signs of cement embolism for my slides", True),
        ("what is the treatment for cauda equina", True),  # weak informational, no weak anchor
        ("what is the treatment for new cauda equina", False),  # ... a weak anchor cancels it
        ("cauda equina, sudden bilateral leg weakness", False),
    ],
)
def test_the_teaching_framing_reads_its_lists(text: str, informational: bool) -> None:
    assert frame(normalise(text), False, False, []).informational is informational


@pytest.mark.parametrize(
    ("text", "managed", "deterioration"),
    [
        ("confirmed PE on heparin, which dose of apixaban", True, False),  # established + specific question
        ("already thrombolysed, BP target", True, False),
        ("PE on heparin, what now", False, True),  # no specific question; a call for help
        ("intubated, which sedation, now worse", True, True),  # managed, but deteriorating
    ],
)
def test_the_managed_framing_reads_its_lists(text: str, managed: bool, deterioration: bool) -> None:
    norm = normalise(text)
    framing = frame(norm, False, True, [(0, 2)])
    assert (framing.managed, framing.deterioration) == (managed, deterioration)


def test_a_named_diagnosis_is_suspected_by_the_words_around_it() -> None:
    for text, fact in [("pe on ctpa", True), ("?pe", False), ("suspected pe", False), ("pe suspected", False),
                       ("worried about a pe", False)]:
        start = re.search(r"\bpe\b", text).start()  # type: ignore[union-attr]
        assert stated_as_fact(text, start, start + 2) is fact, text


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("within how many hours should primary pci be done for stemi", True),  # a preposition before it
        ("pe thrombolysis dose", True),  # a guideline noun after it
        ("massive upper gi bleed in older adults: when to transfuse", True),  # modifiers + a population
        ("the stemi in bay 3", False),  # "the": one patient's condition
        ("suspected pe: which scan", False),  # a suspicion at the head of a note
    ],
)
def test_the_topic_exemption_reads_its_lists(text: str, topic: bool) -> None:
    assert bool(topic_spans(text)) is topic


def test_again_after_resuming_words_is_not_a_recurrence() -> None:
    assert not patient_now(normalise("after a first seizure, how long before driving again"))
    assert patient_now(normalise("seizure again"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pt c/o sob w/o cp", "patient complains of short of breath without chest pain"),  # punctuated forms
        ("hr 130, 10 hrs post op", "heart rate 130, 10 hours post op"),  # contextual forms
        ("she colapsed", "she collapsed"),  # a typo target repaired
        ("she was sitting", "she was sitting"),  # a protected word left alone ("fitting")
        ("hypertensive", "hypertensive"),  # never repaired across opposite prefixes ("hypotensive")
    ],
)
def test_the_normaliser_reads_its_lists(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_a_vocabulary_entry_added_in_the_file_reaches_the_loaded_rules(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    edit(rules / "framing.yaml", "  - '\\bquiz\\b'\n", "  - '\\bquiz\\b'\n  - '\\bzzqq\\b'\n")
    edit(rules / "topic.yaml", "  - 'compartment syndrome'\n", "  - 'compartment syndrome'\n  - 'zzqq'\n")
    loaded = load_ruleset(rules)
    assert "\\bzzqq\\b" in loaded.framing.informational.split("|")
    assert "zzqq" in loaded.topic.condition_names.split("|")
    assert "zzqq" not in RULESET.topic.condition_names.split("|")


# --- loading: validated, named errors, deterministic, versioned -------------------------------------------


def copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_rules_load_in_a_fixed_order_with_a_hashed_version() -> None:
    again = load_ruleset()
    assert again.version == RULES_VERSION == RULESET.version
    assert [r.name for r in again.findings] == [r.name for r in RULESET.findings]
    assert [r.id for r in again.context.modifiers] == [r.id for r in RULESET.context.modifiers]
    explicit, digest = RULES_VERSION.split("+sha256:")
    assert explicit and len(digest) == 12


def test_any_edit_changes_the_version(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    assert load_ruleset(rules).version == RULES_VERSION
    edit(rules / "context.yaml", "max_scope: 14", "max_scope: 15")
    changed = load_ruleset(rules).version
    assert changed != RULES_VERSION and changed.split("+")[0] == RULES_VERSION.split("+")[0]


@pytest.mark.parametrize(
    ("file", "old", "new", "named"),
    [
        ("findings.yaml", "'\\bfoot drop\\b'", "'\\bfoot (drop\\b'", "'paraparesis / foot drop'"),
        ("findings.yaml", "category: stroke", "category: strok", "unknown category 'strok'"),
        ("findings.yaml", "role: feature:autonomic", "role: feature",
         "findings[19] 'autonomic features': role must be"),
        ("findings.yaml", "{{WEAK}}|{{NUMB}}", "{{WEEK}}|{{NUMB}}", "unknown term {{WEEK}}"),
        ("findings.yaml", "  CHEST:\n    - 'chest'", "  CHEST:\n    - '{{LEGS}}'",
         "terms.CHEST: a term cannot"),
        ("findings.yaml", "findings:\n", "findings:\n  - {category: stroke}\n", "findings[0]: missing"),
        ("context.yaml", "direction: backward", "direction: backwards", "'negation-after'"),
        ("context.yaml", "{window: clause, max_scope: 14}", "{window: sentence, max_scope: 14}",
         "'hypothetical'.scope.forward: window 'sentence'"),
        ("context.yaml", "- '\\bnot sure\\b'", "- '\\bnot (sure\\b'", "pseudo[1]: pattern does not compile"),
        ("context.yaml", "  - id: hypothetical\n", "  - id: hypothetical\n    max_scope: 3\n",
         "unknown key max_scope"),
        ("vitals.yaml", "rule: 'GCS {value} (<= 12)'", "rule: 'GCS {gcs} (<= 12)'", "gcs.bands[0].rule"),
        ("vitals.yaml", "{at_most: 12, category", "{at_most: twelve, category", "gcs.bands[0].at_most"),
        ("vitals.yaml", "lactate:\n  keyword: '\\blactate\\b'\n", "lactate:\n", "'lactate' needs keyword"),
        ("patient_now.yaml", "only: informational}", "only: teaching}", "only must be one of"),
        ("patient_now.yaml", "  - '\\bresus\\b'", "  - no", "referent[10]: expected a non-empty string"),
        ("ruleset.yaml", "  - vitals.yaml", "  - vital.yaml", "files must list exactly"),
        ("normalise.yaml", "replace: '\\1 hours'", "replace: '\\2 hours'",
         "contextual[1].replace: names a group"),
        ("normalise.yaml", "typo_targets: >-\n", "typo_targets: >-\n  Weakness\n",
         "'Weakness' is not a lower-case"),
        ("normalise.yaml", "  - [hyper, hypo]", "  - [hyper]", "opposite_prefixes[0]: expected a pair"),
        ("framing.yaml", "  - 'stroke named'", "  - 'stroke name'",
         "named_diagnoses: 'stroke name' is not the name of a trigger finding"),
        ("framing.yaml", "  - '\\bquiz\\b'", "  - '\\bquiz(\\b'",
         "informational[13]: pattern does not compile"),
        ("framing.yaml", "deterioration:\n", "deteriorations:\n", "missing deterioration"),
        ("framing.yaml", "suspected_after:\n", "notes: 1\nsuspected_after:\n", "unknown key notes"),
        ("topic.yaml", "populations:\n", "population:\n", "missing populations"),
        ("topic.yaml", "  - 'resume'", "  - yes", "resuming[8]: expected a non-empty string"),
    ],
)
def test_a_malformed_rule_file_is_refused_by_name(
    tmp_path: Path, file: str, old: str, new: str, named: str
) -> None:
    rules = copy_rules(tmp_path)
    edit(rules / file, old, new)
    with pytest.raises(RuleFileError) as caught:
        load_ruleset(rules)
    message = str(caught.value)
    assert message.startswith(str(rules / file)) and named in message, message


def test_broken_yaml_and_stray_or_missing_files_are_refused_by_name(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    (rules / "vitals.yaml").write_text("spo2: [unclosed\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="vitals.yaml: cannot be read as YAML"):
        load_ruleset(rules)
    rules = copy_rules(tmp_path / "stray")
    (rules / "extra.yaml").write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match="extra.yaml: not listed in ruleset.yaml"):
        load_ruleset(rules)
    rules = copy_rules(tmp_path / "missing")
    (rules / "context.yaml").unlink()
    with pytest.raises(RuleFileError, match="context.yaml: listed in ruleset.yaml but missing"):
        load_ruleset(rules)


def test_the_rules_version_reaches_the_red_flag_and_the_audit_line(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", lambda text: "h")
    guard = Guardrail(load_guidance(ROOT / "corpus" / "guardrails"), audit)
    hit = guard.screen("new leg weakness since this morning after kyphoplasty yesterday")
    assert hit is not None and hit.rules_version == RULES_VERSION
    line = json.loads((tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert line["rules_version"] == RULES_VERSION
