"""Process-wide switches, set by each entry point (`python -m ingest`, the service's app factory and
launcher) rather than as a side effect of importing a module.

* The embedding model is loaded from local folders with `local_files_only=True` (ingest/embedding.py), so no
  hub call is attempted; `HF_HUB_OFFLINE`/`TRANSFORMERS_OFFLINE` are set too, as a second guard for any
  library code that would otherwise look for a newer file (the Makefile exports the same).
* `TOKENIZERS_PARALLELISM=false`: the ONNX embedder already runs one tokenizer call per core from its own
  threads; the tokenizers library's own thread pool on top only oversubscribes two cores, and once used it
  warns at every later fork (the service and the tests start subprocesses).
* BLAS one thread per process (the service): its matrix products are tiny (one query against a few thousand
  rows), requests already run in parallel on the server's threads, and OpenBLAS's own threads only add
  hand-off latency (p95 0.4 → 16 ms measured under load on two cores). threadpoolctl applies it after numpy
  has loaded, which environment variables cannot; an operator's `OPENBLAS_NUM_THREADS` or `MKL_NUM_THREADS`
  still wins.

Variables already set by the operator are left as they are.
"""

from __future__ import annotations

import os

MODEL_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def prepare_process(*, single_threaded_blas: bool = False) -> None:
    """Set the model libraries' switches (and, for the service, one BLAS thread) for this process."""
    for name, value in MODEL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if single_threaded_blas and not any(os.environ.get(name) for name in BLAS_VARIABLES):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
