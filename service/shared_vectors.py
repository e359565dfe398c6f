"""One request's sentence embeddings, shared between the red-flag screen and retrieval.

Why: with the default learned red-flag model the screen embeds the question with the same MiniLM that
retrieval then embeds it with again — one transformer pass (~6 ms on a quiet 2-core machine, more under
load) spent twice on every answered question, which is what kept `/v1/ask` p95 over its 50 ms budget.

Only one direction is allowed, so the screen's decision can never depend on what ran before it:
* the screen *records* the vectors it computed (`remember`) and never reads the memo;
* retrieval *reads* it (`encode_reusing`): a text the screen embedded in this request is not embedded again,
  the others are.
Entries are keyed by the embedder that made them: the static red-flag model embeds with its own
16-dimensional vectors, which retrieval must never be handed. The memo lives in a context variable opened
per request (`request_vectors`), so nothing is shared between requests or threads, and code outside a
request (evals, training, `/v1/retrieve`) sees no memo at all and embeds as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_memo: ContextVar[dict[tuple[int, str], np.ndarray] | None] = ContextVar("request_vectors", default=None)


@contextmanager
def request_vectors() -> Iterator[None]:
    """Open an empty memo for the duration of one request."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def remember(embedder, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Record vectors the screen computed with `embedder` (a no-op outside a request)."""
    memo = _memo.get()
    if memo is None:
        return
    for text, vector in zip(texts, vectors, strict=True):
        memo.setdefault((id(embedder), text), vector)


def encode_reusing(embedder, texts: Sequence[str]) -> np.ndarray:
    """`embedder.encode(texts)`, taking the texts already embedded in this request from the memo."""
    memo = _memo.get()
    if not memo:
        return embedder.encode(list(texts))
    known = {t: memo[(id(embedder), t)] for t in texts if (id(embedder), t) in memo}
    if not known:
        return embedder.encode(list(texts))
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    fresh = dict(zip(missing, embedder.encode(missing), strict=True)) if missing else {}
    return np.stack([known[t] if t in known else fresh[t] for t in texts]).astype(np.float32, copy=False)
