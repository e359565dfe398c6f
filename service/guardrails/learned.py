"""Learned layer: a small linear model that recognises emergencies by meaning, not only by listed words.

Why: the rules catch what someone wrote a pattern for. Measured on six independent authors' batches, they
missed a third of emergencies written in lay words, functional terms, a relative's quote or a calm frame
("his knees buckle when he stands", "is the oral one enough?"). A model trained on many authors' phrasings
generalises past any one list. It reads three things about a text:

* its sentence embedding (the service's MiniLM, the same vectors retrieval uses),
* TF-IDF of its normalised words and word pairs (vocabulary and IDF fitted at training time, stored),
* what the rules saw (`rule_features`: verdict, negation/history/hypothetical counts, framing),
* (models that say `clause_pool` in their meta, v5 on) the element-wise maximum of its clauses'
  embeddings, so one clause with a strong finding is not averaged away by a routine question around it
  ("is it normal that…", an emergency buried at the end of a long message),
* (models that list `gates` in their meta) one more copy of the text's embedding per named rule feature,
  kept where the rules saw that feature and zero elsewhere, so the model can read the same words
  differently when the rules saw, e.g., a negation or another person ("her mother had a stroke"); these
  cost no embedding work, only a longer dot product,

and gives the probability that it describes an emergency now, plus the most likely guidance category.

Deterministic and versioned: the weights are a file in the repo (`model/redflag.npz`) written by
`python -m service.guardrails.train_learned`; `model/redflag.json` holds the version, the sha256 of the
weights (checked at load, refused on mismatch), the threshold and which authors it was trained and tested
on. Same text, same model file, same decision. The audit line carries the version.

Hand-written inference (a dot product) rather than sklearn at run time: the service then needs only numpy,
and the arithmetic is small enough to read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.shared_vectors import remember

from .detector import MAX_CHUNK, RuleResult, _detect_piece, chunks
from .rule_features import NAMES as RULE_FEATURE_NAMES
from .rule_features import rule_features

MODEL_DIR = Path(__file__).resolve().parent / "model"
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern, so training and serving agree
# Clause boundaries: sentence ends, semicolons, dashes and "but"/"however" (where a calm frame and a finding
# usually meet). Commas are not boundaries: list items ("no fever, no rash") would lose their negation.
CLAUSE_SPLIT = re.compile(
    r"(?<=[.!?;\n])\s+|\s+(?:-|--|\u2013|\u2014)\s+|,?\s+(?=(?:but|however|although)\b)", re.IGNORECASE
)
MAX_CLAUSES = 8  # per piece: bounds the embedding work of one check


def clauses(text: str) -> list[str]:
    """The clauses of one piece whose words the model pools (at least two words each; at most MAX_CLAUSES,
    the later ones merged into the last so an emergency at the end of a long message is still read)."""
    parts = [c.strip() for c in CLAUSE_SPLIT.split(text) if c and len(TOKEN.findall(c)) >= 2]
    if len(parts) > MAX_CLAUSES:
        parts = parts[: MAX_CLAUSES - 1] + [" ".join(parts[MAX_CLAUSES - 1:])]
    return parts or [text]


def clause_max(vectors: np.ndarray) -> np.ndarray:
    """Element-wise maximum over clause embeddings (one row per clause)."""
    return np.asarray(vectors, dtype=np.float64).max(axis=0)


def model_text(result: RuleResult, scoped: bool = False) -> str:
    """The text whose words and word pairs the model's TF-IDF reads: the rules' normalised text and, for
    models that say `scoped_tokens` in their meta, one marked word per word of each finding the rules
    saw, marked with the finding's state ("neg_pain" for "no chest pain", "act_pain" for a current one;
    the first three letters of a `Modifiers` field, "act" when none is set), and one for its category.
    Why: a linear model over pooled vectors and plain words sees the modifier and the finding, not which
    finding the modifier belongs to ("no chest pain, short of breath" reads much like "chest pain, no
    shortness of breath"); the rules' ConText scopes know, and the marked words carry that link."""
    if not scoped or not result.findings:
        return result.normalised
    marks: list[str] = []
    for finding, mods in result.findings:
        state = (mods.reasons() or ["active"])[0][:3]
        words = TOKEN.findall(result.normalised[finding.start:finding.end].lower())
        marks += [f"{state}_{w}" for w in words] + [f"{state}_{finding.category}"]
    return f"{result.normalised} . {' '.join(marks)}"


def has_finding(result: RuleResult) -> bool:
    """Did the rules see anything clinical in this text? Picks which of the model's two thresholds applies."""
    return bool(result.findings or result.verdict)


class ModelError(RuntimeError):
    """The model files are missing, unreadable or do not match their recorded hash."""


def ngrams(norm: str) -> Counter[str]:
    """Word unigrams and bigrams of normalised text, counted."""
    tokens = TOKEN.findall(norm.lower())
    grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    return Counter(grams)


@dataclass(frozen=True)
class LearnedScore:
    probability: float
    category: str


class LearnedModel:
    """Weights and vocabulary of one trained model (see `train_learned.py` for how they are made)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict):
        self.meta = meta
        self.version: str = meta["version"]
        self.threshold: float = float(meta["threshold"])
        # where the rules saw nothing at all, the model alone speaks and must be surer
        self.threshold_no_finding: float = float(meta.get("threshold_no_finding", self.threshold))
        self.embedding_weight: float = float(meta["embedding_weight"])
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(meta["vocabulary"])}
        self.idf = arrays["idf"].astype(np.float64)
        self.coef = arrays["coef"].astype(np.float64)
        self.intercept = float(arrays["intercept"][0])
        # a model with a hidden layer (one ReLU layer) says so by its arrays; `coef` is then the output layer
        self.hidden = arrays["hidden_coef"].astype(np.float64) if "hidden_coef" in arrays else None
        self.hidden_intercept = (arrays["hidden_intercept"].astype(np.float64) if self.hidden is not None
                                 else None)
        self.cat_coef = arrays["cat_coef"].astype(np.float64)
        self.cat_intercept = arrays["cat_intercept"].astype(np.float64)
        self.categories: list[str] = list(meta["categories"])
        self.clause_pool: bool = bool(meta.get("clause_pool", False))
        if len(meta["rule_features"]) != len(RULE_FEATURE_NAMES):
            raise ModelError("the model was trained with a different rule-feature set: retrain it")
        unknown = [g for g in meta.get("gates", []) if g not in RULE_FEATURE_NAMES]
        if unknown:
            raise ModelError(f"the model gates its embedding on unknown rule features {unknown}: retrain it")
        self.gates: list[int] = [RULE_FEATURE_NAMES.index(g) for g in meta.get("gates", [])]
        self.scoped: bool = bool(meta.get("scoped_tokens", False))

    @classmethod
    def _bare(cls, vocabulary: list[str], idf: np.ndarray, embedding_weight: float,
              clause_pool: bool = False, gates: tuple[str, ...] = (), scoped: bool = False) -> LearnedModel:
        """A weightless model that only featurises (training uses it to build its design matrix)."""
        views = (2 if clause_pool else 1) + len(gates)
        d = 384 * views + len(RULE_FEATURE_NAMES) + len(vocabulary)
        arrays = {"idf": np.asarray(idf), "coef": np.zeros(d), "intercept": np.zeros(1),
                  "cat_coef": np.zeros((1, d)), "cat_intercept": np.zeros(1)}
        meta = {"version": "bare", "threshold": 0.5, "threshold_no_finding": 0.5,
                "embedding_weight": embedding_weight, "clause_pool": clause_pool, "gates": list(gates),
                "vocabulary": vocabulary, "categories": ["none"], "rule_features": list(RULE_FEATURE_NAMES),
                "scoped_tokens": scoped}
        return cls(arrays, meta)

    def row(self, embedding: np.ndarray, result: RuleResult, clause_vec: np.ndarray | None = None):
        """One text's features as a 1 x D sparse row (training only; scipy is not a service dependency)."""
        from scipy import sparse

        dense, cols, vals = self.features(embedding, result, clause_vec)
        d = len(dense)
        indices = np.concatenate([np.arange(d), d + cols])
        data = np.concatenate([dense, vals])
        return sparse.csr_matrix((data, (np.zeros(len(indices), dtype=np.int64), indices)),
                                 shape=(1, d + len(self.vocab)))

    @classmethod
    def load(cls, model_dir: Path = MODEL_DIR) -> LearnedModel:
        try:
            meta = json.loads((model_dir / "redflag.json").read_text(encoding="utf-8"))
            raw = (model_dir / "redflag.npz").read_bytes()
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the red-flag model in {model_dir}: {exc}") from exc
        digest = hashlib.sha256(raw).hexdigest()
        if digest != meta.get("sha256"):
            raise ModelError("red-flag model weights do not match the sha256 recorded in redflag.json")
        with np.load(io.BytesIO(raw)) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return cls(arrays, meta)

    def tfidf(self, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values) of the l2-normalised, sublinear TF-IDF vector: sparse, as trained."""
        counts = ngrams(norm)
        cols, vals = [], []
        for gram, tf in counts.items():
            j = self.vocab.get(gram)
            if j is not None:
                cols.append(j)
                vals.append((1.0 + math.log(tf)) * self.idf[j])
        v = np.asarray(vals, dtype=np.float64)
        n = float(np.linalg.norm(v))
        return np.asarray(cols, dtype=np.int64), (v / n if n > 0 else v)

    def features(
        self, embedding: np.ndarray, result: RuleResult, clause_vec: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense part (embedding, clause maximum if the model pools clauses, rule features, gated copies of
        the embedding) and sparse TF-IDF part of one piece of text. Without a clause vector, the piece
        counts as one clause."""
        emb = embedding.astype(np.float64) * self.embedding_weight
        parts = [emb]
        if self.clause_pool:
            pooled = embedding if clause_vec is None else clause_vec
            parts.append(np.asarray(pooled, dtype=np.float64) * self.embedding_weight)
        rules = rule_features(result).astype(np.float64)
        parts.append(rules)
        parts += [emb * float(rules[j] > 0) for j in self.gates]
        dense = np.concatenate(parts)
        cols, vals = self.tfidf(model_text(result, self.scoped))
        return dense, cols, vals

    def score(self, embedding: np.ndarray, result: RuleResult, clause_vec: np.ndarray | None = None
              ) -> LearnedScore:
        """Probability and category for one piece, from its embedding(s) and the rules' result on it."""
        dense, cols, vals = self.features(embedding, result, clause_vec)
        d = len(dense)
        if self.hidden is None:
            z = self.intercept + float(self.coef[:d] @ dense) + float(self.coef[d:][cols] @ vals)
        else:
            bias = 0.0 if self.hidden_intercept is None else self.hidden_intercept
            h = bias + dense @ self.hidden[:d] + vals @ self.hidden[d:][cols]
            z = self.intercept + float(np.maximum(h, 0.0) @ self.coef)
        cat = self.cat_intercept + self.cat_coef[:, :d] @ dense + self.cat_coef[:, d:][:, cols] @ vals
        prob = 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
        return LearnedScore(prob, self.categories[int(np.argmax(cat))])


class LearnedScreen:
    """The model plus the embedder that feeds it; `score(text)` is what the guardrail calls."""

    def __init__(self, embedder, model: LearnedModel):
        self.embedder = embedder
        self.model = model

    @property
    def version(self) -> str:
        return self.model.version

    def score(self, text: str) -> LearnedScore:
        """The highest-scoring piece of `text`: a long message is read in the rules' sentence-aligned pieces
        (the embedder sees at most 256 tokens, so an emergency at the end of a long note would otherwise be
        cut off). One batched embedding call for all pieces (and their clauses, if the model pools them)."""
        pieces = chunks(text) if len(text) > MAX_CHUNK else [text]
        if not self.model.clause_pool:
            vectors = self.embedder.encode(pieces)
            remember(self.embedder, pieces, vectors)
            scores = [self.model.score(v, _detect_piece(p)) for v, p in zip(vectors, pieces, strict=True)]
            return max(scores, key=lambda s: s.probability)
        split = [clauses(p) for p in pieces]
        extra = [c for cs in split for c in cs if len(cs) > 1]
        vectors = self.embedder.encode(pieces + extra)
        remember(self.embedder, pieces + extra, vectors)
        scores, at = [], len(pieces)
        for i, (piece, cs) in enumerate(zip(pieces, split, strict=True)):
            if len(cs) > 1:
                pooled = clause_max(vectors[at:at + len(cs)])
                at += len(cs)
            else:
                pooled = np.asarray(vectors[i], dtype=np.float64)
            scores.append(self.model.score(vectors[i], _detect_piece(piece), pooled))
        return max(scores, key=lambda s: s.probability)

    def threshold_for(self, has_finding: bool) -> float:
        return self.model.threshold if has_finding else self.model.threshold_no_finding

