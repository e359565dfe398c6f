"""The dense adapter: materialised from base + stored changes, refused when altered, named in the label."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from config import StoreSettings
from evals.train_dense_adapter import write
from ingest.dense_adapter import (
    ADAPTER_JSON,
    ADAPTER_NPZ,
    MARKER,
    AdapterError,
    adapted_name,
    base_fingerprint,
    materialise,
)
from ingest.embedding import _model_fingerprint, default_model_dir, model_dir_for
from ingest.records import EmbedderLabel

KEY = "encoder.layer.5.output.dense.bias"


@pytest.fixture(scope="module")
def base():
    return default_model_dir()


@pytest.fixture(scope="module")
def fingerprint(base):
    return base_fingerprint(base)


def tiny_adapter(path, fingerprint, delta=0.01):
    arrays = {KEY: np.full(384, delta, dtype=np.float16)}
    return write(arrays, {"version": "test", "base_fingerprint": fingerprint}, path)


def test_materialised_model_has_the_changes_and_only_them(tmp_path, base, fingerprint):
    meta = tiny_adapter(tmp_path / "adapter", fingerprint)
    folder = materialise(base, tmp_path / "cache", tmp_path / "adapter")
    assert folder.name == adapted_name(tmp_path / "adapter") == f"minilm-adapted-{meta['sha256'][:12]}"
    assert json.loads((folder / MARKER).read_text())["sha256"] == meta["sha256"]
    before, after = load_file(str(base / "model.safetensors")), load_file(str(folder / "model.safetensors"))
    assert np.allclose(after[KEY] - before[KEY], 0.01, atol=1e-4)
    other = "encoder.layer.4.output.dense.bias"
    assert np.array_equal(after[other], before[other])
    # the export cache must not hand the base model's graph to the adapted one (same config, same size)
    assert _model_fingerprint(folder) != _model_fingerprint(base)
    # made once: a second call finds it
    assert materialise(base, tmp_path / "cache", tmp_path / "adapter") == folder


def test_write_is_byte_reproducible(tmp_path, fingerprint):
    tiny_adapter(tmp_path / "a", fingerprint)
    tiny_adapter(tmp_path / "b", fingerprint)
    assert (tmp_path / "a" / ADAPTER_NPZ).read_bytes() == (tmp_path / "b" / ADAPTER_NPZ).read_bytes()
    assert (tmp_path / "a" / ADAPTER_JSON).read_text() == (tmp_path / "b" / ADAPTER_JSON).read_text()


def test_an_altered_adapter_is_refused_by_name(tmp_path, base, fingerprint):
    tiny_adapter(tmp_path / "adapter", fingerprint)
    npz = tmp_path / "adapter" / ADAPTER_NPZ
    raw = bytearray(npz.read_bytes())
    raw[-40] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(AdapterError, match=ADAPTER_NPZ):
        materialise(base, tmp_path / "cache", tmp_path / "adapter")
    assert not (tmp_path / "cache" / "models").exists()


def test_an_adapter_for_another_base_is_refused(tmp_path, base):
    tiny_adapter(tmp_path / "adapter", "0" * 16)
    with pytest.raises(AdapterError, match="another base model"):
        materialise(base, tmp_path / "cache", tmp_path / "adapter")


def test_a_missing_adapter_is_an_error_not_the_base_model(tmp_path, base):
    with pytest.raises(AdapterError, match="cannot read"):
        materialise(base, tmp_path / "cache", tmp_path / "nowhere")


def test_the_label_names_the_shipped_adapter_or_the_base(tmp_path):
    on = StoreSettings(store_dir=tmp_path, embed_adapter=True)
    off = StoreSettings(store_dir=tmp_path, embed_adapter=False)
    assert EmbedderLabel.for_settings(on).model == adapted_name()
    assert EmbedderLabel.for_settings(off).model == default_model_dir().name
    # the label and the folder the embedder loads agree, so ingest re-embeds when the adapter changes
    assert model_dir_for(on).name == EmbedderLabel.for_settings(on).model
    assert model_dir_for(off) == default_model_dir()


def test_the_cross_fitting_halves_split_the_tuning_authors_and_no_one_else() -> None:
    """Each tuning author in exactly one half, and no held-out author in either: a half-trained model must
    never have seen the questions it ranks, and never a held-out author's."""
    from evals.authors import ANSWERS_HELD_OUT, ANSWERS_TUNING, named
    from evals.train_dense_adapter import HALVES

    first, second = (set(named(ANSWERS_TUNING, list(half))) for half in HALVES)
    assert len(first) == len(HALVES[0]) and len(second) == len(HALVES[1])
    assert not first & second
    assert first | second == set(ANSWERS_TUNING)
    assert not (first | second) & set(ANSWERS_HELD_OUT)
