"""The ONNX embedders match the torch reference (ingest/embedding.py): the service and ingest default to
onnx-int8, and the index must mean the same thing whichever backend wrote or reads it.

Sentences in the corpus's style, on different topics. Bounds, from cosines to torch measured on them: fp32
ONNX is the same graph as torch (min 1.0000 measured; bound 0.999, float noise only); dynamic int8
per-channel quantization loses a little (min 0.991, mean 0.993 measured; bound 0.98, the figure it was chosen
for in quantize_int8). Either way each sentence's nearest neighbour among the others must be the one torch
finds (torch's top-1 beats its top-2 by at least 0.069 here, several times the int8 error).

`e2e` tier: loading the torch reference (sentence-transformers) takes 10–20 s on two cores.
"""

from __future__ import annotations

import numpy as np
import pytest

from config import StoreSettings
from ingest.embedding import get_embedder

SENTENCES = [
    "Cement leakage is common after vertebroplasty but most leaks cause no symptoms.",
    "Small asymptomatic cement leaks into the paravertebral veins need no treatment.",
    "Pulmonary cement embolism presents with chest pain, dyspnoea and hypoxia.",
    "New back pain weeks after augmentation may be an adjacent-level fracture.",
    "MRI with STIR sequences confirms an acute vertebral fracture.",
    "Bisphosphonates, denosumab and teriparatide reduce the risk of further fractures.",
    "Denosumab should not be stopped without follow-on treatment because of rebound fractures.",
    "Blood pressure should be lowered below 130/80 mmHg in most adults with hypertension.",
    "Thiazide diuretics and calcium channel blockers are first-line antihypertensive drugs.",
]
BOUNDS = {"onnx": 0.999, "onnx-int8": 0.98}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return get_embedder(StoreSettings(embed_backend="torch")).encode(SENTENCES)


def nearest_other(vectors: np.ndarray) -> list[int]:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return sims.argmax(axis=1).tolist()


@pytest.mark.parametrize("backend", sorted(BOUNDS))
def test_onnx_matches_torch(reference: np.ndarray, backend: str) -> None:
    vectors = get_embedder(StoreSettings(embed_backend=backend)).encode(SENTENCES)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() >= BOUNDS[backend], dict(zip(SENTENCES, cosines.round(4).tolist(), strict=True))
    assert nearest_other(vectors) == nearest_other(reference)


def test_the_sentences_are_not_all_alike(reference: np.ndarray) -> None:
    """The neighbour check means something only if the sentences are spread out."""
    sims = reference @ reference.T
    assert sims[np.triu_indices(len(SENTENCES), 1)].min() < 0.3
