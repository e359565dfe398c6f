"""`python -m evals run`: measure what clinicians get from the service, write reports, gate on floors.

Exit codes: 0 every threshold held; 1 a threshold failed (or a metric it names was not computed);
2 bad arguments or an invalid dataset; 3 the service could not be reached or started.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402

from evals import gates, provenance, report, summary  # noqa: E402
from evals.authors import held_out_items  # noqa: E402
from evals.client import ServiceClient, ServiceUnavailable  # noqa: E402
from evals.data import DATASETS_DIR, Dataset, DatasetError, load_qa, load_redflag, quick_subset  # noqa: E402
from evals.server import ROOT, ServerError, corpus_fingerprint, service  # noqa: E402
from evals.suites import retrieval  # noqa: E402

SUITES = ("retrieval", "answers", "keyfacts", "redflag")
HELD_OUT = "held-out-authors"  # keyfacts and redflag default: the independent authors nobody tuned on
SHIPPED_CORPUS = ROOT / "corpus"
DEFAULTS = {
    "shipped": {
        "retrieval": "golden_shipped.jsonl",
        "answers": "golden_shipped.jsonl",
        "keyfacts": HELD_OUT,
        "redflag": HELD_OUT,
    },
    "open-medicine": {
        "retrieval": "retrieval_open_medicine.jsonl",
        "answers": "retrieval_open_medicine.jsonl",
        "keyfacts": HELD_OUT,
        "redflag": HELD_OUT,
    },
}
# red flags and key facts: all, cheap and what matters most
QUICK = {"retrieval": 30, "answers": 20, "keyfacts": None, "redflag": None}

EPILOG = """\
datasets (evals/datasets/, schema in evals/datasets/README.md):
  corpus/ (default)        retrieval + answers: golden_shipped.jsonl; redflag: redflag.jsonl
  a path with open-medicine retrieval + answers: retrieval_open_medicine.jsonl
  --dataset FILE applies to the one suite chosen; with --suite all write --dataset SUITE=FILE.

metrics are dotted names, e.g. retrieval.section.hit@5, retrieval@bm25.doc.mrr, answers.mode_accuracy,
citations.supported, ragas.rouge_score, guardrail.recall, guardrail.false_alarm_rate,
latency.ask/extractive.p95_ms (see results.json "metrics" for every name of a run).

examples:
  python -m evals run                                     # everything, on corpus/, own server
  python -m evals run --suite retrieval --corpus ../shared/corpora/open-medicine/content \
      --modes default,dense,bm25
  python -m evals run --url http://127.0.0.1:8000 --suite answers --compare eval-runs/previous
  python -m evals run --quick --no-ragas --fail-under retrieval.section.hit@5=0.6 \
      --fail-under guardrail.recall=0.9
  python -m evals run @evals/ci.args                      # what CI runs: --quick with the floors in that file
  python -m evals check-datasets                          # validate every dataset, send nothing
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        fromfile_prefix_chars="@",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Answer-quality evaluation of guideline-qa through its public HTTP API: retrieval "
        "ranking, answers (mode, citation integrity, ragas), the red-flag guardrail and latency. Writes "
        "report.html (self-contained), report.md and results.json to --out.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run suites against a service",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--suite", choices=[*SUITES, "all"], default="all", help="what to measure (default all)")
    run.add_argument(
        "--corpus",
        type=Path,
        default=SHIPPED_CORPUS,
        help="corpus folder to ingest and serve (default corpus/); also picks default datasets",
    )
    run.add_argument("--url", help="evaluate this running service instead of starting one over --corpus")
    run.add_argument(
        "--store",
        type=Path,
        help="store folder for the server started here (default: a cache "
        "folder per corpus, re-used between runs; ingest updates it incrementally)",
    )
    run.add_argument("--dataset", action="append", default=[], metavar="[SUITE=]FILE", help="dataset file")
    run.add_argument("--out", type=Path, help="report folder (default eval-runs/<UTC time>)")
    run.add_argument(
        "--compare", type=Path, metavar="PREVIOUS_RUN", help="previous --out folder or results.json"
    )
    run.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when METRIC < VALUE (or was not computed); repeatable",
    )
    run.add_argument(
        "--fail-over",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when METRIC > VALUE, for latency and false alarms; repeatable",
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="for CI: evenly spaced subsets, 30 retrieval and 20 answers questions (red flags: all)",
    )
    run.add_argument("--limit", type=int, help="at most N items per dataset (evenly spaced)")
    run.add_argument(
        "--provenance",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="retrieval and answers: only items referencing a --corpus document whose front matter has "
        "KEY=VALUE (source_kind: guideline|research|summary|answer-page; review_status: "
        "reviewed|pending-review); repeatable, all must hold",
    )
    run.add_argument(
        "--modes",
        default="default",
        help="retrieval modes, comma-separated: default (service's own), hybrid, dense, bm25; "
        "the first is reported as retrieval.*, the others as retrieval@MODE.*",
    )
    run.add_argument("--k", type=int, default=10, help="passages asked of /v1/retrieve (default 10)")
    run.add_argument(
        "--split",
        choices=["all", "calibration", "holdout"],
        default="all",
        help="red-flag split to run (default all; per-split rates are reported either way)",
    )
    run.add_argument("--no-ragas", action="store_true", help="skip ragas (saves loading the embedding model)")
    run.add_argument(
        "--stream-sample", type=int, help="questions also sent to /v1/ask/stream (default 10, quick 3)"
    )
    run.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    sub.add_parser("check-datasets", help="validate every dataset in evals/datasets/ and print counts")
    sub.add_parser(
        "feedback-export",
        help="write clinicians' widget feedback as a JSON-lines dataset (see feedback-export --help)",
        add_help=False,
    )
    return parser.parse_args(argv)


def _is_feedback_export(argv: list[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return bool(args) and args[0] == "feedback-export"


def profile(corpus: Path) -> str:
    return "open-medicine" if "open-medicine" in str(corpus.resolve()) else "shipped"


def dataset_paths(args: argparse.Namespace, suites: list[str]) -> dict[str, Path]:
    paths = {s: DATASETS_DIR / DEFAULTS[profile(args.corpus)][s] for s in suites}
    for spec in args.dataset:
        suite, sep, file = spec.partition("=")
        if sep and suite in SUITES:
            paths[suite] = Path(file)
        elif len(suites) == 1:
            paths[suites[0]] = Path(spec)
        else:
            raise DatasetError(
                f"--dataset {spec}: with several suites write SUITE=FILE ({', '.join(SUITES)})"
            )
    return paths


def _load(suite: str, path: Path, corpus: str) -> Dataset:
    """A suite's dataset: a file, or (keyfacts, redflag) the held-out independent authors' batches."""
    if path.name == HELD_OUT:
        about, items = held_out_items("answers" if suite == "keyfacts" else "redflag", corpus)
        return Dataset(path=path, sha256=about, items=items)
    return (load_redflag if suite == "redflag" else load_qa)(path)


def git_commit() -> dict:
    def git(*cmd: str) -> str:
        proc = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    return {
        "git_commit": git("rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(git("status", "--porcelain")),
    }


def check_datasets(console: Console) -> int:
    status = 0
    for path in sorted(DATASETS_DIR.glob("*.jsonl")):
        try:
            ds = load_redflag(path) if path.name.startswith("redflag") else load_qa(path)
            console.print(f"ok    {path.name}: {len(ds.items)} items, sha256 {ds.sha256[:12]}")
        except DatasetError as exc:
            console.print(f"error {exc}", style="red")
            status = 2
    return status


def run(args: argparse.Namespace, console: Console) -> int:
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    floors = [gates.parse_threshold(t) for t in args.fail_under]
    ceilings = [gates.parse_threshold(t) for t in args.fail_over]
    previous = gates.load_previous(args.compare) if args.compare else None
    paths = dataset_paths(args, suites)
    datasets = {s: _load(s, paths[s], profile(args.corpus)) for s in suites}
    size = args.limit or None
    filters = provenance.parse_filters(args.provenance)
    by_doc = provenance.corpus_provenance(args.corpus) if filters else {}
    for suite, ds in datasets.items():
        if filters and suite in ("retrieval", "answers"):
            ds.items = provenance.select(ds.items, by_doc, filters)
        cap = min(x for x in (size, QUICK[suite] if args.quick else None, len(ds.items)) if x)
        items = ds.items
        if suite == "redflag" and args.split != "all":
            items = [it for it in items if it.split == args.split]
        if suite == "retrieval":  # subset only what the suite can score, so --quick 30 means 30 rankings
            items = [it for it in items if retrieval.scorable(it)]
        ds.items = quick_subset(items, min(cap, len(items)))
    out = args.out or Path("eval-runs") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.time()
    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        **git_commit(),
        "suites": suites,
        "datasets": {s: ds.describe() for s, ds in datasets.items()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "python": platform.python_version(),
        "llm_judge": os.environ.get("GQA_EVAL_LLM_BASE_URL") or None,
    }
    if not args.url:
        meta["corpus"] = str(args.corpus)
        meta["corpus_fingerprint"] = corpus_fingerprint(args.corpus)
    with service(args.url, args.corpus, args.store) as url:
        client = ServiceClient(url, timeout=args.timeout)
        meta["url"] = url
        meta["service_ready"] = client.check()
        meta["corpus_version"] = meta["service_ready"].get("corpus_version")  # as the service reports it
        results = summary.run_suites(client, datasets, args, console)
        client.close()
    meta["duration_s"] = round(time.time() - started, 1)
    meta["index_versions"] = sorted(
        {str(i["index_version"]) for r in results.values() for i in r.items if i.get("index_version")}
    )
    document = summary.assemble(meta, results, client.latency, floors, ceilings, previous, args.compare)
    paths = report.write_reports(out, document, dict(client.latency.samples))
    summary.print_summary(console, document)
    console.print(f"reports: {paths['html']}  {paths['md']}  {paths['json']}", highlight=False)
    return 0 if document["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    if _is_feedback_export(argv):  # its own options live in evals/feedback_export.py
        from evals.feedback_export import main as feedback_export

        return feedback_export((sys.argv[1:] if argv is None else argv)[1:])
    args = parse_args(argv)
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 130)
    err = Console(stderr=True, soft_wrap=True)
    if args.command == "check-datasets":
        return check_datasets(console)
    try:
        return run(args, console)
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        err.print(f"error: {exc}", style="red", highlight=False)
        return 2
    except (ServiceUnavailable, ServerError) as exc:
        err.print(f"error: {exc}", style="red", highlight=False)
        return 3


if __name__ == "__main__":
    sys.exit(main())
