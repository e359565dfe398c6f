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
]


# --- the translation ---------------------------------------------------------------------------------------

def _words_to_tokens(words: int) -> int:
    """context.yaml's max_scope is 'at most N words between'; medspaCy's is a scope of N tokens from the
    trigger, which a target must overlap: N words between is N + 1 tokens of scope."""
    return words + 1


def _rule(rule: ModifierRule) -> Any:
    from medspacy.context import ConTextRule

    pattern = rule.pattern.pattern
    category = rule.category.upper()
    if rule.direction == "following_clause":
        stripped = pattern[len("^\\W*"):] if pattern.startswith("^\\W*") else pattern.lstrip("^")
        return ConTextRule(rule.id, category, pattern=r"\b" + stripped, direction="BACKWARD")
    scopes = [s for s in (rule.forward, rule.backward) if s is not None]
    comma_only = all(s.window == "comma_segment" for s in scopes)
    terminated_by = ({"TERMINATE"} if rule.terminated else set()) | ({"COMMA"} if comma_only else set())
    return ConTextRule(
        rule.id, category, pattern=pattern, direction=rule.direction.upper(),
        max_scope=_words_to_tokens(max(s.max_scope for s in scopes)), terminated_by=terminated_by,
    )


def translate() -> list[Any]:
    """context.yaml as medspaCy ConTextRules: one rule per modifier (its patterns as one regex, the same
    string context.py compiles), plus the clause breaks, TERMINATE words, commas and PSEUDO phrases."""
    from medspacy.context import ConTextRule

    ctx = RULESET.context
    rules = [_rule(r) for r in ctx.modifiers]
    rules.append(ConTextRule("clause break", "CLAUSE_BREAK", pattern=ctx.clause_breaks.pattern,
                             direction="TERMINATE"))
    rules.append(ConTextRule("terminate word", "TERMINATE", pattern=ctx.terminate.pattern,
                             direction="PSEUDO"))
    rules.append(ConTextRule("comma", "COMMA", pattern=",", direction="PSEUDO"))
    rules.append(ConTextRule("pseudo", "PSEUDO", pattern=ctx.pseudo.pattern, direction="PSEUDO"))
    return rules


class MedspacyEngine:
    """A blank English pipeline (tokenizer, sentencizer) with medspaCy's ConText and the translated rules."""

    def __init__(self) -> None:
        import medspacy  # noqa: F401  (registers the medspacy_context factory)
        import spacy

        self.nlp = spacy.blank("en")
        self.sentencizer = self.nlp.add_pipe("sentencizer")
        self.context = self.nlp.add_pipe("medspacy_context", config={
            "rules": None, "span_attrs": None, "input_span_type": "group", "span_group_name": SPAN_GROUP,
            "prune_on_target_overlap": True,
        })
        self.context.add(translate())

    def categories(self, norm: str, findings: list[Finding]) -> dict[tuple[int, int], set[str]]:
        """For each finding's character span, the modifier categories ConText attached to it."""
        doc = self.sentencizer(self.nlp.make_doc(norm))
        spans, keys = [], []
        for f in findings:
            span = doc.char_span(f.start, f.end, label=f.category, alignment_mode="expand")
            if span is not None:
                spans.append(span)
                keys.append((f.start, f.end))
        doc.spans[SPAN_GROUP] = spans
        doc = self.context(doc)
        by_tokens: dict[tuple[int, int], set[str]] = defaultdict(set)
        for target, modifier in doc._.context_graph.edges:
            by_tokens[(target.start, target.end)].add(modifier.category.lower())
        return {key: by_tokens.get((span.start, span.end), set())
                for key, span in zip(keys, spans, strict=True)}


_ENGINE: MedspacyEngine | None = None


def engine() -> MedspacyEngine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = MedspacyEngine()
    return _ENGINE


class MedspacyContext:
    """Drop-in for context.Context (same constructor, same `modifiers`), decided by medspaCy's ConText."""

    def __init__(self, norm: str, findings: list[Finding]):
        self._cats = engine().categories(norm, findings)

    def modifiers(self, f: Finding) -> Modifiers:
        cats = self._cats.get((f.start, f.end), set())
        return Modifiers(**{c: c in cats for c in CATEGORIES})


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
        texts.append(users[-1])
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

def modifier_agreement(all_cases: list[Case]) -> dict:
    """Per finding: do the two engines give the same five modifier flags? Per category: who sets it."""
    total = same = same_active = 0
    per_cat: dict[str, Counter] = {c: Counter() for c in CATEGORIES}
    examples: list[dict] = []
    for case in all_cases:
        for text in screened_texts(case):
            for norm, found in pieces(text):
                own_ctx, ms_ctx = Context(norm, found), MedspacyContext(norm, found)
                for f in found:
                    a, b = own_ctx.modifiers(f), ms_ctx.modifiers(f)
                    total += 1
                    same += a == b
                    same_active += a.active == b.active
                    for c in CATEGORIES:
                        per_cat[c][(getattr(a, c), getattr(b, c))] += 1
                    if a != b and case.author.startswith("own") and len(examples) < 12:
                        examples.append({"id": case.id, "finding": norm[f.start:f.end], "own": a.reasons(),
                                         "medspacy": b.reasons(), "text": norm[:200]})
    return {
        "findings": total, "all_five_agree": same, "active_agrees": same_active,
        "per_category": {c: {"both": n[(True, True)], "own_only": n[(True, False)],
                             "medspacy_only": n[(False, True)], "neither": n[(False, False)]}
                         for c, n in per_cat.items()},
        "examples_own_set": examples,
    }


def rules_guard() -> Any:
    """The rule layer alone: no learned model, no exemplar net (Guardrail with neither)."""
    from service.guardrails import Guardrail
    from service.guardrails.guidance import load_guidance

    return Guardrail(load_guidance(ROOT / "corpus" / "guardrails"))


def _use(context_cls: type) -> None:
    detector.Context = context_cls  # type: ignore[misc,assignment]
    detector._detect_piece.cache_clear()


def verdicts_and_latency(all_cases: list[Case]) -> dict:
    """Rule-layer verdict per case with each engine, and the time of one rules check per case, both engines
    interleaved case by case in one run (the order alternates; the detector's memo is cleared each time)."""
    guard = rules_guard()
    engine()  # build the pipeline before timing
    flagged: dict[str, dict[str, bool]] = {"own": {}, "medspacy": {}}
    times: dict[str, list[float]] = {"own": [], "medspacy": []}
    classes = {"own": Context, "medspacy": MedspacyContext}
    try:
        for n, case in enumerate(all_cases):
            order = ("own", "medspacy") if n % 2 == 0 else ("medspacy", "own")
            for name in order:
                _use(classes[name])
                t0 = time.perf_counter()
                hit = guard.check(case.text, case.history)
                times[name].append((time.perf_counter() - t0) * 1000)
                flagged[name][f"{case.author}/{case.id}"] = hit is not None
    finally:
        _use(Context)
    per_author: dict[str, dict] = {}
    for case in all_cases:
        row = per_author.setdefault(case.author, {"positives": 0, "negatives": 0,
                                                  "own": Counter(), "medspacy": Counter()})
        row["positives" if case.label else "negatives"] += 1
        for name in ("own", "medspacy"):
            hit = flagged[name][f"{case.author}/{case.id}"]
            row[name]["hits" if case.label and hit else "alarms" if hit and not case.label else "none"] += 1
    differ = [k for k in flagged["own"] if flagged["own"][k] != flagged["medspacy"][k]]
    return {"per_author": per_author, "verdicts_differ": len(differ), "cases": len(all_cases),
            "differ_own_set": [k for k in differ if k.startswith("own")][:20],
            "latency_ms": {name: _quantiles(t) for name, t in times.items()},
            "ratio_p50": _quantiles(times["medspacy"])["p50"] / _quantiles(times["own"])["p50"],
            "ratio_p95": _quantiles(times["medspacy"])["p95"] / _quantiles(times["own"])["p95"]}


def context_step_latency(all_cases: list[Case]) -> dict:
    """The modifier step alone (build the context, ask it about every finding), both engines interleaved."""
    times: dict[str, list[float]] = {"own": [], "medspacy": []}
    classes = {"own": Context, "medspacy": MedspacyContext}
    for n, case in enumerate(all_cases):
        work = [p for text in screened_texts(case) for p in pieces(text)]
        if not work:
            continue
        for name in ("own", "medspacy") if n % 2 == 0 else ("medspacy", "own"):
            t0 = time.perf_counter()
            for norm, found in work:
                ctx = classes[name](norm, found)
                for f in found:
                    ctx.modifiers(f)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {"texts_with_findings": len(times["own"]),
            "latency_ms": {name: _quantiles(t) for name, t in times.items()},
            "ratio_p50": _quantiles(times["medspacy"])["p50"] / _quantiles(times["own"])["p50"],
            "ratio_p95": _quantiles(times["medspacy"])["p95"] / _quantiles(times["own"])["p95"]}


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
    """Each case through both engines, scored against the test's expectation."""
    results: dict[str, Counter] = defaultdict(Counter)
    failures: list[dict] = []
    for test, what, case in unit_cases():
        text, phrase, expected = case if len(case) == 3 else (*case, [])
        norm = normalise(text)
        start = norm.index(phrase)
        f = Finding("test", "test-rule", TRIGGER, start, start + len(phrase))
        for name, cls in (("own", Context), ("medspacy", MedspacyContext)):
            m = cls(norm, [f]).modifiers(f)
            if what == "reasons":
                ok = m.reasons() == expected
            elif what == "no reasons":
                ok = m.reasons() == []
            else:
                ok = getattr(m, what) is expected
            results[name]["right" if ok else "wrong"] += 1
            if not ok and name == "medspacy":
                failures.append({"test": test, "text": text, "finding": phrase, "expected": expected,
                                 "medspacy": m.reasons()})
    return {"cases": len(unit_cases()), "own": dict(results["own"]), "medspacy": dict(results["medspacy"]),
            "medspacy_wrong": failures}


# --- report ------------------------------------------------------------------------------------------------

def _rate(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.3f}" if n else "-"


def report(result: dict) -> str:
    lines = ["## Modifier decisions (per finding, every labelled text)", ""]
    agr = result["agreement"]
    lines.append(f"findings: {agr['findings']}; all five modifiers agree: "
                 f"{_rate(agr['all_five_agree'], agr['findings'])}; active/not agrees: "
                 f"{_rate(agr['active_agrees'], agr['findings'])}")
    lines += ["", "| modifier | both | own only | medspaCy only |", "| --- | --- | --- | --- |"]
    for c, n in agr["per_category"].items():
        lines.append(f"| {c} | {n['both']} | {n['own_only']} | {n['medspacy_only']} |")
    ver = result["verdicts"]
    lines += ["", "## Rule-layer verdict per author (rules alone)", "",
              "| author | own: recall | own: false alarms | medspaCy: recall | medspaCy: false alarms |",
              "| --- | --- | --- | --- | --- |"]
    tot: Counter = Counter()
    for author, row in ver["per_author"].items():
        p, n = row["positives"], row["negatives"]
        tot.update({"p": p, "n": n, "oh": row["own"]["hits"], "oa": row["own"]["alarms"],
                    "mh": row["medspacy"]["hits"], "ma": row["medspacy"]["alarms"]})
        lines.append(f"| {author} | {_rate(row['own']['hits'], p)} | {_rate(row['own']['alarms'], n)} | "
                     f"{_rate(row['medspacy']['hits'], p)} | {_rate(row['medspacy']['alarms'], n)} |")
    lines.append(f"| all | {_rate(tot['oh'], tot['p'])} | {_rate(tot['oa'], tot['n'])} | "
                 f"{_rate(tot['mh'], tot['p'])} | {_rate(tot['ma'], tot['n'])} |")
    lines.append(f"\nverdicts differ on {ver['verdicts_differ']}/{ver['cases']} cases")
    lat, step = ver["latency_ms"], result["context_step"]
    lines += ["", "## Latency (ms, same run, interleaved)", "",
              "| what | own p50 | own p95 | medspaCy p50 | medspaCy p95 | ratio p50 | ratio p95 |",
              "| --- | --- | --- | --- | --- | --- | --- |",
              f"| rules check per case | {lat['own']['p50']:.3f} | {lat['own']['p95']:.3f} | "
              f"{lat['medspacy']['p50']:.3f} | {lat['medspacy']['p95']:.3f} | {ver['ratio_p50']:.1f}x | "
              f"{ver['ratio_p95']:.1f}x |",
              f"| modifier step per case ({step['texts_with_findings']} with findings) | "
              f"{step['latency_ms']['own']['p50']:.3f} | {step['latency_ms']['own']['p95']:.3f} | "
              f"{step['latency_ms']['medspacy']['p50']:.3f} | {step['latency_ms']['medspacy']['p95']:.3f} | "
              f"{step['ratio_p50']:.1f}x | {step['ratio_p95']:.1f}x |"]
    unit = result["unit_cases"]
    lines += ["", "## The tests' modifier cases", "",
              f"own: {unit['own'].get('right', 0)}/{unit['cases']} right; medspaCy translation: "
              f"{unit['medspacy'].get('right', 0)}/{unit['cases']} right"]
    lines += [f"- wrong: {w['test']}: {w['text']!r} [{w['finding']}] expected {w['expected']!r}, "
              f"got {w['medspacy']}" for w in unit["medspacy_wrong"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write every figure (and the gaps) to this file")
    args = parser.parse_args(argv)
    import medspacy
    import spacy

    all_cases = cases()
    result = {
        "versions": {"medspacy": medspacy.__version__, "spacy": spacy.__version__,
                     "rules": RULES_VERSION},
        "gaps": GAPS,
        "unit_cases": run_unit_cases(),
        "agreement": modifier_agreement(all_cases),
        "verdicts": verdicts_and_latency(all_cases),
        "context_step": context_step_latency(all_cases),
    }
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
