"""Train the dense adapter (`ingest/dense_adapter.py`): MiniLM's top layers tuned on tuning authors' pairs.

    python -m evals.train_dense_adapter --loao  # development: dense section hit@1 per left-out tuning author
    python -m evals.train_dense_adapter --halves --layers 3 --epochs 5  # development: a setting, cross-fitted
    python -m evals.train_dense_adapter         # every tuning author; writes ingest/model/dense_adapter.*

Data: every in-scope question of the answer authors in `evals.authors.ANSWERS_TUNING` (never a held-out
author) with its reference sections; a follow-up is the question as the service resolves it from its history.
Its positive passage is the chunk of a reference section (chunked exactly as ingest chunks, embedded as
ingest embeds it: section path + text) that matches most of its key-fact patterns, first in reading order on a
tie. Loss: in-batch negatives (multiple-negatives ranking, scale 20), the other questions' passages being the
negatives. Only the top `LAYERS` transformer layers train; everything below stays as shipped.

Deterministic: seed 0 for torch, the batch order and dropout; `torch.use_deterministic_algorithms`; two
threads. Same data, same package versions, same file (the npz is written with fixed zip timestamps and the
json carries no date).

`--loao` leaves one tuning author out per fold, trains on the rest, and prints the left-out author's dense
section hit@1 / hit@5 / MRR with the base model and with the fold's adapter (the base, never the shipped
adapter, is the comparison). It writes nothing.

`--halves` compares a setting at a fifth of `--loao`'s cost: it trains on one half of the tuning authors
(HALVES), ranks the other half's questions, then the reverse, and prints the pooled dense section figures with
the base model's beside them — every question ranked by a model that never saw its author. It writes nothing.

Hand-written training loop rather than sentence-transformers' trainer: the trainer needs `accelerate`, which
the project does not otherwise use, and the loop is twenty lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.authors import ANSWERS_TUNING, KeyFactItem, load_batches, named
from evals.keyfacts import corpus_dir, corpus_of
from evals.metrics.retrieval import section_matches
from ingest.dense_adapter import ADAPTER_DIR, ADAPTER_JSON, ADAPTER_NPZ, FORMAT, base_fingerprint
from service.guardrails.weights_file import npz_bytes

LAYERS = 3  # ninth session, by --halves (was 2; see docs/answering.md)
EPOCHS = 5  # the same (was 3)
LR = 5e-5
BATCH = 32
SCALE = 20.0
WARMUP = 0.1
SEED = 0
VERSION = "dense-adapter-1"


# the two cross-fitting halves of ANSWERS_TUNING (short ids; also the abstention's cross-fitted refit)
HALVES = (("b1", "b3", "b8", "b18", "b24", "b28", "b30", "b32", "b35", "b40", "b45"),
          ("b2", "b7", "b10", "b19", "b25", "b29", "b31", "b33", "b36", "b41", "b46"))


@dataclass(frozen=True)
class Passage:
    doc_id: str
    section: str
    text: str  # what ingest embeds: the section path, a newline, the passage


@dataclass(frozen=True)
class Example:
    author: str
    corpus: str
    query: str
    item: KeyFactItem


def passages(corpus: str) -> list[Passage]:
    """The corpus's chunks as ingest makes them."""
    from ingest.chunking import chunk_document
    from ingest.documents import load_documents
    from ingest.embedding import get_token_counter

    loaded = load_documents([corpus_dir(corpus)])
    count = get_token_counter()
    return [Passage(c.doc_id, c.section, c.embed_text)
            for d in loaded.documents for c in chunk_document(d, count)]


def query_of(item: KeyFactItem) -> str:
    """What the service would retrieve with first for this item: a follow-up resolved against its history."""
    if not item.history:
        return item.question
    from service.followup import resolved_question
    from service.models import Turn

    turns = [Turn(role=t["role"], content=t["content"])
             for t in item.history if t.get("role") in ("user", "assistant")]
    return resolved_question(item.question, turns)


def examples(authors: tuple[str, ...]) -> list[Example]:
    out = []
    for batch in load_batches("answers"):
        if batch.author not in authors:
            continue
        default = "open-medicine" if "open-medicine" in batch.about else "shipped"
        for item in batch.items:
            if item.expected_mode == "answer" and item.reference_contexts:
                out.append(Example(batch.author, corpus_of(item, default), query_of(item), item))
    return out


def relevant(item: KeyFactItem, p: Passage) -> bool:
    return any(p.doc_id == r.doc_id and section_matches(p.section, r.section)
               for r in item.reference_contexts)


def positive(ex: Example, corpus: list[Passage]) -> Passage | None:
    """The reference-section passage matching most key facts (first in reading order on a tie)."""
    candidates = [p for p in corpus if relevant(ex.item, p)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: sum(f.found_in(p.text) for f in ex.item.key_facts))


def _torch():
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    return torch


def base_model():
    from sentence_transformers import SentenceTransformer

    from ingest.embedding import default_model_dir

    return SentenceTransformer(str(default_model_dir()), device="cpu", local_files_only=True)


def train(pairs: list[tuple[str, str]], layers: int = LAYERS, epochs: int = EPOCHS, lr: float = LR):
    """The fine-tuned SentenceTransformer (top `layers` trained on `pairs`, in-batch negatives)."""
    torch = _torch()
    random.seed(SEED)
    model = base_model()
    bert = model[0].auto_model
    for param in bert.parameters():
        param.requires_grad = False
    for layer in bert.encoder.layer[len(bert.encoder.layer) - layers:]:
        for param in layer.parameters():
            param.requires_grad = True
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    steps = epochs * ((len(pairs) + BATCH - 1) // BATCH)
    warm = max(1, int(WARMUP * steps))
    order_rng = random.Random(SEED)
    model.train()
    step = 0
    for _ in range(epochs):
        order = list(range(len(pairs)))
        order_rng.shuffle(order)
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            q = model(model.preprocess([pairs[i][0] for i in idx]))["sentence_embedding"]
            p = model(model.preprocess([pairs[i][1] for i in idx]))["sentence_embedding"]
            sim = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(p, dim=-1).T
            loss = torch.nn.functional.cross_entropy(sim * SCALE, torch.arange(len(idx)))
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warm)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    model.eval()
    return model


def pairs_of(exs: list[Example], corpora: dict[str, list[Passage]]) -> list[tuple[str, str]]:
    out = []
    for ex in exs:
        pos = positive(ex, corpora[ex.corpus])
        if pos is not None:
            out.append((ex.query, pos.text))
    return out


def dense_ranks(model, exs: list[Example], corpora: dict[str, list[Passage]]) -> list[int | None]:
    """Rank (0-based) of the first reference-section passage in the dense ranking, None past 20."""
    vecs = {name: model.encode([p.text for p in ps], batch_size=32, normalize_embeddings=True)
            for name, ps in corpora.items()}
    qv = model.encode([e.query for e in exs], batch_size=64, normalize_embeddings=True)
    ranks: list[int | None] = []
    for ex, v in zip(exs, qv, strict=True):
        order = np.argsort(-(vecs[ex.corpus] @ v), kind="stable")[:20]
        ranks.append(next((k for k, j in enumerate(order) if relevant(ex.item, corpora[ex.corpus][j])), None))
    return ranks


def summary(ranks: list[int | None]) -> str:
    n = len(ranks) or 1
    hit1 = sum(r == 0 for r in ranks)
    hit5 = sum(r is not None and r < 5 for r in ranks)
    mrr = sum(0 if r is None else 1 / (r + 1) for r in ranks)
    return f"n={len(ranks):3d} hit@1 {hit1:3d} ({hit1 / n:.3f}) hit@5 {hit5 / n:.3f} MRR {mrr / n:.3f}"


def halves_report(tuning: tuple[str, ...], corpora: dict[str, list[Passage]], layers: int, epochs: int,
                  lr: float) -> list[int | None]:
    """Cross-fitted ranks of every tuning question: each half's questions by the model trained on the other
    half (a tuning author in neither half is left out), printed per direction and pooled beside the base."""
    base = base_model()
    pooled: list[int | None] = []
    pooled_base: list[int | None] = []
    for train_half, test_half in (HALVES, HALVES[::-1]):
        test = examples(named(tuning, list(test_half)))
        t0 = time.time()
        model = train(pairs_of(examples(named(tuning, list(train_half))), corpora), layers, epochs, lr)
        ranks, base_ranks = dense_ranks(model, test, corpora), dense_ranks(base, test, corpora)
        print(f"trained on {' '.join(train_half)}: base {summary(base_ranks)}", flush=True)
        print(f"trained on {' '.join(train_half)}: adapted {summary(ranks)} ({time.time() - t0:.0f} s)",
              flush=True)
        pooled += ranks
        pooled_base += base_ranks
    print(f"pooled base    {summary(pooled_base)}")
    print(f"pooled adapted {summary(pooled)} (layers {layers}, epochs {epochs}, lr {lr:g})")
    return pooled


def adapter_arrays(model, layers: int) -> dict[str, np.ndarray]:
    """The change of each trained tensor (adapted minus base), float16, by state-dict key."""
    base = base_model()[0].auto_model.state_dict()
    tuned = model[0].auto_model.state_dict()
    n = len(model[0].auto_model.encoder.layer)
    keep = tuple(f"encoder.layer.{i}." for i in range(n - layers, n))
    return {k: (tuned[k].float() - base[k].float()).numpy().astype(np.float16)
            for k in sorted(tuned) if k.startswith(keep)}


def write(arrays: dict[str, np.ndarray], meta: dict, out: Path = ADAPTER_DIR) -> dict:
    """npz with fixed timestamps (same arrays, same bytes: the red-flag models' writer) + json with its
    sha256."""
    raw = npz_bytes(arrays)
    out.mkdir(parents=True, exist_ok=True)
    (out / ADAPTER_NPZ).write_bytes(raw)
    meta = {**meta, "format": FORMAT, "sha256": hashlib.sha256(raw).hexdigest()}
    (out / ADAPTER_JSON).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loao", action="store_true", help="leave-one-tuning-author-out; writes nothing")
    parser.add_argument("--only", nargs="+", help="with --loao: just these left-out authors")
    parser.add_argument("--halves", action="store_true",
                        help="development: train on each tuning half, rank the other half; writes nothing")
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--out", type=Path, default=ADAPTER_DIR)
    parser.add_argument("--authors", nargs="+",
                        help="development: train on these tuning authors only (a cross-fitting half)")
    args = parser.parse_args(argv)
    corpora = {name: passages(name) for name in ("shipped", "open-medicine")}
    tuning = named(tuple(ANSWERS_TUNING), args.authors)
    if args.halves:
        halves_report(tuning, corpora, args.layers, args.epochs, args.lr)
        return 0
    if args.loao:
        # the comparison is the same in every fold: the base model ranks every tuning question once
        everyone = examples(tuning)
        base_ranks = dense_ranks(base_model(), everyone, corpora)
        for left in named(tuning, args.only):
            test = [ex for ex in everyone if ex.author == left]
            t0 = time.time()
            model = train(pairs_of(examples(tuple(a for a in tuning if a != left)), corpora),
                          args.layers, args.epochs, args.lr)
            base_left = [r for ex, r in zip(everyone, base_ranks, strict=True) if ex.author == left]
            print(f"{left:40s} base    {summary(base_left)}", flush=True)
            print(f"{left:40s} adapted {summary(dense_ranks(model, test, corpora))}  "
                  f"({time.time() - t0:.0f} s)", flush=True)
        return 0
    pairs = pairs_of(examples(tuning), corpora)
    model = train(pairs, args.layers, args.epochs, args.lr)
    from ingest.embedding import default_model_dir

    meta = write(adapter_arrays(model, args.layers), {
        "version": VERSION, "base_fingerprint": base_fingerprint(default_model_dir()),
        "layers": args.layers, "epochs": args.epochs, "lr": args.lr, "batch": BATCH, "scale": SCALE,
        "trained_on": list(tuning), "pairs": len(pairs),
    }, args.out)
    print(f"wrote {args.out / ADAPTER_NPZ} ({len(pairs)} pairs, sha256 {meta['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
