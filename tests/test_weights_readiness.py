"""A damaged shipped weights file makes the service report itself not ready, naming the file — not a 500 on
every request — while the red-flag screen still answers emergencies."""

from __future__ import annotations

from pathlib import Path

import pytest

import service.abstention_model as abstention_model
import service.passage_choice as passage_choice
import service.rerank as rerank
from service.answering import Answerer, shipped_weights_error
from service.live_index import LiveIndex, NotReady
from service.models import AskRequest, RetrieveRequest
from service.settings import Settings

LOADERS = (rerank.shipped_reranker, passage_choice.shipped_chooser, abstention_model.shipped_model)


@pytest.fixture
def fresh_loaders():
    """The loaders are cached per process: start and end each test with empty caches."""
    for load in LOADERS:
        load.cache_clear()
    yield
    for load in LOADERS:
        load.cache_clear()


def test_the_shipped_files_load(fresh_loaders) -> None:
    assert shipped_weights_error() is None


@pytest.mark.parametrize(("module", "text", "name"), [
    (rerank, "{not json", "rerank.json"),
    (rerank, '{"format": 3, "learner": "boosted trees", "features": []}', "rerank.json"),
    (passage_choice, '{"format": 1}', "passage_choice.json"),
    (abstention_model, '{"features": ["x"]}', "abstention.json"),
])  # fmt: skip
def test_a_damaged_file_is_named(fresh_loaders, monkeypatch, tmp_path: Path, module, text, name) -> None:
    bad = tmp_path / name
    bad.write_text(text, encoding="utf-8")
    monkeypatch.setattr(module, "WEIGHTS_PATH", bad)
    error = shipped_weights_error()
    assert error is not None and name in error


def test_the_answerer_is_not_ready_but_still_screens(fresh_loaders, monkeypatch, tmp_path: Path,
                                                     corpus_store: Path) -> None:
    bad = tmp_path / "rerank.json"
    bad.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(rerank, "WEIGHTS_PATH", bad)
    settings = Settings(store_dir=corpus_store, rate_limit_per_minute=0)
    live = LiveIndex(settings)
    answerer = Answerer(settings, live)
    answerer.warm_up()
    live.refresh()
    reason = answerer.not_ready_reason()
    assert reason is not None and "rerank.json" in reason
    with pytest.raises(NotReady, match="rerank.json"):
        answerer.retrieve(RetrieveRequest(query="how common is cement leakage after vertebroplasty?"))
    with pytest.raises(NotReady, match="rerank.json"):
        answerer.ask(AskRequest(question="how common is cement leakage after vertebroplasty?"))
    flagged, _ = answerer.ask(AskRequest(question="she cannot move her legs since the vertebroplasty this "
                                                  "morning and has lost bladder control"))
    assert flagged.red_flag is not None and flagged.mode == "red_flag"


def test_the_caller_gets_a_category_and_a_fixed_sentence_not_the_path(fresh_loaders, monkeypatch,
                                                                       tmp_path: Path) -> None:
    from service.operations.public_errors import not_ready_body

    bad = tmp_path / "passage_choice.json"
    bad.write_text("[]", encoding="utf-8")
    monkeypatch.setattr(passage_choice, "WEIGHTS_PATH", bad)
    body = not_ready_body(shipped_weights_error(), "req-1")
    assert body["category"] == "weights_unavailable"
    assert str(tmp_path) not in str(body) and "passage_choice" not in str(body)
