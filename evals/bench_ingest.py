"""`make bench-ingest`: ingest timings on open-medicine, with a llama-index baseline in the same run.

Prints full ingest time, an unchanged re-run and a one-document change (each with its ratio to the full
run), and a plain llama-index `VectorStoreIndex` over the same files with the same MiniLM model
(ratio ours/baseline).
Each run is a fresh subprocess, model load included, so the figures are what the content team waits for.

Then where the time goes, in-process, for the Markdown corpus and for a PDF printed by headless Chromium
from the same sections (one long guideline-like PDF, running header and footer, page numbers): parse
(read + format adapter + front matter), chunk, and embed (the model's forward passes), each as a share of
their sum, and PDF pages per second for the parse step alone and for parse + chunk + embed.
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
from evals.pdf_print import print_pdf as print_pdf_file

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


PDF_CSS = """@page { size: A4; margin: 20mm 18mm;
  @top-center { content: "Open Medicine guideline collection"; font-size: 8pt; }
  @bottom-center { content: "page " counter(page); font-size: 8pt; } }
body { font-family: serif; font-size: 10.5pt; } h1 { font-size: 20pt; break-before: page; }
h2 { font-size: 15pt; } h3 { font-size: 12.5pt; }
table { border-collapse: collapse; } th, td { border: 0.6pt solid #000; padding: 2pt; font-size: 9pt; }"""


def print_pdf(sections: list[Path], target: Path) -> int:
    """One PDF of these Markdown sections, printed by headless Chromium; returns its page count."""
    from markdown_it import MarkdownIt
    from pypdf import PdfReader

    renderer = MarkdownIt("commonmark").enable("table")
    body = "".join(renderer.render(path.read_text().split("\n---\n", 2)[-1]) for path in sections)
    print_pdf_file(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><style>{PDF_CSS}</style>"
        f"</head><body>{body}</body></html>",
        target,
    )
    return len(PdfReader(target).pages)


def phases(folder: Path) -> dict[str, float]:
    """Seconds spent parsing, chunking and embedding `folder`, in-process, the way the pipeline does."""
    from ingest.chunking import chunk_document
    from ingest.documents import load_documents
    from ingest.embedding import get_embedder, get_token_counter

    embedder, count = get_embedder(), get_token_counter()
    started = time.perf_counter()
    loaded = load_documents([folder])
    if loaded.problems:
        raise SystemExit("; ".join(str(p) for p in loaded.problems))
    parsed = time.perf_counter()
    chunks = [c for doc in loaded.documents for c in chunk_document(doc, count)]
    chunked = time.perf_counter()
    for start in range(0, len(chunks), 256):
        part = chunks[start : start + 256]
        embedder.encode_with_spans([c.embed_text for c in part], [c.embed_spans for c in part])
    embedded = time.perf_counter()
    return {
        "parse_s": parsed - started,
        "chunk_s": chunked - parsed,
        "embed_s": embedded - chunked,
        "chunks": len(chunks),
    }


def print_phases(name: str, figures: dict[str, float], pages: int | None = None) -> None:
    total = figures["parse_s"] + figures["chunk_s"] + figures["embed_s"]
    print(f"\n{name}: {figures['chunks']} chunks" + (f", {pages} PDF pages" if pages else ""))
    for phase in ("parse", "chunk", "embed"):
        seconds = figures[f"{phase}_s"]
        print(f"  {phase:10} {seconds:8.2f} s  {seconds / total:6.1%}")
    if pages:
        print(
            f"  PDF pages/s: parse alone {pages / figures['parse_s']:.1f}, "
            f"parse + chunk + embed {pages / total:.1f}  (2-core machine, one process)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_ingest", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of Markdown documents")
    parser.add_argument(
        "--backend", default=os.environ.get("GQA_EMBED_BACKEND", ""), help="embedding backend"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the llama-index baseline")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--pdf-sections",
        type=int,
        default=40,
        help="open-medicine sections printed into the PDF (0 = no PDF)",
    )
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
    markdown = phases(args.corpus)
    print_phases("Markdown corpus, where the time goes", markdown)
    figures["markdown_phases"] = markdown
    if args.pdf_sections:
        with tempfile.TemporaryDirectory(prefix="gqa-bench-pdf-") as tmp:
            folder = Path(tmp) / "pdf"
            folder.mkdir()
            sections = sorted(args.corpus.rglob("*.md"))[: args.pdf_sections]
            pages = print_pdf(sections, folder / "collection.pdf")
            (folder / "collection.meta.yaml").write_text(
                "id: bench_pdf\ntitle: Open Medicine collection\ntype: guideline\n"
                "organisation: Open Medicine\nyear: 2024\nsource: open-medicine (MIT)\n"
            )
            pdf = phases(folder)
        print_phases("PDF, where the time goes", pdf, pages)
        figures["pdf_phases"] = {**pdf, "pages": pages, "pages_per_s_parse": round(pages / pdf["parse_s"], 2)}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
