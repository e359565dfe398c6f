"""`python -m ingest PATH [PATH ...] [--dry-run] [--prune] [--repair]`: bring the index in line with PATHs.

Exit 0 on success; exit 1 with one `error: PATH: problem` line per invalid document or refused file (nothing
written); exit 2 on a store error, with what to do when the store is unreadable (`--repair`), or on an invalid
`GQA_*` setting, with one line naming the variable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from config import InvalidSettings, StoreSettings, load_settings, prepare_process
from ingest.documents import Problem
from ingest.pipeline import InvalidDocuments, Plan, RepairUnsupported, StoreUnreadable, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Chunk, embed and upsert every *.md under each PATH into the guideline-qa index. "
        "Unchanged documents are skipped, changed ones re-embedded; the live index switches only when "
        "the new generation is complete. Store: GQA_STORE_DIR (default ./.store) or GQA_CHROMA_URL.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="folder or file of Markdown documents"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print added/changed/unchanged/removed, write nothing"
    )
    parser.add_argument(
        "--prune", action="store_true", help="delete documents of these PATHs no longer present"
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="rebuild the embedded store from these PATHs and move the old one aside "
        "(GQA_STORE_DIR/chroma.before-repair-<UTC time>, never deleted); for a corrupt or unreadable store",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.repair and args.dry_run:
        parser.error("--repair and --dry-run cannot be combined (a repair does not read the old store)")
    return args


def print_notices(notices: list[Problem], err: Console) -> None:
    """Files left out on purpose (FIFOs, devices, sockets, symlinked folders inside PATH), one line each."""
    for notice in notices:
        err.print(f"note: {notice}", highlight=False, markup=False)


def describe(plan: Plan, console: Console, verbose: bool) -> None:
    for label, items in (
        ("added", [d.doc_id for d in plan.added]),
        ("changed", [d.doc_id for d in plan.changed]),
        ("removed", plan.removed),
    ):
        for doc_id in items if verbose else []:
            console.print(f"  {label:9} {doc_id}", highlight=False)
    console.print(
        f"plan: {len(plan.added)} added, {len(plan.changed)} changed, {len(plan.unchanged)} unchanged, "
        f"{len(plan.removed)} removed",
        highlight=False,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=False, soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    try:
        settings = load_settings(StoreSettings)
    except InvalidSettings as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return 2
    prepare_process()
    progress = Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=args.quiet or not err.is_terminal,
    )
    task = None

    def on_plan(plan: Plan, n_chunks: int) -> None:
        nonlocal task
        describe(plan, console, verbose=args.dry_run)
        if not args.dry_run and n_chunks:
            task = progress.add_task("embed", total=n_chunks)

    try:
        with progress:
            result = run(
                args.paths,
                settings,
                prune=args.prune,
                dry_run=args.dry_run,
                repair=args.repair,
                on_plan=on_plan,
                progress=lambda n: progress.advance(task, n) if task is not None else None,
            )
    except InvalidDocuments as exc:
        print_notices(exc.notices, err)
        for problem in exc.problems:
            err.print(f"error: {problem}", highlight=False, markup=False)
        err.print(
            f"{len(exc.problems)} invalid document(s) or refused file(s); nothing was written, "
            "the live index is unchanged.",
            highlight=False,
            markup=False,
        )
        return 1
    except (StoreUnreadable, RepairUnsupported) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return 2
    except Exception as exc:  # noqa: BLE001 - a store or model failure: one clear line, not a traceback
        err.print(
            f"error: ingest failed: {type(exc).__name__}: {exc}; the live index is unchanged.",
            highlight=False,
            markup=False,
        )
        return 2
    print_notices(result.notices, err)
    plan = result.plan
    if result.moved_aside is not None:
        console.print(f"repair: the previous store was moved aside to {result.moved_aside}", highlight=False)
    if args.repair:
        console.print(
            "repair: the rebuilt index holds only the documents of the given PATHs; "
            "restart the service to serve it",
            highlight=False,
        )
    if args.dry_run:
        console.print("dry run: nothing written", highlight=False)
    elif not plan.has_changes:
        console.print(
            f"up to date: {len(plan.unchanged)} unchanged, generation {result.generation}", highlight=False
        )
    else:
        console.print(
            f"ingested generation {result.generation}: {result.chunks_embedded} chunks embedded, "
            f"{result.chunks_kept} records kept ({result.chunks_copied} copied), "
            f"{len(plan.removed)} documents removed in {result.seconds:.1f}s",
            highlight=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
