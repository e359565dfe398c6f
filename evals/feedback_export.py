"""`python -m evals feedback-export`: clinicians' thumbs up/down as a JSON-lines dataset for review.

The widget stores each verdict in `<store>/feedback.sqlite3` with the question, the history it was asked
with, the answer, the citations shown and the index generation. This writes one JSON object per answer so an
evaluator can read what was shown, why it was rated down, and turn good cases into golden questions (the
`question`/`history` fields use the same shape as evals/datasets/*.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from config import get_store_settings
from service.feedback_store import FEEDBACK_FILE, FeedbackStore

EPILOG = """\
each line:
  {"id": "fb-<answer_id>", "answer_id", "rating": "up"|"down", "comment", "question", "history",
   "answer", "mode", "citations": [{n, doc_id, title, section, text, score, ...}],
   "cited_contexts": [{doc_id, section}], "article_id", "index_version", "created_at", "updated_at",
   "tags": ["feedback", "rating:down", "mode:extractive", "commented"]}

examples:
  python -m evals feedback-export                               # all feedback, JSON lines on stdout
  python -m evals feedback-export --rating down -o down.jsonl   # only the answers clinicians disliked
"""


def build_parser(prog: str = "python -m evals feedback-export") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Write the feedback stored by the widget (POST /v1/feedback) as a JSON-lines dataset.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store-dir",
        type=Path,
        default=None,
        help=f"the service's store directory holding {FEEDBACK_FILE} (default: GQA_STORE_DIR or ./.store)",
    )
    parser.add_argument("-o", "--out", default="-", help="output file (default: - for stdout)")
    parser.add_argument("--rating", choices=("up", "down"), help="only verdicts with this rating")
    parser.add_argument("--commented", action="store_true", help="only verdicts that carry a comment")
    return parser


def dataset_record(row: dict) -> dict:
    """One stored verdict as a reviewable dataset line (stable key order, derived tags and contexts)."""
    tags = ["feedback", f"rating:{row['rating']}"]
    if row.get("mode"):
        tags.append(f"mode:{row['mode']}")
    if row.get("comment"):
        tags.append("commented")
    contexts = [{"doc_id": c.get("doc_id"), "section": c.get("section")} for c in row["citations"]]
    return {
        "id": f"fb-{row['answer_id']}",
        "answer_id": row["answer_id"],
        "rating": row["rating"],
        "comment": row.get("comment"),
        "question": row["question"],
        "history": row["history"],
        "answer": row["answer"],
        "mode": row.get("mode"),
        "citations": row["citations"],
        "cited_contexts": contexts,
        "article_id": row.get("article_id"),
        "index_version": row.get("index_version"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "tags": tags,
    }


def selected(rows: Iterable[dict], rating: str | None, commented: bool) -> Iterable[dict]:
    for row in rows:
        if rating and row["rating"] != rating:
            continue
        if commented and not row.get("comment"):
            continue
        yield dataset_record(row)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 after writing (an empty dataset is not an error); 2 when the store directory does not exist."""
    args = build_parser().parse_args(argv)
    store_dir = args.store_dir or get_store_settings().store_dir
    if not Path(store_dir).is_dir():
        print(f"error: store directory {store_dir} does not exist (set --store-dir or GQA_STORE_DIR)",
              file=sys.stderr)
        return 2
    store = FeedbackStore.in_store(Path(store_dir))
    records = list(selected(store.records(), args.rating, args.commented))
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.out == "-":
        sys.stdout.write(lines)
        target = "stdout"
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(lines, encoding="utf-8")
        target = str(out)
    counts = Counter(r["rating"] for r in records)
    if not store.path.exists():
        print(f"no feedback stored yet ({store.path} does not exist)", file=sys.stderr)
    print(f"wrote {len(records)} feedback records ({counts['up']} up, {counts['down']} down) to {target}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
