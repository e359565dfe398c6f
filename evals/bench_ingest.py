"""`make bench-ingest`: ingest timings on open-medicine, with a llama-index baseline in the same run.

Prints full ingest time, an unchanged re-run and a one-document change (each with its ratio to the full
run), and a plain llama-index `VectorStoreIndex` over the same files with the same MiniLM model
(ratio ours/baseline).
Each run is a fresh subprocess, model load included, so the figures are what the content team waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.keyfacts import open_medicine_dir

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = open_medicine_dir()

BASELINE = r"""
import os, sys, time
from pathlib import Path
import llama_index.core as lic
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(lic.__file__).parent / "_static" / "tiktoken_cache"))
from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from ingest.embedding import default_model_dir
Settings.llm = None
Settings.embed_model = HuggingFaceEmbedding(model_name=str(default_model_dir()), device="cpu")
docs = SimpleDirectoryReader(sys.argv[1], recursive=True, required_exts=[".md"]).load_data()
index = VectorStoreIndex.from_documents(docs)
print(len(docs))
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_ingest", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of Markdown documents")
    parser.add_argument(
        "--backend", default=os.environ.get("GQA_EMBED_BACKEND", ""), help="embedding backend"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the llama-index baseline")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="gqa-bench-ingest-"))
    corpus = work / "corpus"
    shutil.copytree(args.corpus, corpus)  # a private copy we may edit for the one-change run
    env = {**os.environ, "GQA_STORE_DIR": str(work / "store"), "HF_HUB_OFFLINE": "1"}
    if args.backend:
        env["GQA_EMBED_BACKEND"] = args.backend
    ingest = [sys.executable, "-m", "ingest", "--quiet", str(corpus)]
    try:
        # warm the exported model cache so the full run measures ingest, not the one-off export
        subprocess.run(
            [sys.executable, "-c", "from ingest.embedding import get_embedder; get_embedder()"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        full = timed(ingest, env)
        unchanged = timed(ingest, env)
        victim = sorted(corpus.rglob("*.md"))[0]
        victim.write_text(victim.read_text() + "\n\nAn added closing sentence for the benchmark run.\n")
        one_change = timed(ingest, env)
        baseline = None if args.no_baseline else timed([sys.executable, "-c", BASELINE, str(corpus)], env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "files": sum(1 for _ in args.corpus.rglob("*.md")),
        "backend": args.backend or "default",
        "full_s": round(full, 2),
        "unchanged_s": round(unchanged, 2),
        "unchanged_ratio": round(unchanged / full, 3),
        "one_change_s": round(one_change, 2),
        "one_change_ratio": round(one_change / full, 3),
        "llamaindex_baseline_s": round(baseline, 2) if baseline else None,
        "full_vs_baseline_ratio": round(full / baseline, 3) if baseline else None,
    }
    print(f"{'measure':28} {'seconds':>8} {'ratio':>8}")
    print(f"{'full ingest':28} {full:8.2f} {'1.000':>8}   (target <= 30 s)")
    print(f"{'unchanged re-run':28} {unchanged:8.2f} {unchanged / full:8.3f}   (target <= 0.1 x full)")
    print(f"{'one document changed':28} {one_change:8.2f} {one_change / full:8.3f}   (target <= 0.2 x full)")
    if baseline:
        print(
            f"{'llama-index VectorStoreIndex':28} {baseline:8.2f} {full / baseline:8.3f}   (ours / baseline)"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
