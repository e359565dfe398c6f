"""Train hybrid retrieval's learned re-ranking (service/rerank.py) on the tuning authors' reference sections.

`python -m evals.train_rerank` ingests the corpora the tuning authors' questions use (the evals' cached
stores, evals/server.py), plans and retrieves every in-scope question with reference sections exactly as
the service does (follow-up query texts, shorthand expansion, the same embedder, the same ranked lists and
reciprocal rank fusion), and takes the fused candidates' features (`service.retrieval.rerank_features`, the
function the service calls) with a label: is the candidate inside one of the question's reference sections
(the section level of evals/retrieval_authors.py)? Then:

* leave-one-author-out over TUNING_AUTHORS: fit on the others; on the left-out author, section hit@1 and
  MRR@10 of the re-ranked list against the fused order and against dense retrieval alone. Every setting
  (the learner — listwise linear or boosted trees, evals/boosted_trees.py —, how many candidates are
  re-ranked, the L2 strength, the trees' size) is judged by these folds only;
* the shipped weights: the setting with the most left-out questions right at rank 1 (then MRR), fitted on
  all tuning authors, written to service/data/rerank.json with the fold figures.

The linear learner is the passage chooser's listwise fit (evals/in_process.py): per question, a softmax over
its candidates against a uniform target over the relevant ones, L2-regularised, L-BFGS-B from zero — no
randomness; the weights are written rounded to ROUND decimals, so the same command writes a byte-identical
file. The tree learner is deterministic for the same features (fixed random state, no early stopping;
tested), but its splits are discrete: the embedder's thread-dependent summation moves features in the 13th
digit between runs, which can move a fold's split and its count. Two runs of the command on the same code
(fifteenth session) wrote identical trees and fold totals of 1,489 and 1,491 of 1,772 at rank 1; the file
keeps the first run's fold figures. Only the tuning authors' questions are read:
the held-out authors' items are dropped by name (evals/authors.py) before anything is computed or kept.

With no `--authors`, the command trains on `SHIPPED_AUTHORS` and writes the shipped file; `--authors b1 b2 …`
restricts training and the folds to those tuning authors (short ids), `--all-tuning` uses every tuning
author. The shipped file is fitted on the twenty tuning authors before b45 and b46 (`SHIPPED_AUTHORS`):
refitted with them, the folds of the other twenty were unchanged (1,456 of 1,772 at rank 1) and a behaviour
test broke (tests/test_retrieval.py, "what imaging shows that?"), so they are not in it. On the fourteenth
session's final code (the follow-up cues) the same command chose L2 10: 1,453 of 1,772 at rank 1 (fused
1,359). From the fifteenth session the folds also compare boosted trees (`TREE_GRID`, depth 10) and chose
31 leaves, at least 40 rows a leaf: 1,489 of 1,772 (MRR 0.896 against the linear 0.885), no author below the
fused order or dense alone. `--linear-only` leaves the trees out.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from evals.authors import ANSWERS_TUNING, KeyFactItem, load_batches, named
from evals.boosted_trees import TreeSettings, fit_trees
from evals.in_process import fit_standardised_listwise
from evals.metrics.retrieval import relevant_unit
from service.rerank import WEIGHTS_PATH, AnyReranker, Reranker, TreeReranker, relative_features

TUNING_AUTHORS = ANSWERS_TUNING  # one list for every trainer (evals/authors.py)
# `python -m evals.train_rerank --authors <these>` writes the shipped service/data/rerank.json
SHIPPED_AUTHORS = ("b1", "b2", "b3", "b7", "b8", "b10", "b18", "b19", "b24", "b25", "b28", "b29", "b30",
                   "b31", "b32", "b33", "b35", "b36", "b40", "b41")
DEPTHS = (10, 20, 30)  # how many fused candidates are re-ranked, compared by the folds
L2S = (1.0, 10.0, 100.0)  # the listwise fit's L2 strengths, compared by the folds
# the tree learner's settings compared by the folds, all at depth TREE_DEPTH (the prototype over the
# twenty-two tuning authors ranked depth 20 below 10: 1,601 against 1,625 of 1,942 at rank 1)
TREE_DEPTH = 10
TREE_GRID = (TreeSettings(15, 20), TreeSettings(15, 40), TreeSettings(31, 20), TreeSettings(31, 40))
MRR_DEPTH = 10
ROUND = 8  # decimals of the written weights


@dataclass
class Case:
    """One in-scope question: its fused candidates' features per depth and their relevance."""

    author: str
    features: dict[int, np.ndarray]  # depth -> (candidates, FEATURES)
    labels: np.ndarray  # per candidate at the deepest depth: inside a reference section
    dense_first: bool  # dense retrieval alone puts a reference section first


def collect(items_by_corpus: dict[str, list[KeyFactItem]]) -> list[Case]:
    """Every question through the service's own retrieval inputs over a store of its corpus."""
    from evals.in_process import indexed_corpora
    from service.answering import plan_queries, query_inputs
    from service.models import Turn
    from service.retrieval import fused_candidates, ranked_lists, rerank_features

    cases: list[Case] = []
    for _, items, live, settings, embedder in indexed_corpora(items_by_corpus):
        snapshot = live.current()
        depth = max(settings.candidate_depth, max(DEPTHS))

        def relevant(row: int, item: KeyFactItem, snapshot=snapshot) -> bool:
            meta = snapshot.metas[int(row)]
            passage = {"doc_id": meta.get("doc_id"), "section": meta.get("section")}
            return relevant_unit(passage, item.reference_contexts, "section") is not None

        for item in items:
            plan = plan_queries(item.question, [Turn(**t) for t in item.history or []], None)
            queries, vectors = query_inputs(plan, snapshot, embedder)
            lists, _, bm25 = ranked_lists(snapshot, queries, vectors, settings.candidate_depth, "hybrid")
            rows, scores = fused_candidates(snapshot, lists)
            rows, scores = rows[:depth], scores[:depth]
            dense_lists, _, _ = ranked_lists(snapshot, queries, vectors, settings.candidate_depth, "dense")
            dense_rows, _ = fused_candidates(snapshot, dense_lists)
            feats = {d: rerank_features(snapshot, queries, vectors, bm25, rows[:d], scores[:d])
                     for d in DEPTHS}
            cases.append(Case(item.author, feats, np.array([relevant(r, item) for r in rows], dtype=float),
                              bool(len(dense_rows)) and relevant(dense_rows[0], item)))
    return cases


def _first_relevant(labels: np.ndarray) -> int | None:
    hits = np.flatnonzero(labels[:MRR_DEPTH])
    return int(hits[0]) if len(hits) else None


def _groups(cases: list[Case], depth: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per question that can teach an order (some but not all candidates relevant): features, labels."""
    groups_x, groups_y = [], []
    for c in cases:
        y = c.labels[: len(c.features[depth])]
        if 0 < y.sum() < len(y):
            groups_x.append(c.features[depth])
            groups_y.append(y)
    return groups_x, groups_y


def _fit(cases: list[Case], depth: int, l2: float) -> Reranker:
    mean, scale, coef = fit_standardised_listwise(*_groups(cases, depth), l2)
    return Reranker(mean, scale, coef, depth)


def _fit_trees(cases: list[Case], depth: int, settings: TreeSettings) -> TreeReranker:
    """Boosted trees, pointwise (is this candidate in a reference section?), over relative_features: the
    raw score orders a question's candidates."""
    groups_x, groups_y = _groups(cases, depth)
    x = np.vstack([relative_features(g) for g in groups_x])
    return TreeReranker(fit_trees(x, np.concatenate(groups_y).astype(int), settings), depth)


def _reranked(model: AnyReranker, case: Case) -> np.ndarray:
    """The case's labels in the re-ranked order (re-ranked head, fused tail)."""
    head = case.features[model.depth]
    order = model.order(head) if len(head) else np.zeros(0, dtype=int)
    return np.concatenate([case.labels[: len(head)][order], case.labels[len(head):]])


def score(cases: list[Case], model: AnyReranker | None) -> dict[str, float]:
    """Questions with a reference section at rank 1, and the sum of reciprocal ranks within MRR_DEPTH."""
    hit = rr = 0.0
    for c in cases:
        labels = c.labels if model is None else _reranked(model, c)
        first = _first_relevant(labels)
        hit += first == 0
        rr += 0.0 if first is None else 1.0 / (first + 1)
    return {"n": len(cases), "hit@1": hit, "rr": rr}


def loao(cases: list[Case], depth: int, l2: float) -> dict[str, dict]:
    """Per left-out author, the linear learner: fused, re-ranked and dense-alone section hit@1 and MRR."""
    return loao_with(cases, lambda train: _fit(train, depth, l2))


def loao_with(cases: list[Case], fit: Callable[[list[Case]], AnyReranker]) -> dict[str, dict]:
    """Per left-out author: fused, re-ranked (by `fit` on the other authors) and dense-alone section hit@1
    (counts) and MRR."""
    out = {}
    for author in TUNING_AUTHORS:
        test = [c for c in cases if c.author == author]
        if not test:
            continue
        model = fit([c for c in cases if c.author != author])
        fused, ranked = score(test, None), score(test, model)
        out[author] = {"n": len(test), "fused_hit1": int(fused["hit@1"]),
                       "reranked_hit1": int(ranked["hit@1"]),
                       "dense_hit1": sum(c.dense_first for c in test),
                       "fused_mrr": round(fused["rr"] / len(test), 4),
                       "reranked_mrr": round(ranked["rr"] / len(test), 4)}
    return out


def totals(folds: dict[str, dict]) -> dict[str, float]:
    n = sum(f["n"] for f in folds.values())
    counts = ("fused_hit1", "reranked_hit1", "dense_hit1")
    return {"n": n, **{k: sum(f[k] for f in folds.values()) for k in counts},
            "reranked_mrr": round(sum(f["reranked_mrr"] * f["n"] for f in folds.values()) / n, 4),
            "fused_mrr": round(sum(f["fused_mrr"] * f["n"] for f in folds.values()) / n, 4),
            "authors_below_dense": sum(f["reranked_hit1"] < f["dense_hit1"] for f in folds.values()),
            "authors_below_fused": sum(f["reranked_hit1"] < f["fused_hit1"] for f in folds.values())}


def weights_text(data: dict) -> str:
    """The weights file's text: indented JSON, except a tree ensemble's trees, one compact line each (a
    few hundred trees of a few dozen nodes would otherwise be a hundred thousand lines)."""
    if "ensemble" not in data:
        return json.dumps(data, indent=1) + "\n"
    ensemble = data["ensemble"]
    head = json.dumps({k: v for k, v in data.items() if k != "ensemble"}, indent=1)
    trees = ",\n  ".join(json.dumps(t, separators=(",", ":")) for t in ensemble["trees"])
    return (f"{head[:-2]},\n \"ensemble\": {{\"baseline\": {json.dumps(ensemble['baseline'])}, "
            f"\"n_features\": {int(ensemble['n_features'])}, \"trees\": [\n  {trees}\n ]}}\n}}\n")


def training_authors(short: list[str] | None, all_tuning: bool = False) -> tuple[str, ...]:
    """The tuning authors a run trains on: those named, every one with `all_tuning`, else SHIPPED_AUTHORS —
    so the plain command rebuilds the shipped file without anyone retyping twenty ids."""
    if all_tuning:
        return tuple(TUNING_AUTHORS)
    return named(tuple(TUNING_AUTHORS), short or list(SHIPPED_AUTHORS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the folds; write nothing")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--authors", nargs="+", help="only these tuning authors (short ids, e.g. b1 b24); "
                     "default: SHIPPED_AUTHORS, the ones the shipped file is fitted on")
    who.add_argument("--all-tuning", action="store_true", help="every tuning author (ANSWERS_TUNING)")
    parser.add_argument("--linear-only", action="store_true", help="compare the linear learner only")
    args = parser.parse_args(argv)
    from config import prepare_process
    from evals.keyfacts import corpus_plan

    prepare_process()
    started = time.perf_counter()
    authors = training_authors(args.authors, args.all_tuning)
    batches = [b for b in load_batches("answers") if b.author in authors]
    plan = corpus_plan(batches, lambda i: i.expected_mode == "answer" and bool(i.reference_contexts))
    cases = collect(plan)
    print(f"{len(cases)} questions from {len(batches)} tuning authors "
          f"({time.perf_counter() - started:.0f} s)")
    # each candidate learner: (label, fit on some cases); the folds compare them all the same way
    learners: list[tuple[str, Callable[[list[Case]], AnyReranker]]] = [
        (f"linear depth {d} L2 {l2:g}", partial(_fit, depth=d, l2=l2)) for d in DEPTHS for l2 in L2S]
    if not args.linear_only:
        learners += [(f"{t.label()} depth {TREE_DEPTH}", partial(_fit_trees, depth=TREE_DEPTH, settings=t))
                     for t in TREE_GRID]
    results = {}
    for i, (label, fit) in enumerate(learners):
        folds = loao_with(cases, fit)
        results[i] = (folds, totals(folds))
        t = results[i][1]
        print(f"{label}: hit@1 fused {t['fused_hit1']}/{t['n']} -> re-ranked "
              f"{t['reranked_hit1']} (dense alone {t['dense_hit1']}), MRR {t['fused_mrr']:.3f} -> "
              f"{t['reranked_mrr']:.3f}, authors below dense {t['authors_below_dense']}, below fused "
              f"{t['authors_below_fused']}", flush=True)
    # best hit@1, then MRR; on a tie the earlier learner (linear before trees, shallower first)
    best = max(results, key=lambda i: (results[i][1]["reranked_hit1"], results[i][1]["reranked_mrr"], -i))
    folds, tot = results[best]
    label, fit = learners[best]
    print(f"chosen: {label}")
    if args.dry_run:
        return 0
    fitted = fit(cases)
    about: dict[str, object] = {"trained_on": sorted({c.author for c in cases}), "chosen": label}
    if isinstance(fitted, Reranker):
        # rounded: the embedder's and BLAS's summation order move the fit in the 13th digit between runs,
        # and the same command must write the same bytes
        mean, scale, coef = (np.round(a, ROUND) for a in (fitted.mean, fitted.scale, fitted.coef))
        model: AnyReranker = Reranker(mean, scale, coef, fitted.depth)
        about |= {"l2": float(label.rsplit(" ", 1)[1]), "learner": "listwise softmax"}
    else:
        model = fitted
    about |= {"leave_one_author_out": folds, "loao_totals": tot, "questions": len(cases)}
    WEIGHTS_PATH.write_text(weights_text(model.to_json(**about)), encoding="utf-8")
    print(f"wrote {WEIGHTS_PATH} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
