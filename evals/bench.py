"""`make bench`: query latency of the real service on open-medicine, next to what one query embedding costs.

One run: ingest open-medicine into a bench store (a no-op when it is already there), start the service with
uvicorn on 127.0.0.1, send every question to `/v1/retrieve` and to `/v1/ask` (extractive; one client, one
request at a time, after a warm-up) and report p50/p95 per endpoint, the time to embed one query with the
same model in this process, the service's resident memory, and the same questions through a plain
llama-index `VectorStoreIndex` retriever over the same chunks and vectors (the baseline ratio).

Questions: the evals' open-medicine retrieval set, topped up to `--questions` with one question per stored
section heading ("What does <guideline> say about <heading>?"), so the load covers every guideline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from config import prepare_process
from evals.bench_retrieval import print_table, retrieval_table
from evals.keyfacts import open_medicine_dir
from evals.server import ServerError, free_port, spawn_server, stop_server, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = open_medicine_dir()
DATASET = ROOT / "evals" / "datasets" / "retrieval_open_medicine.jsonl"
SHIPPED_DATASET = ROOT / "evals" / "datasets" / "golden_shipped.jsonl"
TARGET_ASK_P95_MS = 50.0
TARGET_P50_EMBED_RATIO = 4.0
TARGET_RSS_MB = 1024.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def ingest(store: Path, corpus: Path) -> None:
    env = {**os.environ, "GQA_STORE_DIR": str(store)}
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "--quiet", str(corpus)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed:\n{proc.stdout}\n{proc.stderr}")


def stored_chunks(store: Path) -> dict:
    """ids, texts, metadatas and vectors of the live generation (for questions and the baseline)."""
    from config import StoreSettings
    from ingest.store import IndexStore

    index = IndexStore(StoreSettings(store_dir=store))
    generation = index.manifest().generation
    if generation is None:
        raise SystemExit(f"no index generation in {store}: the bench ingests first")
    stored = [(r, r.to_chroma()) for r in index.records(generation)]
    return {
        "ids": [s[0] for _, s in stored],
        "texts": [s[1] for _, s in stored],
        "metas": [s[2] for _, s in stored],
        "vectors": [r.vector for r, _ in stored],
    }


def questions(chunks: dict, wanted: int) -> list[str]:
    out = [json.loads(line)["question"] for line in DATASET.read_text().splitlines() if line.strip()]
    seen = set(out)
    for meta in chunks["metas"]:
        guideline = meta["title"].split(" — ")[0]
        q = f"What does {guideline} say about {meta['heading'].lower()}?"
        if len(out) >= wanted:
            break
        if q not in seen and meta["heading"] != meta["title"]:
            seen.add(q)
            out.append(q)
    return out[:wanted] if len(out) >= wanted else out


class Service:
    """The real service in a subprocess, the way `make run` starts it."""

    def __init__(self, store: Path, port: int):
        port = port or free_port()  # a fixed port may already serve someone else's (not-ready) service
        self.url = f"http://127.0.0.1:{port}"
        # the extractive path is what is timed: no LLM settings reach the service
        self.proc = spawn_server(store, port, {"GQA_LOG_LEVEL": "WARNING"}, unset_prefix="GQA_LLM_")
        try:
            wait_until_ready(self.proc, self.url, timeout=180)
        except ServerError as exc:
            self.stop()
            raise SystemExit(f"the service did not become ready: {exc}") from exc

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the service process, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        stop_server(self.proc)


def post(client: httpx.Client, path: str, payload: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post(path, json=payload)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()


def measure(client: httpx.Client, qs: list[str], k: int) -> tuple[dict[str, list[float]], list[dict]]:
    """Per question, back to back: one embedding here, /v1/retrieve, /v1/ask — so all three are timed under
    the same machine load (this machine is shared; a phase-by-phase run compares different loads)."""
    from ingest.embedding import get_embedder

    embedder = get_embedder()
    for q in qs[:20]:  # warm-up: model, caches, connection
        embedder.encode([q])
        post(client, "/v1/retrieve", {"query": q, "k": k})
        post(client, "/v1/ask", {"question": q})
    times: dict[str, list[float]] = {"embed": [], "retrieve": [], "ask": []}
    answers = []
    for q in qs:
        started = time.perf_counter()
        embedder.encode([q])
        times["embed"].append((time.perf_counter() - started) * 1000)
        times["retrieve"].append(post(client, "/v1/retrieve", {"query": q, "k": k})[0])
        elapsed, body = post(client, "/v1/ask", {"question": q})
        times["ask"].append(elapsed)
        answers.append(body)
    return times, answers


def llamaindex_baseline_ms(chunks: dict, qs: list[str], k: int) -> list[float]:
    """A plain llama-index VectorStoreIndex over the same chunks and stored vectors; query embedding by
    llama-index's HuggingFaceEmbedding of the same local model."""
    import llama_index.core as lic

    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(lic.__file__).parent / "_static" / "tiktoken_cache"))
    from llama_index.core import Settings, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from ingest.embedding import default_model_dir

    Settings.llm = None  # llama-index accepts None: no LLM
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(default_model_dir()), device="cpu")
    nodes = [
        TextNode(id_=i, text=t, embedding=list(map(float, v)))
        for i, t, v in zip(chunks["ids"], chunks["texts"], chunks["vectors"], strict=True)
    ]
    retriever = VectorStoreIndex(nodes).as_retriever(similarity_top_k=k)
    for q in qs[:10]:
        retriever.retrieve(q)
    out = []
    for q in qs:
        started = time.perf_counter()
        retriever.retrieve(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, values: list[float]) -> str:
    return f"{name:50} {percentile(values, 50):8.2f} {percentile(values, 95):8.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of Markdown documents")
    parser.add_argument("--store", type=Path, default=ROOT / ".store" / "bench", help="bench store (re-used)")
    parser.add_argument("--questions", type=int, default=250, help="how many questions (at least 200)")
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the llama-index baseline")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--retrieval-table",
        action="store_true",
        help="also score dense / BM25 / hybrid through /v1/retrieve on the evals' open-medicine and "
        "shipped-corpus sets (the shipped corpus is ingested into a second bench store)",
    )
    args = parser.parse_args(argv)
    prepare_process()  # the model also loads in this process (baseline and query vectors)

    print(f"ingesting {args.corpus} into {args.store} (no-op when unchanged) ...", flush=True)
    ingest(args.store, args.corpus)
    chunks = stored_chunks(args.store)
    qs = questions(chunks, args.questions)
    k = 5
    service = Service(args.store, args.port)
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            times, answers = measure(client, qs, k)
            rss_mb, peak_mb = service.memory_mb()
            tables = {"open-medicine": retrieval_table(client, DATASET)} if args.retrieval_table else {}
    finally:
        service.stop()
    if args.retrieval_table:
        shipped_store = args.store.parent / (args.store.name + "-shipped")
        ingest(shipped_store, ROOT / "corpus")
        service = Service(shipped_store, args.port)
        try:
            with httpx.Client(base_url=service.url, timeout=30) as client:
                tables["shipped"] = retrieval_table(client, SHIPPED_DATASET)
                tables["shipped follow-ups (with history)"] = retrieval_table(client, SHIPPED_DATASET, True)
                tables["shipped follow-ups (history withheld)"] = retrieval_table(
                    client, SHIPPED_DATASET, True, send_history=False
                )
        finally:
            service.stop()
    embed_ms, retrieve_ms, ask_ms = times["embed"], times["retrieve"], times["ask"]
    baseline_ms = None if args.no_baseline else llamaindex_baseline_ms(chunks, qs, k)

    modes = {m: sum(a["mode"] == m for a in answers) for m in sorted({a["mode"] for a in answers})}
    embed_p50 = percentile(embed_ms, 50)
    ask_p50, ask_p95 = percentile(ask_ms, 50), percentile(ask_ms, 95)
    figures = {
        "questions": len(qs),
        "chunks": len(chunks["ids"]),
        "retrieve_ms": {"p50": percentile(retrieve_ms, 50), "p95": percentile(retrieve_ms, 95)},
        "ask_ms": {"p50": ask_p50, "p95": ask_p95, "mean": statistics.fmean(ask_ms)},
        "one_query_embedding_ms": {"p50": embed_p50, "p95": percentile(embed_ms, 95)},
        "ask_p50_over_embedding_p50": ask_p50 / embed_p50,
        "service_rss_mb": rss_mb,
        "service_peak_rss_mb": peak_mb,
        "answer_modes": modes,
    }
    if baseline_ms:
        figures["llamaindex_retriever_ms"] = {
            "p50": percentile(baseline_ms, 50),
            "p95": percentile(baseline_ms, 95),
        }
        figures["retrieve_p50_over_llamaindex_p50"] = percentile(retrieve_ms, 50) / percentile(
            baseline_ms, 50
        )
        figures["ask_p50_over_llamaindex_p50"] = ask_p50 / percentile(baseline_ms, 50)

    print(f"\n{len(qs)} questions, {len(chunks['ids'])} passages, k={k}, one request at a time\n")
    print(f"{'':50} {'p50 ms':>8} {'p95 ms':>8}")
    print(row("POST /v1/retrieve (HTTP, client-side)", retrieve_ms))
    print(row("POST /v1/ask, extractive (HTTP, client-side)", ask_ms))
    print(row("one query embedding (bench process, same model)", embed_ms))
    if baseline_ms:
        print(row("llama-index VectorStoreIndex retriever", baseline_ms))
    print()
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(
        f"/v1/ask p95 {ask_p95:.1f} ms (target <= {TARGET_ASK_P95_MS:.0f}): "
        f"{ok(ask_p95 <= TARGET_ASK_P95_MS)}"
    )
    ratio = ask_p50 / embed_p50
    print(
        f"/v1/ask p50 / one embedding = {ratio:.2f} (target <= {TARGET_P50_EMBED_RATIO:.0f}): "
        f"{ok(ratio <= TARGET_P50_EMBED_RATIO)}"
    )
    print(
        f"service RSS {rss_mb:.0f} MB, peak {peak_mb:.0f} MB (target <= {TARGET_RSS_MB:.0f}): "
        f"{ok(peak_mb <= TARGET_RSS_MB)}"
    )
    if baseline_ms:
        print(
            "ours / llama-index retriever, p50: "
            f"/v1/retrieve {figures['retrieve_p50_over_llamaindex_p50']:.2f}, "
            f"/v1/ask {figures['ask_p50_over_llamaindex_p50']:.2f}"
        )
    print(f"answer modes: {modes}")
    for name, table in tables.items():
        print_table(name, table)
    figures["retrieval"] = tables
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
