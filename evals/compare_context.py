"""Measure medspaCy's ConText against the guardrail's own ConText (service/guardrails/context.py).

Why: issue 11 asked for the modifier rules as data "shaped like medspaCy's ConText rules; use medspaCy itself
if it measures as well". The rules moved into `rules/context.yaml`; this script is the measurement. Nothing is
fitted here and nothing in service/ changes: the guardrail's own findings (the targets) are computed once per
text, then each finding's modifiers are decided twice, (a) by context.py and (b) by medspaCy's ConText running
rules translated mechanically from context.yaml (`translate()`; every place the translation cannot be exact is
listed in `GAPS`). The rule-layer verdict is computed with each engine by putting the medspaCy engine in the
place of `detector.Context` (the rest of the rule layer is unchanged); the learned layer and the exemplar
safety net are off (`Guardrail(guidance)` with neither: the rules alone decide).

medspaCy is NOT a project dependency. This script runs only in a separate virtualenv (it imports medspacy
lazily, so the project's lint and type checks do not need it):

    python3 -m venv /work/venvs/medspacy
    /work/venvs/medspacy/bin/pip install medspacy pyyaml rapidfuzz numpy pydantic pydantic-settings
    HF_HUB_OFFLINE=1 /work/venvs/medspacy/bin/python -m evals.compare_context [--json out.json]

spaCy's statistical models cannot be downloaded here, and ConText needs none: `spacy.blank("en")` (the rule
tokenizer) with spaCy's rule-based `sentencizer` for sentence boundaries.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.authors import load_batches
from evals.data import DATASETS_DIR, load_redflag
from service.guardrails import detector
from service.guardrails.context import Context, Modifiers
from service.guardrails.findings import TRIGGER, Finding
from service.guardrails.lexical import lexical_findings
from service.guardrails.normalise import normalise
from service.guardrails.ruleset import RULES_VERSION, RULESET, ModifierRule
from service.guardrails.vitals import vital_findings
from service.unicode_clean import clean_text

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("negated", "historical", "resolved", "experiencer", "hypothetical")
SPAN_GROUP = "findings"

# Where medspaCy's ConText cannot say exactly what context.yaml says, and what the translation does instead.
GAPS = [
    'comma_segment windows: medspaCy scopes are sentences cut by max_scope and terminators; a comma is '
    'translated as a PSEUDO-direction modifier of category COMMA that terminates (terminated_by) the '
    'rules whose every window is comma_segment',
    "clause_through_list_items (negation-before): no counterpart for 'a comma segment that is a short "
    "list item continues the negation, a new statement does not'; translated as the whole clause "
    "(medspaCy's NegEx default), so 'no allergies, pt collapsed' is negated by it",
    'bidirectional rules with different forward/backward scopes (history-dates 4/6 words; resolved-or-'
    'baseline comma_segment 8 / clause 10): medspaCy has one max_scope for both sides; translated as the '
    'larger one, and terminated at commas only when both windows are comma_segment (so resolved-or-'
    'baseline reaches across commas forward too)',
    'following_clause (resolved-by-next-clause): no counterpart; translated as a BACKWARD rule whose '
    "pattern is the same regex without its '^' anchor, so it reaches back over its own sentence (not over"
    " a full stop: 'legs felt heavy. that wore off' is lost) and is not limited to the clause just before"
    ' it',
    'max_scope counts tokens, not words: N words between trigger and finding become max_scope N+1 tokens;'
    " punctuation and split clitics ('she's' is two tokens) count as tokens, so a scope reaches slightly "
    'less far',
    'TERMINATE words (terminated_by [TERMINATE]) are a PSEUDO-direction modifier of category TERMINATE '
    "named in the rules' terminated_by, because medspaCy's TERMINATE direction would also end the "
    "hypothetical scope, which context.yaml says is not ended by them ('if she suddenly develops ...')",
    'clause breaks (sentence marks, spaced dash, colon, but/however/...) are sentences (sentencizer) and '
    "TERMINATE-direction rules; medspaCy's regex matcher snaps a break inside a token ('38.5') to the "
    'token',
    'a trigger inside a finding: context.py ignores a trigger lying inside any finding; medspaCy '
    '(prune_on_target_overlap=True) drops any modifier overlapping a target, terminators and breaks '
    "included, so a terminate word inside another finding ('new weakness') does not end a scope",
    'overlapping triggers: medspaCy keeps only the longest of overlapping modifier matches, whatever '
    'their categories (that is how PSEUDO works); context.py lets each rule match independently, so a '
    "word that is a trigger of two categories ('resolved': negation-after and resolved) sets both there, "
    'one here',
    "same-category scopes: medspaCy cuts a modifier's scope at the next modifier of the same category; "
    'context.py does not (it only asks whether any trigger reaches the finding)',
    "medspaCy 1.3.1 defect: its tuple_overlaps(a, b) is true only when b starts or ends inside a, so a "
    'scope that lies strictly inside its sentence (narrowed by max_scope or by a same-category modifier) is '
    'never cut by a TERMINATE or terminated_by modifier, whose scope is the whole sentence. With medspaCy\'s '
    'own TargetRule and ConTextRule("no", FORWARD, max_scope=6) plus "but" TERMINATE: "no headache but leg '
    'weakness" is not negated, "no headache but leg weakness and the patient is otherwise well today at '
    'home with family" is. The engines marked "+fix" replace that one function to show its share',
    'what the on_modifies callbacks ("medspacy+cb") close: per-direction word limits and windows, comma '
    'segments, list items, words counted as context.py counts them, and following_clause only reaching the '
    'clause right after the finding. What they cannot close: overlapping triggers of two categories, '
    'same-category scope cuts, sentence ends before a following clause, and the defect above',
]


# --- the translation ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']+")  # a word, as context.py counts them


def _words_to_tokens(words: int) -> int:
    """context.yaml's max_scope is 'at most N words between'; medspaCy's is a scope of N tokens from the
    trigger, which a target must overlap: N words between is N + 1 tokens of scope."""
    return words + 1


def _token_aligned(pattern: str) -> str:
    """medspaCy's regex matcher snaps a match to whole tokens; a break that starts or ends on a space
    (' - ', ': ') would snap onto the neighbouring words (and be dropped when that word is a finding), so the
    spaces become look-arounds: the same places, matched on the punctuation token alone."""
    for spaced, aligned in ((r"\s-\s", r"(?<=\s)-(?=\s)"), (r":\s", r":(?=\s)")):
        if spaced not in pattern:
            raise ValueError(f"clause_breaks changed: {spaced!r} not found; update the translation")
        pattern = pattern.replace(spaced, aligned)
    return pattern


class _Window:
    """on_modifies for the callback variant: what context.yaml's windows say and medspaCy's scopes cannot
    (per-direction word limits and windows, list items, the clause right after the finding)."""

    def __init__(self, rule: ModifierRule):
        self.rule = rule

    def __call__(self, target: Any, modifier: Any, between: Any) -> bool:
        text = target.doc.text
        if self.rule.direction == "following_clause":
            brk = RULESET.context.clause_breaks.search(text, target.end_char)
            if brk is None:
                return False
            after_break = text[brk.end():modifier.start_char]
            return brk.start() <= modifier.start_char and not _WORD.search(after_break)
        forward = modifier.end <= target.start
        scope = self.rule.forward if forward else self.rule.backward
        if scope is None:
            return False
        if forward:
            gap = text[modifier.end_char:target.start_char]
        else:
            gap = text[target.end_char:modifier.start_char]
        if len(_WORD.findall(gap)) > scope.max_scope:
            return False
        if "," not in gap or scope.window == "clause":
            return True
        if scope.window == "comma_segment":
            return False
        return _list_item(text, target.start_char)  # clause_through_list_items


def _list_item(text: str, pos: int) -> bool:
    """Is the comma segment around `pos` a short list item ("denies CP, SOB, palpitations")?"""
    ctx = RULESET.context
    lo = max(text.rfind(",", 0, pos) + 1, max((m.end() for m in ctx.clause_breaks.finditer(text, 0, pos)),
                                                  default=0))
    ends = [i for i in (text.find(",", pos),) if i >= 0]
    brk = ctx.clause_breaks.search(text, pos)
    ends += [brk.start()] if brk else []
    segment = text[lo:min(ends, default=len(text))]
    return len(_WORD.findall(segment)) <= ctx.list_item_max_words and not ctx.not_a_list_item.search(segment)


def _rule(rule: ModifierRule, callbacks: bool) -> Any:
    from medspacy.context import ConTextRule

    pattern = rule.pattern.pattern
    category = rule.category.upper()
    on_modifies = _Window(rule) if callbacks else None
    if rule.direction == "following_clause":
        stripped = pattern[len("^\\W*"):] if pattern.startswith("^\\W*") else pattern.lstrip("^")
        return ConTextRule(rule.id, category, pattern=r"\b" + stripped, direction="BACKWARD",
                           on_modifies=on_modifies)
    scopes = [s for s in (rule.forward, rule.backward) if s is not None]
    comma_only = all(s.window == "comma_segment" for s in scopes)
    terminated_by = {"TERMINATE"} if rule.terminated else set()
    if not callbacks and comma_only:
        terminated_by.add("COMMA")
    return ConTextRule(
        rule.id, category, pattern=pattern, direction=rule.direction.upper(), on_modifies=on_modifies,
        # with callbacks the words are counted there; the token scope only has to be wide enough
        max_scope=None if callbacks else _words_to_tokens(max(s.max_scope for s in scopes)),
        terminated_by=terminated_by,
    )


def translate(callbacks: bool = False) -> list[Any]:
    """context.yaml as medspaCy ConTextRules: one rule per modifier (its patterns as one regex, the same
    string context.py compiles), plus the clause breaks, TERMINATE words, commas and PSEUDO phrases.
    `callbacks` adds an on_modifies function per rule for what the declarative fields cannot say."""
    from medspacy.context import ConTextRule

    ctx = RULESET.context
    rules = [_rule(r, callbacks) for r in ctx.modifiers]
    rules.append(ConTextRule("clause break", "CLAUSE_BREAK",
                             pattern=_token_aligned(ctx.clause_breaks.pattern), direction="TERMINATE"))
    rules.append(ConTextRule("terminate word", "TERMINATE", pattern=ctx.terminate.pattern,
                             direction="PSEUDO"))
    rules.append(ConTextRule("comma", "COMMA", pattern=",", direction="PSEUDO"))
    rules.append(ConTextRule("pseudo", "PSEUDO", pattern=ctx.pseudo.pattern, direction="PSEUDO"))
    return rules


def _symmetric_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Do two token spans share a token? (medspaCy 1.3.1's `tuple_overlaps` misses one span lying strictly
    inside the other: a scope narrowed inside its sentence then ignores the sentence-wide terminators.)"""
    return a[0] < b[1] and b[0] < a[1]


class MedspacyEngine:
    """A blank English pipeline (tokenizer, sentencizer) with medspaCy's ConText and the translated rules.
    `fix_overlap` runs ConText with `tuple_overlaps` replaced by a symmetric test, to show how much of the
    difference that one function makes (medspaCy as shipped runs without it)."""

    def __init__(self, callbacks: bool = False, fix_overlap: bool = False) -> None:
        import medspacy  # noqa: F401  (registers the medspacy_context factory)
        import spacy

        self.nlp = spacy.blank("en")
        self.sentencizer = self.nlp.add_pipe("sentencizer")
        self.context = self.nlp.add_pipe("medspacy_context", config={
            "rules": None, "span_attrs": None, "input_span_type": "group", "span_group_name": SPAN_GROUP,
            "prune_on_target_overlap": True,
        })
        self.context.add(translate(callbacks))
        self.fix_overlap = fix_overlap

    def categories(self, norm: str, findings: list[Finding]) -> dict[tuple[int, int], set[str]]:
        """For each finding's character span, the modifier categories ConText attached to it."""
        doc = self.sentencizer(self.nlp.make_doc(norm))
        spans: list[Any] = []
        keys: list[tuple[int, int]] = []
        for f in findings:
            span = doc.char_span(f.start, f.end, label=f.category, alignment_mode="expand")
            if span is not None:
                spans.append(span)
                keys.append((f.start, f.end))
        doc.spans[SPAN_GROUP] = spans
        if self.fix_overlap:
            from medspacy.context import context_graph, context_modifier

            saved = context_modifier.tuple_overlaps, context_graph.tuple_overlaps
            context_modifier.tuple_overlaps = context_graph.tuple_overlaps = _symmetric_overlap
            try:
                doc = self.context(doc)
            finally:
                context_modifier.tuple_overlaps, context_graph.tuple_overlaps = saved
        else:
            doc = self.context(doc)
        by_tokens: dict[tuple[int, int], set[str]] = defaultdict(set)
        for target, modifier in doc._.context_graph.edges:
            by_tokens[(target.start, target.end)].add(modifier.category.lower())
        return {key: by_tokens.get((span.start, span.end), set())
                for key, span in zip(keys, spans, strict=True)}


def medspacy_context(callbacks: bool, fix_overlap: bool = False) -> type:
    """A drop-in for context.Context (same constructor, same `modifiers`), decided by medspaCy's ConText."""
    built = MedspacyEngine(callbacks, fix_overlap)

    class MedspacyContext:
        def __init__(self, norm: str, findings: list[Finding]):
            self._cats = built.categories(norm, findings)

        def modifiers(self, f: Finding) -> Modifiers:
            cats = self._cats.get((f.start, f.end), set())
            return Modifiers(**{c: c in cats for c in CATEGORIES})

    return MedspacyContext


_ENGINES: dict[str, Any] = {}


def engines() -> dict[str, Any]:
    """The engines compared: the own context.py; medspaCy with the translated rules, declarative only
    ("medspacy") and with on_modifies callbacks ("medspacy+cb"); and both with medspaCy's overlap test made
    symmetric ("+fix": not medspaCy as shipped, it shows what that one defect costs)."""
    if not _ENGINES:
        _ENGINES.update({"own": Context, "medspacy": medspacy_context(False),
                         "medspacy+fix": medspacy_context(False, fix_overlap=True),
                         "medspacy+cb": medspacy_context(True),
                         "medspacy+cb+fix": medspacy_context(True, fix_overlap=True)})
    return _ENGINES


# --- the data ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    author: str
    id: str
    label: bool
    text: str
    history: list[dict]


def cases() -> list[Case]:
    """Every labelled red-flag text: the project's own set and every independent author's batch."""
    out = [Case("own (redflag.jsonl)", i.id, i.label, i.text, i.history)
           for i in load_redflag(DATASETS_DIR / "redflag.jsonl").items]
    for batch in load_batches("redflag"):
        out += [Case(batch.author, i.id, i.label, i.text, i.history) for i in batch.items]
    return out


def screened_texts(case: Case) -> list[str]:
    """The texts the guardrail reads for a case: the question and the latest user turn of the history."""
    texts = [case.text]
    users = [t.get("content") for t in case.history if t.get("role") == "user" and t.get("content")]
    if users:
        texts.append(str(users[-1]))
    return texts


def pieces(text: str) -> Iterator[tuple[str, list[Finding]]]:
    """(normalised piece, findings judged) as the detector reads them (800-character pieces, MAX_JUDGED)."""
    text = clean_text(text)
    for piece in [text] if len(text) <= detector.MAX_CHUNK else detector.chunks(text):
        norm = normalise(piece)
        found = (lexical_findings(norm) + vital_findings(norm))[:detector.MAX_JUDGED]
        if found:
            yield norm, found


# --- measurements ------------------------------------------------------------------------------------------

def modifier_agreement(all_cases: list[Case], name: str) -> dict:
    """Per finding: does engine `name` give the same five modifier flags as context.py? Per category: who
    sets it."""
    other = engines()[name]
    total = same = same_active = 0
    per_cat: dict[str, Counter] = {c: Counter() for c in CATEGORIES}
    examples: list[dict] = []
    for case in all_cases:
        for text in screened_texts(case):
            for norm, found in pieces(text):
                own_ctx, ms_ctx = Context(norm, found), other(norm, found)
                for f in found:
                    a, b = own_ctx.modifiers(f), ms_ctx.modifiers(f)
                    total += 1
                    same += a == b
                    same_active += a.active == b.active
                    for c in CATEGORIES:
                        per_cat[c][(getattr(a, c), getattr(b, c))] += 1
                    if a != b and case.author.startswith("own") and len(examples) < 25:
                        examples.append({"id": case.id, "finding": norm[f.start:f.end], "own": a.reasons(),
                                         name: b.reasons(), "text": norm[:200]})
    return {
        "findings": total, "all_five_agree": same, "active_agrees": same_active,
        "per_category": {c: {"both": n[(True, True)], "own_only": n[(True, False)],
                             "other_only": n[(False, True)], "neither": n[(False, False)]}
                         for c, n in per_cat.items()},
        "examples_own_set": examples,
    }


def rules_guard() -> Any:
    """The rule layer alone: no learned model, no exemplar net (Guardrail with neither)."""
    from service.guardrails import Guardrail
    from service.guardrails.guidance import load_guidance

    return Guardrail(load_guidance(ROOT / "corpus" / "guardrails"))


def _use(context_cls: type) -> None:
    setattr(detector, "Context", context_cls)  # noqa: B010  (a module attribute swapped for the run)
    detector._detect_piece.cache_clear()


def _rotations(names: list[str], n: int) -> list[str]:
    """The engines in a rotating order, so no engine always runs first (warm caches, frequency steps)."""
    k = n % len(names)
    return names[k:] + names[:k]


def verdicts_and_latency(all_cases: list[Case], repeats: int) -> dict:
    """Rule-layer verdict per case with each engine, and the time of one rules check per case, the engines
    interleaved case by case in one run (the order rotates; the detector's memo is cleared each time). The
    time per case is the least of `repeats` runs: the machine is shared, and the least is the one least
    disturbed by other work."""
    guard = rules_guard()
    names = list(engines())
    flagged: dict[str, dict[str, bool]] = {name: {} for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        for n, case in enumerate(all_cases):
            best: dict[str, float] = {}
            for r in range(repeats):
                for name in _rotations(names, n + r):
                    _use(engines()[name])
                    t0 = time.perf_counter()
                    hit = guard.check(case.text, case.history)
                    took = (time.perf_counter() - t0) * 1000
                    best[name] = min(best.get(name, took), took)
                    flagged[name][f"{case.author}/{case.id}"] = hit is not None
            for name, took in best.items():
                times[name].append(took)
    finally:
        _use(Context)
    per_author: dict[str, dict] = {}
    for case in all_cases:
        row = per_author.setdefault(case.author, {"positives": 0, "negatives": 0,
                                                  **{name: Counter() for name in names}})
        row["positives" if case.label else "negatives"] += 1
        for name in names:
            hit = flagged[name][f"{case.author}/{case.id}"]
            row[name]["hits" if case.label and hit else "alarms" if hit and not case.label else "none"] += 1
    differ = {name: [k for k in flagged["own"] if flagged["own"][k] != flagged[name][k]]
              for name in names[1:]}
    return {"per_author": per_author, "cases": len(all_cases),
            "verdicts_differ": {name: len(keys) for name, keys in differ.items()},
            "differ_own_set": {name: [k for k in keys if k.startswith("own")][:20]
                               for name, keys in differ.items()},
            "latency_ms": {name: _quantiles(t) for name, t in times.items()}}


def context_step_latency(all_cases: list[Case], repeats: int) -> dict:
    """The modifier step alone (build the context, ask it about every finding), the engines interleaved,
    the least of `repeats` runs per case."""
    names = list(engines())
    times: dict[str, list[float]] = {name: [] for name in names}
    for n, case in enumerate(all_cases):
        work = [p for text in screened_texts(case) for p in pieces(text)]
        if not work:
            continue
        best: dict[str, float] = {}
        for r in range(repeats):
            for name in _rotations(names, n + r):
                t0 = time.perf_counter()
                for norm, found in work:
                    ctx = engines()[name](norm, found)
                    for f in found:
                        ctx.modifiers(f)
                took = (time.perf_counter() - t0) * 1000
                best[name] = min(best.get(name, took), took)
        for name, took in best.items():
            times[name].append(took)
    return {"texts_with_findings": len(times["own"]),
            "latency_ms": {name: _quantiles(t) for name, t in times.items()}}


def _quantiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "mean": statistics.fmean(values)}


# --- the modifier unit cases of the tests ------------------------------------------------------------------

# test function -> what its cases assert: an exact reasons() list, or one Modifiers field
UNIT_TESTS = {
    "tests/test_guardrail_modifiers.py": {"test_each_scope_modifies_only_what_it_reaches": "reasons"},
    "tests/test_guardrail_rules_data.py": {
        "test_negation_before_the_finding_stops_at_its_scope": "negated",
        "test_negation_after_the_finding_stays_in_its_comma_segment": "negated",
        "test_a_pseudo_trigger_negates_nothing": "no reasons",
        "test_history_scope": "historical",
        "test_resolved_scope": "resolved",
        "test_experiencer_scope": "experiencer",
        "test_hypothetical_scope": "hypothetical",
    },
}
EXTRA_UNIT_CASES = [  # a test with one case, not parametrised
    ("test_the_same_negation_word_outside_a_pseudo_trigger_negates", "negated",
     ("no fluids and leg weakness", "leg weakness", True)),
]


def unit_cases() -> list[tuple[str, str, tuple]]:
    """The parametrised modifier cases of the two test files, read from their source (not imported, so pytest
    is not needed here): (test, what is asserted, case)."""
    out: list[tuple[str, str, tuple]] = []
    for rel, wanted in UNIT_TESTS.items():
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in wanted:
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith("parametrize"):
                        for case in ast.literal_eval(deco.args[1]):
                            out.append((node.name, wanted[node.name], tuple(case)))
    return out + EXTRA_UNIT_CASES


def run_unit_cases() -> dict:
    """Each case through every engine, scored against the test's expectation."""
    results: dict[str, Counter] = defaultdict(Counter)
    wrong: dict[str, list[dict]] = defaultdict(list)
    for test, what, case in unit_cases():
        text, phrase, expected = case if len(case) == 3 else (*case, [])
        norm = normalise(text)
        start = norm.index(phrase)
        f = Finding("test", "test-rule", TRIGGER, start, start + len(phrase))
        for name, cls in engines().items():
            m = cls(norm, [f]).modifiers(f)
            if what == "reasons":
                ok = m.reasons() == expected
            elif what == "no reasons":
                ok = m.reasons() == []
            else:
                ok = getattr(m, what) is expected
            results[name]["right" if ok else "wrong"] += 1
            if not ok:
                wrong[name].append({"test": test, "text": text, "finding": phrase, "expected": expected,
                                    "got": m.reasons()})
    return {"cases": len(unit_cases()), "right": {name: results[name]["right"] for name in engines()},
            "wrong": dict(wrong)}


# --- report ------------------------------------------------------------------------------------------------

def _rate(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.3f}" if n else "-"


def report(result: dict) -> str:
    names = list(result["unit_cases"]["right"])
    lines = ["## Modifier decisions against context.py (per finding, every labelled text)", ""]
    for name, agr in result["agreement"].items():
        lines.append(f"- {name}: {agr['findings']} findings; all five modifiers agree "
                     f"{_rate(agr['all_five_agree'], agr['findings'])}; active/not agrees "
                     f"{_rate(agr['active_agrees'], agr['findings'])}")
    lines += ["", "| modifier | " + " | ".join(f"{n}: both / own only / {n} only" for n in names[1:]) + " |",
              "| --- |" + " --- |" * (len(names) - 1)]
    for c in CATEGORIES:
        cells = [result["agreement"][n]["per_category"][c] for n in names[1:]]
        lines.append(f"| {c} | " + " | ".join(f"{x['both']} / {x['own_only']} / {x['other_only']}"
                                               for x in cells) + " |")
    ver = result["verdicts"]
    lines += ["", "## Rule-layer verdict per author (rules alone: no learned layer, no exemplars)", "",
              "| author | " + " | ".join(f"{n}: recall | {n}: false alarms" for n in names) + " |",
              "| --- |" + " --- | --- |" * len(names)]
    tot: Counter = Counter()
    for author, row in ver["per_author"].items():
        p, n = row["positives"], row["negatives"]
        tot.update({"p": p, "n": n})
        cells = []
        for name in names:
            tot.update({f"{name}/h": row[name]["hits"], f"{name}/a": row[name]["alarms"]})
            cells += [_rate(row[name]["hits"], p), _rate(row[name]["alarms"], n)]
        lines.append(f"| {author} | " + " | ".join(cells) + " |")
    lines.append("| all | " + " | ".join(
        f"{_rate(tot[f'{m}/h'], tot['p'])} | {_rate(tot[f'{m}/a'], tot['n'])}" for m in names) + " |")
    lines += [""] + [f"verdicts differ from the own engine's: {name} {k}/{ver['cases']} cases"
                     for name, k in ver["verdicts_differ"].items()]
    runs = result["versions"]["repeats"]
    lines += ["", f"## Latency (ms per case, same run, engines interleaved, least of {runs} runs)", "",
              "| what | engine | p50 | p95 | ratio to own p50 | ratio to own p95 |",
              "| --- | --- | --- | --- | --- | --- |"]
    step = result["context_step"]
    for label, lat in ((f"rules check ({ver['cases']} cases)", ver["latency_ms"]),
                       (f"modifier step ({step['texts_with_findings']} cases with findings)",
                        step["latency_ms"])):
        for name in names:
            lines.append(f"| {label} | {name} | {lat[name]['p50']:.3f} | {lat[name]['p95']:.3f} | "
                         f"{lat[name]['p50'] / lat['own']['p50']:.1f}x | "
                         f"{lat[name]['p95'] / lat['own']['p95']:.1f}x |")
    unit = result["unit_cases"]
    lines += ["", "## The tests' modifier cases", "",
              "(tests/test_guardrail_modifiers.py and tests/test_guardrail_rules_data.py)", ""]
    lines += [f"- {name}: {right}/{unit['cases']} right" for name, right in unit["right"].items()]
    for name, wrong in unit["wrong"].items():
        lines += [f"  - {name} wrong: {w['test']}: {w['text']!r} [{w['finding']}] "
                  f"expected {w['expected']!r}, "
                  f"got {w['got']}" for w in wrong]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every figure (and the gaps) to this file")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per case and engine (the least counts)")
    args = parser.parse_args(argv)
    try:
        import medspacy
        import spacy
    except ImportError as exc:  # not a project dependency: say where it is expected
        raise SystemExit(f"medspacy is not installed in this interpreter ({exc}); run this script in the "
                         "separate virtualenv described in its docstring") from exc

    all_cases = cases()
    engines()  # build the pipelines before anything is timed
    result = {
        "versions": {"medspacy": medspacy.__version__, "spacy": spacy.__version__, "rules": RULES_VERSION,
                     "repeats": args.repeats},
        "gaps": GAPS,
        "unit_cases": run_unit_cases(),
        "agreement": {name: modifier_agreement(all_cases, name) for name in list(engines())[1:]},
        "verdicts": verdicts_and_latency(all_cases, args.repeats),
        "context_step": context_step_latency(all_cases, args.repeats),
    }
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
