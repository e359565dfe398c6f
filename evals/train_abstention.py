"""Train the learned abstention decision (service/abstention_model.py) on the tuning authors' questions.

`python -m evals.train_abstention` ingests the corpora the tuning authors' questions use (the evals' cached
stores, evals/server.py), runs every question — in scope and out of scope — through the service's own
pipeline in process (plan → retrieve → judge support) and takes its support signals
(service/abstention_features.py) with a label: does the author say the content answers it? Then:

* leave-one-author-out over the tuning authors: fit on the others, score the held one. The threshold of each
  fold is itself chosen by leave-one-author-out *inside* the training authors (their out-of-fold
  probabilities, pooled), so the held author decides nothing about its own fold. Every fold reports false
  abstentions (in-scope questions abstained) and out-of-scope questions abstained, beside the hand-set
  rule's figures on the same questions;
* the regularisation C (from C_GRID) is chosen with the threshold, the same nested way;
* the shipped weights: fitted on all tuning authors with the C and threshold minimising the cost over all
  authors' out-of-fold probabilities, written to service/data/abstention.json with the fold figures.

Cost (docs/answering.md says why): one false abstention = COST_FALSE_ABSTENTION, one answered out-of-scope
question = COST_ANSWERED_OUT_OF_SCOPE, counted per question.

Deterministic: the stores are built from fixed files, questions are read in file order, and the fit is a
logistic regression with the lbfgs solver (no randomness). In process, the red-flag screen is not applied
(it does not decide abstention), so these counts differ from the HTTP suite's by the banners. Only the
tuning authors' questions are used: the loader parses every batch file, and the other authors' items are
dropped by name before anything is computed, printed or kept.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.authors import ANSWERS_TUNING, KeyFactItem, load_batches, named
from evals.in_process import fit_standardised_logistic, retrieved_questions
from service.abstention_features import FEATURES
from service.abstention_model import WEIGHTS_PATH, AbstentionModel

TUNING_AUTHORS = ANSWERS_TUNING  # one list for both trainers (evals/authors.py)
# the regression's inverse regularisation: chosen with the threshold by leave-one-author-out (nested inside
# each reported fold), from this fixed grid
C_GRID = (0.03, 0.1, 0.3, 1.0)
MAX_ITER = 2000
COST_FALSE_ABSTENTION = 1.0
COST_ANSWERED_OUT_OF_SCOPE = 1.0


@dataclass
class Case:
    """One tuning question with its signals, its label and the hand-set rule's decision."""

    author: str
    id: str
    corpus: str
    in_scope: bool
    features: np.ndarray
    rule_answers: bool


def save_cases(cases: list[Case], path: Path) -> None:
    """The collected signals as JSON (cross-fitting: collected in one checkout, fitted in another)."""
    rows = [{"author": c.author, "id": c.id, "corpus": c.corpus, "in_scope": c.in_scope,
             "features": [float(x) for x in c.features], "rule_answers": c.rule_answers} for c in cases]
    path.write_text(json.dumps({"features": list(FEATURES), "cases": rows}) + "\n", encoding="utf-8")


def load_cases(paths: list[Path]) -> list[Case]:
    """Cases saved by `save_cases`, refused when their signals are not today's FEATURES."""
    cases: list[Case] = []
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["features"] != list(FEATURES):
            raise SystemExit(f"{path}: saved with other signals than service/abstention_features.FEATURES")
        cases += [Case(r["author"], r["id"], r["corpus"], r["in_scope"], np.asarray(r["features"]),
                       r["rule_answers"]) for r in data["cases"]]
    return cases


def tuning_items(authors: tuple[str, ...] = TUNING_AUTHORS) -> dict[str, list[KeyFactItem]]:
    """The tuning authors' questions by corpus ("shipped" / "open-medicine"), routed as evals.keyfacts; the
    out-of-scope questions of an author who wrote over both corpora are asked of both.

    Why both: such an author's "abstain" means neither corpus covers the question (AUTHOR_GUIDE.md), and
    evals.keyfacts sends a question without reference sections to open-medicine, so "when can she drive
    after her vertebroplasty?" would only ever be asked where nothing is about vertebroplasty — the
    near-domain case the decision most needs to see is the one asked of the shipped corpus."""
    from evals.keyfacts import corpus_plan

    batches = [b for b in load_batches("answers") if b.author in authors]
    plan = corpus_plan(batches, keep=lambda item: item.expected_mode in ("answer", "abstain"))
    both = [b for b in batches if "shipped" in b.about and "open-medicine" in b.about]
    routed = {name: {i.id for i in items} for name, items in plan.items()}
    for name, other in (("shipped", "open-medicine"), ("open-medicine", "shipped")):
        plan[name] += [i for b in both for i in b.items
                       if i.expected_mode == "abstain" and i.id in routed[other]]
    return plan


def collect(items_by_corpus: dict[str, list[KeyFactItem]]) -> list[Case]:
    """Every tuning question through the service's pipeline over a store of its corpus."""
    from service.answering import judge_support, wordpieces

    cases: list[Case] = []
    for name, item, retrieved in retrieved_questions(items_by_corpus):
        evidence = judge_support(retrieved, wordpieces).evidence
        cases.append(Case(item.author, item.id, name, item.expected_mode == "answer",
                          np.asarray(evidence.signals, dtype=np.float64), evidence.covered_by_rule))
    return cases


def fit(cases: list[Case], c: float, threshold: float = 0.5) -> AbstentionModel:
    """Logistic regression (lbfgs, deterministic) of "in scope" on the standardised signals."""
    x = np.stack([c.features for c in cases])
    y = np.asarray([c.in_scope for c in cases], dtype=np.int64)
    return AbstentionModel(*fit_standardised_logistic(x, y, c, MAX_ITER), threshold)


def cost(probabilities: np.ndarray, in_scope: np.ndarray, threshold: float) -> float:
    answers = probabilities >= threshold
    false_abstentions = int(np.sum(in_scope & ~answers))
    answered_oos = int(np.sum(~in_scope & answers))
    return COST_FALSE_ABSTENTION * false_abstentions + COST_ANSWERED_OUT_OF_SCOPE * answered_oos


def best_threshold(probabilities: np.ndarray, in_scope: np.ndarray) -> float:
    """The threshold of least cost over these (out-of-fold) probabilities: among the cut points between
    sorted probabilities that tie for least cost, the middle one."""
    values = np.unique(probabilities)
    if not len(values):
        return 0.5
    cuts = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [1.0]])
    costs = np.asarray([cost(probabilities, in_scope, t) for t in cuts])
    best = cuts[costs == costs.min()]
    return float(best[len(best) // 2])


def out_of_fold(cases: list[Case], authors: list[str], c: float) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, in-scope labels) of `cases`, each from a model fitted without its author."""
    probs, labels = [], []
    for held in authors:
        train = [c for c in cases if c.author != held]
        test = [c for c in cases if c.author == held]
        if not test or not train:
            continue
        model = fit(train, c)
        probs.append(np.atleast_1d(model.probability(np.stack([c.features for c in test]))))
        labels.append(np.asarray([c.in_scope for c in test]))
    return np.concatenate(probs), np.concatenate(labels)


def choose(cases: list[Case]) -> tuple[float, float, float]:
    """(C, threshold, cost) of least cost over these cases' authors' out-of-fold probabilities; a tie goes to
    the smaller C (the more regularised model)."""
    authors = sorted({c.author for c in cases})
    best: tuple[float, float, float] | None = None
    for c in C_GRID:
        probs, labels = out_of_fold(cases, authors, c)
        threshold = best_threshold(probs, labels)
        total = cost(probs, labels, threshold)
        if best is None or total < best[2]:
            best = (c, threshold, total)
    assert best is not None
    return best


def counts(answers: np.ndarray, in_scope: np.ndarray) -> dict:
    return {"in_scope": int(in_scope.sum()), "false_abstentions": int(np.sum(in_scope & ~answers)),
            "out_of_scope": int((~in_scope).sum()),
            "out_of_scope_abstained": int(np.sum(~in_scope & ~answers))}


def leave_one_author_out(cases: list[Case], authors: list[str]) -> dict[str, dict]:
    """Per held author: the learned decision (fitted and thresholded without it) and the rule."""
    folds: dict[str, dict] = {}
    for held in authors:
        train = [c for c in cases if c.author != held]
        test = [c for c in cases if c.author == held]
        c, threshold, _ = choose(train)
        model = fit(train, c, threshold)
        in_scope = np.asarray([c.in_scope for c in test])
        probs = np.atleast_1d(model.probability(np.stack([c.features for c in test])))
        folds[held] = {"C": c, "threshold": round(threshold, 4),
                       "learned": counts(probs >= threshold, in_scope),
                       "rule": counts(np.asarray([c.rule_answers for c in test]), in_scope)}
    return folds


def totals(folds: dict[str, dict], which: str) -> dict:
    keys = ("in_scope", "false_abstentions", "out_of_scope", "out_of_scope_abstained")
    return {k: sum(f[which][k] for f in folds.values()) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="report the folds, do not write the weights")
    parser.add_argument("--authors", nargs="+", help="collect these tuning authors only (with --cases-out)")
    parser.add_argument("--cases-out", type=Path, help="save the collected signals here and stop")
    parser.add_argument("--cases", type=Path, nargs="+",
                        help="fit on signals saved by --cases-out (cross-fitted) instead of collecting them")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.cases:
        cases = load_cases(args.cases)
        unknown = sorted({c.author for c in cases} - set(TUNING_AUTHORS))
        if unknown:
            raise SystemExit(f"saved cases of authors that are not tuning authors: {unknown}")
    else:
        cases = collect(tuning_items(named(TUNING_AUTHORS, args.authors)))
    if args.cases_out:
        save_cases(cases, args.cases_out)
        print(f"saved {len(cases)} cases to {args.cases_out}")
        return 0
    authors = [a for a in TUNING_AUTHORS if any(c.author == a for c in cases)]
    folds = leave_one_author_out(cases, authors)
    print(f"{'held out':38s} {'C':>5s} {'threshold':>9s}  learned FA / in, OOS abstained / OOS   |   rule")
    for held, fold in folds.items():
        lf, rf = fold["learned"], fold["rule"]
        print(f"{held:38s} {fold['C']:5.2f} {fold['threshold']:9.3f}  "
              f"{lf['false_abstentions']:3d} / {lf['in_scope']:3d}, "
              f"{lf['out_of_scope_abstained']:3d} / {lf['out_of_scope']:3d}   |   "
              f"{rf['false_abstentions']:3d} / {rf['in_scope']:3d}, "
              f"{rf['out_of_scope_abstained']:3d} / {rf['out_of_scope']:3d}")
    summary = {"learned": totals(folds, "learned"), "rule": totals(folds, "rule")}
    print("leave-one-author-out totals:", summary)
    c, threshold, _ = choose(cases)
    model = fit(cases, c, threshold)
    print(f"shipped C {c}, threshold {threshold:.4f}; weights: " + ", ".join(
        f"{n} {w:+.2f}" for n, w in zip(FEATURES, model.coef, strict=True)))
    if not args.dry_run:
        about = {"trained_on": authors, "C": c,
                 "signals": "cross-fitted (saved cases)" if args.cases else "collected",
                 "C_grid": list(C_GRID),
                 "cost": {"false_abstention": COST_FALSE_ABSTENTION,
                          "answered_out_of_scope": COST_ANSWERED_OUT_OF_SCOPE},
                 "leave_one_author_out": folds, "loao_totals": summary, "questions": len(cases)}
        WEIGHTS_PATH.write_text(json.dumps(model.to_json(**about), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS_PATH} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
