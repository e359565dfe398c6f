"""`python -m ingest PATH [PATH ...] [--dry-run] [--prune]`: bring the index in line with the documents.

Exit 0 on success; exit 1 with one line per invalid document (nothing written); exit 2 on a store error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.config import Settings
from ingest.pipeline import InvalidDocuments, Plan, run


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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


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
    settings = Settings()
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
                on_plan=on_plan,
                progress=lambda n: progress.advance(task, n) if task is not None else None,
            )
    except InvalidDocuments as exc:
        for problem in exc.problems:
            err.print(f"error: {problem}", highlight=False)
        err.print(
            f"{len(exc.problems)} invalid document(s); nothing was written, the live index is unchanged."
        )
        return 1
    except Exception as exc:  # noqa: BLE001 - a store or model failure: one clear line, not a traceback
        err.print(f"error: ingest failed: {type(exc).__name__}: {exc}; the live index is unchanged.")
        return 2
    plan = result.plan
    if args.dry_run:
        console.print("dry run: nothing written", highlight=False)
    elif not plan.has_changes:
        console.print(
            f"up to date: {len(plan.unchanged)} unchanged, generation {result.generation}", highlight=False
        )
    else:
        console.print(
            f"ingested generation {result.generation}: {result.chunks_embedded} chunks embedded, "
            f"{result.chunks_copied} records reused, {len(plan.removed)} documents removed "
            f"in {result.seconds:.1f}s",
            highlight=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
