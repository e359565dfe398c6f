"""Learned layer v6 (fine-tuned MiniLM): same data gives the same weights, the service scores a text exactly
as training scored it (frozen-state cache, padding, pieces of a long note), and the shipped files are checked.

The real bundled MiniLM is used (a few seconds to load); the fits are tiny (a dozen texts, one epoch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.guardrails.finetuned import (
    N_LAYERS,
    FinetunedModel,
    FinetunedScreen,
    base_fingerprint,
    state_arrays,
)
from service.guardrails.learned import MODEL_DIR, ModelError
from service.guardrails.rule_features import NAMES as RULE_FEATURE_NAMES
from service.guardrails.train_finetuned import Cache, Recipe, fit, make_cache, probabilities, save
from service.guardrails.train_learned import training_units
from service.guardrails.weights_file import npz_bytes
from tests.support.redflag_toy import NEGATIVES, POSITIVES, toy_rows

CATEGORIES = ["anaphylaxis", "stroke"]
TINY = Recipe(top=1, epochs=1, batch=4)


def _units() -> list:
    return training_units(toy_rows(CATEGORIES))


@pytest.fixture(scope="module")
def cache() -> Cache:
    return make_cache(N_LAYERS - TINY.top)


@pytest.fixture(scope="module")
def saved(cache: Cache, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    layers, head = fit(_units(), cache, TINY, CATEGORIES)
    from ingest.embedding import resolve_model_dir

    meta = {"trained": "test", "top_layers": TINY.top, "threshold": 0.4, "threshold_no_finding": 0.6,
            "categories": CATEGORIES, "rule_features": list(RULE_FEATURE_NAMES),
            "base_fingerprint": base_fingerprint(resolve_model_dir(None))}
    target = tmp_path_factory.mktemp("finetuned")
    return target, save(state_arrays(layers, head, N_LAYERS - TINY.top), meta, target)


def test_same_data_same_weights(cache: Cache) -> None:
    fits = [fit(_units(), cache, TINY, CATEGORIES) for _ in range(2)]
    a, b = (state_arrays(layers, head, N_LAYERS - TINY.top) for layers, head in fits)
    assert sorted(a) == sorted(b) and any(k.startswith("layer.5.") for k in a)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert npz_bytes(a) == npz_bytes(b)  # same weights, same file bytes, so the same sha256 and version


def test_fine_tuning_moves_the_top_layer_only(cache: Cache) -> None:
    layers, _ = fit(_units(), cache, TINY, CATEGORIES)
    trained = layers[0].state_dict()
    base = cache.base.encoder.layer[N_LAYERS - 1].state_dict()  # the cache's base stays as shipped
    assert any(not np.array_equal(trained[k].numpy(), base[k].numpy()) for k in trained)


def test_service_scores_what_training_scored(saved: tuple[Path, dict]) -> None:
    """The loaded model (base + shipped fp16 layers) gives, per text, the probability training's batched,
    cached path gives with the same weights: padding, the frozen-state cache and the head agree."""
    target, meta = saved
    model = FinetunedModel.load(target)
    screen = FinetunedScreen(model)
    cache = Cache(model.base, model.tokenizer, model.start)
    probs = probabilities(model.base.encoder.layer[model.start:], model.head, cache, POSITIVES + NEGATIVES)
    for text in POSITIVES + NEGATIVES:
        assert screen.score(text).probability == pytest.approx(probs[text], abs=1e-5)
    assert screen.version == meta["version"] and screen.version.startswith("v6-test+")
    assert screen.threshold_for(True) == 0.4 and screen.threshold_for(False) == 0.6


def test_onnx_graph_scores_as_torch(saved: tuple[Path, dict], tmp_path: Path) -> None:
    """The service runs the exported graph (cached after the first load): same logits as the torch path."""
    target, _ = saved
    torch_model = FinetunedModel.load(target)
    onnx_model = FinetunedModel.load(target, cache_dir=tmp_path)
    assert onnx_model._session is not None and len(list((tmp_path / "onnx").glob("redflag-v6-*.onnx"))) == 1
    batch = POSITIVES + NEGATIVES
    assert np.allclose(onnx_model.logits(batch), torch_model.logits(batch), atol=1e-4)
    for text in batch:  # one at a time, as the guardrail calls it, and the same twice
        assert np.allclose(onnx_model.logits([text]), torch_model.logits([text]), atol=1e-4)
        assert np.array_equal(onnx_model.logits([text]), onnx_model.logits([text]))
    again = FinetunedModel.load(target, cache_dir=tmp_path)  # reuses the cached graph
    assert np.array_equal(again.logits(batch), onnx_model.logits(batch))


def test_long_note_scores_its_strongest_piece(saved: tuple[Path, dict], tmp_path: Path) -> None:
    from service.guardrails.detector import chunks

    screen = FinetunedScreen(FinetunedModel.load(saved[0], cache_dir=tmp_path))
    note = "Day 2 after L1 vertebroplasty, routine observations, mobilising with physio. " * 30
    text = note + POSITIVES[3]
    parts = chunks(text)
    assert len(parts) > 1
    # the pieces are scored in one padded batch: equal to scoring each alone up to float rounding (batch
    # shapes pick different kernels); the same text always gives exactly the same score
    assert screen.score(text).probability == pytest.approx(max(screen.score(p).probability for p in parts),
                                                           rel=1e-6)
    assert screen.score(text) == screen.score(text)


def test_tampered_weights_or_another_base_are_refused(saved: tuple[Path, dict], tmp_path: Path) -> None:
    target, _ = saved
    shutil.copytree(target, tmp_path / "m")
    raw = bytearray((tmp_path / "m" / "finetuned.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "m" / "finetuned.npz").write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="sha256"):
        FinetunedModel.load(tmp_path / "m")
    shutil.copytree(target, tmp_path / "n")
    meta = json.loads((tmp_path / "n" / "finetuned.json").read_text())
    (tmp_path / "n" / "finetuned.json").write_text(json.dumps({**meta, "base_fingerprint": "0" * 16}))
    with pytest.raises(ModelError, match="another base"):
        FinetunedModel.load(tmp_path / "n")


@pytest.mark.skipif(not (MODEL_DIR / "finetuned.json").exists(), reason="no v6 model shipped")
def test_shipped_v6_loads_and_names_its_version(tmp_path: Path) -> None:
    from service.guardrails import Guardrail
    from service.settings import Settings

    root = Path(__file__).resolve().parent.parent
    g = Guardrail.from_settings(Settings(store_dir=tmp_path, audit_log=tmp_path / "audit.jsonl",
                                         guardrails_dir=root / "corpus" / "guardrails", redflag_model="v6"))
    assert isinstance(g.learned, FinetunedScreen)
    meta = json.loads((MODEL_DIR / "finetuned.json").read_text(encoding="utf-8"))
    assert g.learned.version == meta["version"]
    assert g.screen("pt post VP now cannot lift either leg and numb between the legs") is not None
    line = json.loads((tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert meta["version"] in line["rule"]


def test_a_v6_that_cannot_load_falls_back_to_the_rules_and_exemplars(monkeypatch, tmp_path: Path) -> None:
    """Any failure loading v6 (a failed graph export, say) refuses v6 alone: the exemplars still load."""
    from service.guardrails import Guardrail
    from service.settings import Settings

    def broken(*_a, **_k):
        raise RuntimeError("export failed")

    monkeypatch.setattr(FinetunedModel, "load", classmethod(lambda cls, *a, **k: broken()))
    root = Path(__file__).resolve().parent.parent
    g = Guardrail.from_settings(Settings(store_dir=tmp_path, audit_log=tmp_path / "audit.jsonl",
                                         guardrails_dir=root / "corpus" / "guardrails", redflag_model="v6"))
    assert g.learned is None and g.exemplars is not None and g.screen_version == "rules"
    assert g.check("sats 82% on 15L, RR 36, after the cement injection") is not None
