"""guideline-qa service: the FastAPI app over the live index (see service/app.py).

BLAS gets one thread per process before numpy loads: the hot-path matrix products here are tiny (one query
against a few thousand rows), requests already run in parallel on the server's threads, and OpenBLAS's own
threads only add hand-off latency (p95 0.4 → 16 ms measured under load on two cores).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
