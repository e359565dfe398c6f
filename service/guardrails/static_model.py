"""Red-flag model "static": v5's learned layer with the transformer replaced by static token embeddings.

Why: v5 embeds the text and each of its clauses with the MiniLM transformer on every /v1/ask, which costs
12-20 ms at the median and up to 76 ms at p95 on the shared CPU, against the issue's 2 ms p95 for a check
(and inside the answer's own 50 ms budget). A static embedding is a table lookup plus a mean: one vector
per word-piece, distilled once from the same local MiniLM with model2vec (`train_static.py`), so a text
costs microseconds instead of a transformer pass. Everything else is v5's recipe and code: the same
features (whole-text vector, element-wise max over clause vectors, TF-IDF, the rules' features), the same
`LearnedModel` arithmetic, the same piece-by-piece `LearnedScreen`; only the embedder differs.

Shipped, not distilled at load: distillation needs model2vec's `distill` extra (skeletoken and torch), whose
transformers pin is below the service's, and a forward pass over the whole vocabulary (about a minute).
The distilled table (PCA-reduced, float16) is small enough to ship in `model/static.npz` with the weights;
`model/static.json` records its sha256, checked at load like v5's (a mismatch or a missing file refuses the
model and the guardrail falls back to the rules and exemplars). Same text, same file, same decision; the
audit line names the version ("learned static-…").
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .learned import MODEL_DIR, LearnedModel, LearnedScreen, ModelError
from .rule_features import NAMES as RULE_FEATURE_NAMES

STATIC_NPZ = "static.npz"
STATIC_JSON = "static.json"
EMBEDDER_ARRAYS = ("vectors", "tokenizer")  # the distilled embedder; every other array is LearnedModel's


class StaticEmbedder:
    """Texts to unit vectors: the mean of their word-pieces' distilled vectors (model2vec's StaticModel).

    The tokenizer is the MiniLM's own (as model2vec rewrote it when distilling), carried in the model file so
    that the vectors and the ids they are indexed by can never drift apart."""

    def __init__(self, vectors: np.ndarray, tokenizer_json: str):
        from model2vec import StaticModel
        from tokenizers import Tokenizer

        # float32 for the arithmetic: the file keeps float16 to stay small
        self.model = StaticModel(vectors=np.asarray(vectors, dtype=np.float32),
                                 tokenizer=Tokenizer.from_str(tokenizer_json), normalize=True)
        self.dim = int(vectors.shape[1])
        self.name = f"model2vec-static-{self.dim}"

    def encode(self, texts: list[str]) -> np.ndarray:
        # no worker processes: a check is a few short texts, and a pool would only add start-up time
        return np.asarray(self.model.encode(list(texts), use_multiprocessing=False), dtype=np.float32)


def embedder_arrays(vectors: np.ndarray, tokenizer_json: str) -> dict[str, np.ndarray]:
    """How the embedder is stored in the npz (the tokenizer as UTF-8 bytes)."""
    return {"vectors": np.asarray(vectors, dtype=np.float16),
            "tokenizer": np.frombuffer(tokenizer_json.encode("utf-8"), dtype=np.uint8)}


def load_static(model_dir: Path = MODEL_DIR) -> tuple[StaticEmbedder, LearnedModel]:
    """The embedder and the classifier of the shipped static model, after checking the file's sha256.

    Raises ModelError (naming what is wrong) when a file is missing or unreadable, the weights do not
    match their recorded hash, or the parts do not fit together."""
    try:
        meta = json.loads((model_dir / STATIC_JSON).read_text(encoding="utf-8"))
        raw = (model_dir / STATIC_NPZ).read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the static red-flag model in {model_dir}: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        raise ModelError(f"{model_dir / STATIC_NPZ} does not match the sha256 recorded in {STATIC_JSON}")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        vectors, tok = arrays.pop("vectors"), arrays.pop("tokenizer")
        dims = int(meta["dims"])
        expected = 2 * dims + len(RULE_FEATURE_NAMES) + len(meta["vocabulary"])
        if vectors.shape[1] != dims or arrays["coef"].shape != (expected,):
            raise ModelError(f"static model parts do not fit: vectors {vectors.shape}, coef "
                             f"{arrays['coef'].shape}, expected {dims} dims and {expected} weights")
        model = LearnedModel(arrays, meta)
        if not model.clause_pool:
            raise ModelError("the static model must pool clauses (v5's recipe)")
        return StaticEmbedder(vectors, tok.tobytes().decode("utf-8")), model
    except ModelError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"static red-flag model in {model_dir} is malformed: {exc}") from exc


def load_static_screen(model_dir: Path = MODEL_DIR) -> LearnedScreen:
    """What the guardrail calls with GQA_REDFLAG_MODEL=static: v5's screen over the static embedder."""
    embedder, model = load_static(model_dir)
    return LearnedScreen(embedder, model)
