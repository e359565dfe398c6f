"""The red-flag screen's question embedding is reused by retrieval within one request
(service/shared_vectors.py): one transformer pass saved per answered question, the same answers, and never
the other way round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service import answering, shared_vectors
from service.answering import Answerer
from service.live_index import LiveIndex
from service.models import AskRequest
from service.settings import Settings
from service.shared_vectors import encode_reusing, remember, request_vectors


class CountingEmbedder:
    """Deterministic fake vectors, counting which texts were embedded."""

    def __init__(self, dim: int = 4):
        self.dim = dim
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.asarray([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float32)


def test_outside_a_request_every_text_is_embedded():
    emb = CountingEmbedder()
    remember(emb, ["chest pain"], emb.encode(["chest pain"]))  # no request open: nothing kept
    emb.seen.clear()
    encode_reusing(emb, ["chest pain"])
    assert emb.seen == ["chest pain"]


def test_inside_a_request_only_unseen_texts_are_embedded_and_order_is_kept():
    emb = CountingEmbedder()
    with request_vectors():
        remember(emb, ["b"], np.asarray([[9, 9, 9, 9]], dtype=np.float32))
        out = encode_reusing(emb, ["a", "b", "a"])
    assert emb.seen == ["a"]
    assert out[1].tolist() == [9, 9, 9, 9]
    assert out[0].tolist() == out[2].tolist() == [1, 1, 0, 1]


def test_vectors_of_another_embedder_are_never_reused():
    """The static red-flag model's 16-dimensional vectors must not reach retrieval."""
    screen_model, retrieval_model = CountingEmbedder(), CountingEmbedder()
    with request_vectors():
        remember(screen_model, ["q"], np.zeros((1, 4), dtype=np.float32))
        encode_reusing(retrieval_model, ["q"])
    assert retrieval_model.seen == ["q"]


def test_the_memo_ends_with_the_request():
    emb = CountingEmbedder()
    with request_vectors():
        remember(emb, ["q"], emb.encode(["q"]))
    emb.seen.clear()
    with request_vectors():
        encode_reusing(emb, ["q"])
    assert emb.seen == ["q"]


@pytest.fixture(scope="module")
def answerer(corpus_store: Path):
    # a screen that embeds with MiniLM (v10), so there is a vector for retrieval to reuse; the default
    # static11r screen embeds with its own static vectors (test_a_static_screen_leaves_one_minilm_pass)
    settings = Settings(store_dir=corpus_store, rate_limit_per_minute=0, redflag_model="v10")
    live = LiveIndex(settings)
    ans = Answerer(settings, live)
    ans.warm_up()
    live.refresh()  # load the generation now, in this thread (no watcher to start and stop)
    assert ans.not_ready_reason() is None
    return ans


QUESTIONS = [
    "which osteoporosis drugs should be started after vertebroplasty?",
    "how common is pulmonary cement embolism?",
    "is same-day discharge ok after vertebroplasty?",
    "what is the capital of France?",
]


def test_a_minilm_screen_never_hands_its_vectors_to_the_adapted_retriever(answerer, monkeypatch):
    """With the dense adapter on (the default), a MiniLM screen (v10) embeds with the base model and retrieval
    with the adapted one: the memo is keyed by embedder, so retrieval embeds the question itself, exactly
    once, and the answers are those without the memo."""
    guard = answerer._guard
    assert guard is not None and guard.learned is not None, "the v10 screen has a learned layer"
    retriever = answerer._embedder
    assert guard.learned.embedder is not retriever, "the screen keeps the base MiniLM"
    assert guard.learned.embedder.name != retriever.name
    calls: list[tuple[int, list[str]]] = []
    real = type(retriever).encode

    def counting(self, texts):
        calls.append((id(self), list(texts)))
        return real(self, texts)

    monkeypatch.setattr(type(retriever), "encode", counting)
    for q in QUESTIONS:
        calls.clear()
        with_memo, _ = answerer.ask(AskRequest(question=q))
        by_retriever = [t for who, batch in calls if who == id(retriever) for t in batch]
        assert by_retriever.count(q) == 1, (q, calls)
        assert with_memo.red_flag is None
        monkeypatch.setattr(answering, "encode_reusing", lambda emb, texts: emb.encode(list(texts)))
        without, _ = answerer.ask(AskRequest(question=q))
        monkeypatch.setattr(answering, "encode_reusing", shared_vectors.encode_reusing)
        assert (with_memo.mode, with_memo.answer, with_memo.citations) == (
            without.mode, without.answer, without.citations)


def test_a_static_screen_leaves_one_minilm_pass(corpus_store: Path, monkeypatch):
    """With the default static screen (static11r) the question is still embedded by MiniLM exactly once, for
    retrieval: the static vectors are keyed by their own embedder and never reach it."""
    settings = Settings(store_dir=corpus_store, rate_limit_per_minute=0)
    assert settings.redflag_model == "static11r"
    live = LiveIndex(settings)
    ans = Answerer(settings, live)
    ans.warm_up()
    live.refresh()
    assert ans._guard is not None and ans._guard.learned is not None
    assert ans._guard.learned.embedder is not ans._embedder
    calls: list[list[str]] = []
    real = type(ans._embedder).encode

    def counting(self, texts):
        calls.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(type(ans._embedder), "encode", counting)
    q = QUESTIONS[0]
    response, _ = ans.ask(AskRequest(question=q))
    assert [t for batch in calls for t in batch].count(q) == 1 and response.red_flag is None
