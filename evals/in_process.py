"""Questions through the service's own pipeline, in process: what the training scripts learn from.

`evals.train_passage_choice` and `evals.train_abstention` both need each tuning question planned and
retrieved exactly as `/v1/ask` would (the evals' cached store of its corpus, the shipped settings, the same
embedder), and both fit a standardised logistic regression on what comes out. One copy of each, here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evals.authors import KeyFactItem
    from service.answering import Retrieved
    from service.live_index import LiveIndex
    from service.settings import Settings


def indexed_corpora(
    items_by_corpus: dict[str, list[KeyFactItem]],
) -> Iterator[tuple[str, list[KeyFactItem], LiveIndex, Settings, object]]:
    """(corpus name, its questions, its live index, the settings, the service's embedder), corpus by corpus
    as given (those with questions), each store built or brought up to date first (evals/server.py's
    cache)."""
    from evals.keyfacts import corpus_dir
    from evals.server import default_store, ingest
    from ingest.embedding import get_embedder
    from service.live_index import LiveIndex
    from service.settings import Settings

    for name, items in items_by_corpus.items():
        if not items:
            continue
        corpus = corpus_dir(name)
        store = default_store(corpus)
        ingest(corpus, store)
        settings = Settings(store_dir=store)
        live = LiveIndex(settings)
        live.refresh()
        yield name, items, live, settings, get_embedder(settings)


def retrieved_questions(
    items_by_corpus: dict[str, list[KeyFactItem]],
) -> Iterator[tuple[str, KeyFactItem, Retrieved]]:
    """(corpus name, question, what retrieval returned for it), corpus by corpus as given."""
    from service.answering import plan_queries, retrieve_passages
    from service.models import Turn

    for name, items, live, settings, embedder in indexed_corpora(items_by_corpus):
        for item in items:
            plan = plan_queries(item.question, [Turn(**t) for t in item.history or []], None)
            yield name, item, retrieve_passages(plan, live, embedder, k=settings.retrieval_k,
                                                depth=settings.candidate_depth)


def fit_standardised_logistic(
    x: np.ndarray, y: np.ndarray, c: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coef, intercept) of a logistic regression (lbfgs: deterministic) on standardised `x`;
    a constant column keeps scale 1 so it cannot divide by zero."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=max_iter).fit((x - mean) / scale, y)
    return mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit_standardised_listwise(
    groups_x: list[np.ndarray], groups_y: list[np.ndarray], l2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, coef) of a listwise linear scorer on standardised features: per group (one question's
    candidates), the softmax of the scores against a uniform target over the group's positives, averaged
    over groups, plus l2 / 2 × |coef|² / groups (no intercept: it cannot change a choice within a group).
    Groups without a positive must be left out by the caller. L-BFGS-B from zero: deterministic."""
    from scipy.optimize import minimize

    x = np.concatenate(groups_x)
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    target = np.concatenate([y / y.sum() for y in groups_y])
    starts = np.cumsum([0] + [len(y) for y in groups_y[:-1]])
    group = np.repeat(np.arange(len(groups_y)), [len(y) for y in groups_y])
    n = len(groups_y)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        s = s - np.maximum.reduceat(s, starts)[group]
        log_p = s - np.log(np.add.reduceat(np.exp(s), starts))[group]  # log-softmax per group
        p = np.exp(log_p)
        value = -float(target @ log_p) / n + 0.5 * l2 / n * float(w @ w)
        return value, z.T @ (p - target) / n + l2 / n * w

    result = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B")
    return mean, scale, np.asarray(result.x, dtype=np.float64)
