"""Retrieval through the public API: hybrid beats each retriever alone, follow-ups use history, articles
are preferred but not forced."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ROOT

GOLDEN = ROOT / "evals" / "datasets" / "golden_shipped.jsonl"
ADJACENT_FRACTURE = "What is the most common cause of new pain after vertebroplasty?"


def retrieve(base_url: str, query: str, **extra) -> list[dict]:
    response = httpx.post(base_url + "/v1/retrieve", json={"query": query, **extra}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["passages"]


def section_hit(passage: dict, refs: list[dict]) -> bool:
    return any(
        passage["doc_id"] == r["doc_id"]
        and (passage["section"] == r["section"] or passage["section"].startswith(r["section"] + " › "))
        for r in refs
    )


def mrr_by_mode(base_url: str) -> dict[str, float]:
    items = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip() and line[0] != "/"]
    items = [i for i in items if i.get("reference_contexts") and not i.get("history")]
    assert len(items) >= 30
    out = {}
    for mode in ("dense", "bm25", "hybrid"):
        total = 0.0
        for item in items:
            passages = retrieve(base_url, item["question"], k=10, mode=mode)
            rank = next(
                (r for r, p in enumerate(passages, 1) if section_hit(p, item["reference_contexts"])), None
            )
            total += 1 / rank if rank else 0.0
        out[mode] = total / len(items)
    return out


@pytest.mark.e2e
def test_hybrid_beats_dense_and_bm25_at_section_level(base_url: str) -> None:
    mrr = mrr_by_mode(base_url)
    assert mrr["hybrid"] > mrr["dense"], mrr
    assert mrr["hybrid"] >= mrr["bm25"], mrr
    assert mrr["hybrid"] > 0.8, mrr


def test_modes_really_differ(base_url: str) -> None:
    """A query with a rare exact term: BM25 and dense rank differently, so `mode` is not ignored."""
    query = "STIR"
    rankings = {
        mode: [p["chunk_id"] for p in retrieve(base_url, query, k=5, mode=mode)] for mode in ("dense", "bm25")
    }
    assert rankings["dense"] != rankings["bm25"]
    assert all("STIR" in p["text"] for p in retrieve(base_url, query, k=2, mode="bm25"))


def imaging(passages: list[dict]) -> bool:
    return any("STIR" in p["text"] for p in passages)


@pytest.mark.parametrize(
    "follow_up",
    ["and how is that confirmed?", "Which MRI sequences show it?", "what imaging shows that?"],
)
def test_follow_up_uses_the_previous_turn(base_url: str, follow_up: str) -> None:
    history = [
        {"role": "user", "content": ADJACENT_FRACTURE},
        {"role": "assistant", "content": "A new adjacent-level fracture is the most common cause [1]."},
    ]
    with_history = retrieve(base_url, follow_up, k=3, history=history)
    assert imaging(with_history), [p["section"] for p in with_history]
    assert any("fracture" in p["section"].lower() for p in with_history)


def test_follow_up_without_history_is_not_about_the_fracture(base_url: str) -> None:
    alone = retrieve(base_url, "and how is that confirmed?", k=3)
    assert not all("fracture" in p["section"].lower() for p in alone)


def test_self_contained_follow_up_is_not_dragged_to_the_old_topic(base_url: str) -> None:
    history = [{"role": "user", "content": ADJACENT_FRACTURE}]
    passages = retrieve(
        base_url, "What should be done when denosumab treatment is stopped?", k=3, history=history
    )
    assert passages[0]["doc_id"] == "osteoporosis_treatment_after_fragility_fracture"


def test_article_is_preferred_among_close_candidates(base_url: str) -> None:
    """A passage of the article close to the top score moves to the top: close enough that the article boost
    beats the boost a document the article cites may also get (ARTICLE_BOOST / CITED_BOOST)."""
    from service.retrieval import ARTICLE_BOOST, CITED_BOOST

    query = "how often does cement leak after vertebroplasty"
    plain = retrieve(base_url, query, k=10)
    top = plain[0]
    margin = CITED_BOOST / ARTICLE_BOOST
    close = [p for p in plain[1:6] if p["doc_id"] != top["doc_id"] and p["score"] >= margin * top["score"]]
    assert close, [(p["doc_id"], p["score"]) for p in plain]
    for candidate in close:
        preferred = retrieve(base_url, query, k=5, article_id=candidate["doc_id"])
        assert preferred[0]["doc_id"] == candidate["doc_id"], (candidate["doc_id"], preferred[0]["doc_id"])


def test_cited_documents_are_preferred_too(base_url: str) -> None:
    query = "how often does cement leak after vertebroplasty"
    cited_by_seed = {
        "praxis_traumatic_vertebral_fractures_complications_2025",
        "ann_saudi_med_vertebroplasty_complications_2011",
        "pain_physician_vertebroplasty_systematic_approach_2007",
        "dr_oracle_guideline_directed_topic_overview_2025",
        "praxis_kyphoplasty_vertebral_compression_fractures_2025",
        "praxis_recovery_after_t12_vertebroplasty_2025",
        "spine_j_vertebroplasty_avoid_complications_2001",
        "vertebroplasty_increased_pain_2025",
    }
    plain = retrieve(base_url, query, k=5)
    preferred = retrieve(base_url, query, k=5, article_id="vertebroplasty_increased_pain_2025")
    # rank-weighted, not a bare count: with the adapted dense retriever the plain top 5 already holds four
    # cited documents, and the preference shows in their order (a passage elsewhere drops from 1st to 4th)
    weight = lambda ps: sum(1 / r for r, p in enumerate(ps, 1) if p["doc_id"] in cited_by_seed)  # noqa: E731
    assert weight(preferred) > weight(plain)
    assert preferred[0]["doc_id"] in cited_by_seed  # the article or a document it cites leads


def test_clearly_better_passage_elsewhere_still_wins(base_url: str) -> None:
    query = "rebound vertebral fractures when denosumab is discontinued"
    preferred = retrieve(base_url, query, k=3, article_id="spine_j_vertebroplasty_avoid_complications_2001")
    assert preferred[0]["doc_id"] == "osteoporosis_treatment_after_fragility_fracture"


def test_unknown_article_is_ignored(base_url: str) -> None:
    query = "pulmonary cement embolism management"
    assert retrieve(base_url, query, k=3, article_id="no-such-article") == retrieve(base_url, query, k=3)


def test_exact_search_and_chroma_hnsw_agree(corpus_store, monkeypatch) -> None:
    """Small corpora use an exact search over the snapshot's vectors, large ones Chroma's HNSW query."""
    import service.retrieval as retrieval
    from ingest.embedding import get_embedder
    from service.live_index import LiveIndex
    from service.settings import Settings

    live = LiveIndex(Settings(store_dir=corpus_store))
    assert live.refresh()
    snapshot = live.current()
    vectors = get_embedder().encode(["pulmonary cement embolism anticoagulation", "MRI STIR new fracture"])
    exact = retrieval.dense_ranked(snapshot, vectors, 10)
    monkeypatch.setattr(retrieval, "EXACT_SEARCH_MAX", 0)
    hnsw = retrieval.dense_ranked(snapshot, vectors, 10)
    for (rows_a, sims_a), (rows_b, sims_b) in zip(exact, hnsw, strict=True):
        assert list(rows_a[:5]) == list(rows_b[:5])
        assert abs(float(sims_a[0]) - float(sims_b[0])) < 1e-3


def test_follow_up_of_a_follow_up_reaches_back_to_the_topic(base_url: str) -> None:
    history = [
        {"role": "user", "content": ADJACENT_FRACTURE},
        {"role": "assistant", "content": "A new adjacent-level fracture [1]."},
        {"role": "user", "content": "Is it common?"},
        {"role": "assistant", "content": "It is not rare after the procedure [1]."},
    ]
    passages = retrieve(base_url, "How is it confirmed?", k=3, history=history)
    assert "STIR" in passages[0]["text"], [p["section"] for p in passages]
    only_last_turn = retrieve(base_url, "How is it confirmed?", k=3, history=history[2:])
    assert "STIR" not in only_last_turn[0]["text"]  # the topic was two turns back
