"""What reusing the red-flag screen's question vector in retrieval saves (service/shared_vectors.py).

`python -m evals.bench_vector_reuse [STORE]`: the service's own Answerer in process over the bench store
(`make bench` builds it from open-medicine), the bench's 250 questions, each answered twice — once with the
reuse (the service as shipped) and once with retrieval embedding the question itself — in alternating order,
so machine load falls on both alike. Prints p50 / p95 of each and the paired saving.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from evals.bench import percentile, questions, stored_chunks
from service import answering, shared_vectors
from service.answering import Answerer
from service.live_index import LiveIndex
from service.models import AskRequest
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _embed_again(embedder, texts):
    return embedder.encode(list(texts))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    store = Path(argv[0]) if argv else ROOT / ".store" / "bench"
    qs = questions(stored_chunks(store), 250)
    settings = Settings(store_dir=store, rate_limit_per_minute=0)
    live = LiveIndex(settings)
    answerer = Answerer(settings, live)
    answerer.warm_up()
    live.refresh()  # load the generation now, in this thread
    reason = answerer.not_ready_reason()
    if reason:
        raise SystemExit(f"not ready: {reason} (run `make bench` first to build {store})")
    for q in qs[:20]:  # warm caches
        answerer.ask(AskRequest(question=q))
    timings: dict[bool, list[float]] = {True: [], False: []}
    try:
        for i, q in enumerate(qs):
            for reuse in ((True, False) if i % 2 == 0 else (False, True)):
                answering.encode_reusing = shared_vectors.encode_reusing if reuse else _embed_again
                started = time.perf_counter()
                answerer.ask(AskRequest(question=q))
                timings[reuse].append((time.perf_counter() - started) * 1000)
    finally:
        answering.encode_reusing = shared_vectors.encode_reusing
    for reuse, label in ((True, "screen vector reused (shipped)"), (False, "question embedded again")):
        v = timings[reuse]
        print(f"{label:32s} p50 {statistics.median(v):6.1f} ms  p95 {percentile(v, 95):6.1f} ms (n={len(v)})")
    saved = [b - a for a, b in zip(timings[True], timings[False], strict=True)]
    print(f"paired saving per question: median {statistics.median(saved):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
