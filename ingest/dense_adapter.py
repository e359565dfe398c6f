"""The dense model adapted to guideline questions: the bundled MiniLM with its top layers replaced.

Why: retrieval's dense half is a general-purpose sentence model. On independent authors' questions it puts the
right section first for only about half of them (section hit@1 0.48-0.65 alone), because clinicians ask in
words the passages do not use ("the bone-thinning jab", "cement in the lungs"). Fine-tuning the model's top
layers on question -> passage pairs written by the *tuning* authors (`evals/train_dense_adapter.py`, in-batch
negatives) teaches it that vocabulary; the held-out authors measure whether it generalises.

What ships is small: only the replaced layers' changes (adapted minus base, float16,
`model/dense_adapter.npz`), with a json holding the version, the npz's sha256 and a fingerprint of the base
model they were trained on. At first use the adapted model is *materialised* once into the cache folder (the
base model's files with those layers swapped in), so every backend (torch, ONNX, int8) and the ONNX export
cache work on it unchanged, and the embedder's name carries the adapter's hash — a store embedded by another
model is re-embedded by ingest, never mixed. A missing, altered or mismatched adapter is an error naming the
file (no silent fallback: the service and ingest must agree on the model, and the base model would quietly
change every vector).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

ADAPTER_DIR = Path(__file__).resolve().parent / "model"
ADAPTER_NPZ = "dense_adapter.npz"
ADAPTER_JSON = "dense_adapter.json"
MARKER = "adapter.json"  # written into the materialised folder; also what makes its export fingerprint differ
FORMAT = 1


class AdapterError(RuntimeError):
    """The adapter files are missing, altered, or were trained on another base model."""


def base_fingerprint(model_dir: Path) -> str:
    """sha256 of the base model's weights file (first 16 hex digits): the layers fit only those weights."""
    h = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def read_adapter(adapter_dir: Path = ADAPTER_DIR) -> tuple[dict[str, np.ndarray], dict]:
    """The replaced tensors by state-dict key, and the metadata, after checking the recorded sha256."""
    try:
        meta = json.loads((adapter_dir / ADAPTER_JSON).read_text(encoding="utf-8"))
        raw = (adapter_dir / ADAPTER_NPZ).read_bytes()
    except (OSError, ValueError) as exc:
        raise AdapterError(f"cannot read the dense adapter in {adapter_dir}: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise AdapterError(f"{adapter_dir / ADAPTER_JSON}: format {meta.get('format')!r}, expected {FORMAT}")
    if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        raise AdapterError(f"{adapter_dir / ADAPTER_NPZ} does not match the sha256 in {ADAPTER_JSON}")
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return arrays, meta


def in_use(settings) -> bool:
    """Does `settings` (config.StoreSettings) embed with the adapter? Only over the bundled MiniLM it was
    trained on, and unless GQA_EMBED_ADAPTER=0. The one place the label and the loaded model decide it."""
    return not settings.embed_model and bool(settings.embed_adapter)


def adapted_name(adapter_dir: Path = ADAPTER_DIR) -> str:
    """The materialised model's folder name (and so the embedder label's model part): the adapter's hash.
    Read from the json alone, so a label costs no model load; `materialise` checks the weights."""
    try:
        meta = json.loads((adapter_dir / ADAPTER_JSON).read_text(encoding="utf-8"))
        return f"minilm-adapted-{str(meta['sha256'])[:12]}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdapterError(f"cannot read the dense adapter in {adapter_dir}: {exc}") from exc


def materialise(base_dir: Path, cache_dir: Path, adapter_dir: Path = ADAPTER_DIR) -> Path:
    """A model folder with the adapter's layers in place of the base's, made once per adapter (atomic).

    A folder made before is returned without reading the npz again: it was made from weights that matched the
    sha256 its name carries, and a changed json names another folder (and so is checked)."""
    from safetensors.numpy import load_file, save_file

    target = cache_dir / "models" / adapted_name(adapter_dir)
    if (target / MARKER).exists():  # made before from the weights whose hash names it: nothing to read
        return target
    arrays, meta = read_adapter(adapter_dir)
    if base_fingerprint(base_dir) != meta.get("base_fingerprint"):
        raise AdapterError(f"the dense adapter in {adapter_dir} was trained on another base model than "
                           f"{base_dir} (fingerprint {meta.get('base_fingerprint')!r})")
    weights = load_file(str(base_dir / "model.safetensors"))
    missing = [k for k in arrays if k not in weights]
    wrong = [k for k in arrays if k in weights and weights[k].shape != arrays[k].shape]
    if missing or wrong:
        raise AdapterError(f"the dense adapter does not fit the base model: unknown {missing[:3]}, "
                           f"shape mismatch {wrong[:3]}")
    for key, delta in arrays.items():
        # the file holds the change to each tensor, not the tensor: fine-tuning moves weights by ~1e-3, which
        # float16 keeps exactly enough as a difference but would round away in a whole weight
        weights[key] = (weights[key].astype(np.float32) + delta.astype(np.float32)).astype(weights[key].dtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base_dir, tmp, ignore=shutil.ignore_patterns("model.safetensors", "onnx", "*.onnx"))
    save_file(weights, str(tmp / "model.safetensors"))
    (tmp / MARKER).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    try:
        os.replace(tmp, target)
    except OSError:  # another process materialised it first: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / MARKER).exists():
            raise
    return target
