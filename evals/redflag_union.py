"""The "v5 or static" red-flag screen (flag when either model flags), measured — not a service option.

`python -m evals.redflag_union --loao`: leave-one-author-out over v5's six training authors with v5's recipe
and data (b1's ordinary questions left out of every fold), once over MiniLM and once over the shipped static
vectors, each at its shipped thresholds; prints caught / flagged per author and pooled for v5, static and
their union. Only training groups' rows are loaded into the folds.

`python -m evals.redflag_union --held-out`: the shipped v5 and static guardrails on every red-flag author
neither was trained on and on the ordinary questions of the answer authors b2 onwards, with their union.

docs/guardrails.md ("v5 or static") has the figures and the rule, written beforehand, that decided against
making the union the default.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from evals.authors import load_batches
from evals.redflag_authors import ordinary_questions

ROOT = Path(__file__).resolve().parent.parent
V5_THRESHOLDS = (0.05, 0.05)
STATIC_THRESHOLDS = (0.03, 0.04)


def loao_table() -> None:
    from ingest.embedding import get_embedder
    from service.guardrails.static_model import load_static
    from service.guardrails.train_learned import (
        V5_ORDINARY_TRAIN,
        V5_TRAIN_AUTHORS,
        Featuriser,
        Recipe,
        flagged,
        load_rows,
        loao,
    )

    groups = set(V5_TRAIN_AUTHORS) | {f"ordinary-{a}" for a in V5_ORDINARY_TRAIN} | {
        "own", "training", "training-ordinary", "headings", "ordinary-own"}
    rows = [r for r in load_rows() if r.group in groups]
    recipe = Recipe(ordinary_weight=6.0, c=30.0, clause_pool=True, hidden=0, alpha=1e-3, author_weight=3.0,
                    lookalike_weight=None, contrast_weight=0.0, gates=())  # v5's (and static's) recipe
    static_embedder, _ = load_static()
    scores = {name: loao(rows, V5_TRAIN_AUTHORS, Featuriser(emb), recipe, ordinary_authors=V5_ORDINARY_TRAIN)
              for name, emb in (("v5", get_embedder()), ("static", static_embedder))}
    v5, st = scores["v5"], scores["static"]
    table: dict[str, Counter] = {}
    for (group, s5), (_, ss) in zip(v5.pooled, st.pooled, strict=True):
        kind = v5.kind(group, s5[0])
        f5, fs = flagged(s5, *V5_THRESHOLDS), flagged(ss, *STATIC_THRESHOLDS)
        for key in (kind, f"{group}:{kind}"):
            table.setdefault(key, Counter()).update(n=1, v5=f5, static=fs, union=f5 or fs)
    for key in sorted(table):
        c = table[key]
        print(f"{key:50s} n={c['n']:4d}  v5 {c['v5']:4d}  static {c['static']:4d}  union {c['union']:4d}")


def held_out_table() -> None:
    from service.guardrails import Guardrail
    from service.settings import Settings

    guards = {m: Guardrail.from_settings(Settings(redflag_model=m)) for m in ("v5", "static")}
    trained: set[str] = set()
    for name in ("redflag.json", "static.json"):
        meta = json.loads((ROOT / "service" / "guardrails" / "model" / name).read_text(encoding="utf-8"))
        trained |= set(meta["trained_on"])
    total: Counter = Counter()
    for batch in load_batches("redflag"):
        if batch.author in trained:
            continue
        c: Counter = Counter()
        for item in batch.items:
            f5 = guards["v5"].check(item.text, item.history) is not None
            fs = guards["static"].check(item.text, item.history) is not None
            k = "pos" if item.label else "neg"
            c.update({k: 1, f"{k}_v5": f5, f"{k}_static": fs, f"{k}_union": f5 or fs})
        total.update(c)
        print(_line(batch.author, c))
    print(_line("pooled", total))
    o: Counter = Counter()
    for source, question, history in ordinary_questions():
        if f"ordinary-{source}" in trained or source.endswith(".jsonl"):
            continue
        f5 = guards["v5"].check(question, history) is not None
        fs = guards["static"].check(question, history) is not None
        o.update(n=1, v5=f5, static=fs, union=f5 or fs)
    print(f"ordinary questions of answer authors neither trained on: {dict(o)}")


def _line(name: str, c: Counter) -> str:
    return (f"{name:32s} recall v5 {c['pos_v5']}/{c['pos']} static {c['pos_static']} union {c['pos_union']}"
            f" | false alarms v5 {c['neg_v5']}/{c['neg']} static {c['neg_static']} union {c['neg_union']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loao", action="store_true", help="LOAO within v5's training authors")
    parser.add_argument("--held-out", action="store_true", help="the authors neither model was trained on")
    args = parser.parse_args(argv)
    if args.loao:
        loao_table()
    if args.held_out:
        held_out_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
