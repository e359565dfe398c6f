"""Train the red-flag learned layer, choosing everything by leave-one-author-out within the training authors.

    python -m service.guardrails.train_learned          # train v8 into model/v8/; LOAO + held-out totals
    python -m service.guardrails.train_learned --loao   # development: LOAO within the training authors only
    python -m service.guardrails.train_learned --loao --min-recall 0 --v5-data  # v5's recipe, v5's data
    python -m service.guardrails.train_learned --model v7   # v7 into model/v7/ (its split and recipe)
    python -m service.guardrails.train_learned --model v7 --loao --lookalike-weight 3 --cache e.npz  # v5's

What it learns from (all in the repo): the project's own labelled set (`evals/datasets/redflag.jsonl`), the
red-flag batches of the TRAIN_AUTHORS (a1-a3, a9, a10, a11 in `evals/datasets/authors/redflag/`, a7 and a8
in `evals/datasets/training/`, each under its own author name), training-only ordinary negatives (t1, t2),
ordinary questions of the golden sets and of the answers authors b1, b7 and b8, and the section headings of
the shipped and open-medicine corpora (guideline topics, never emergencies). What it never sees: the
HELD_OUT red-flag authors (a4-a6, a12, a13), the answers authors b2-b6, and any batch written later (a14,
b9): training takes only the groups it names — the figures reported on the held-out ones are the
held-out figures.

How the recipe is chosen (issue 11's method): every choice — features, model type, C, weights, thresholds —
is compared by leave-one-author-out over the eight training red-flag authors (`loao`): in fold i one
red-flag author and one of the ordinary authors (in rotation) are left out and scored by a model fitted on
the rest. `--loao` keeps only training groups' rows, before anything is computed, and writes nothing; its
pooled figures are the development figures in docs/guardrails.md. The plain run reports the held-out totals
once, at the end, for the new model and for the model in `model/` (v5) in the same run.

Model v7 (recipe in the constants below, each chosen by LOAO): v5's logistic regression over the MiniLM
embedding of the text, the element-wise maximum of its clauses' embeddings (CLAUSE_POOL: an emergency in
one clause of a calm or long message is not averaged away), TF-IDF word uni/bigrams and the rules'
structural verdicts; C, ORDINARY_WEIGHT and AUTHOR_WEIGHT as v5; LOOKALIKE_WEIGHT new in v7. Measured and
off: embedding copies gated on rule features (GATES), training-only contrast pairs (CONTRAST_WEIGHT), and a
one-hidden-layer head (HIDDEN; too slow to compare by LOAO on the shared machine). v7 did not pass the
held-out floors, so it ships in `model/v7/` beside the default v5 (`model/redflag.*`, trained by this
script at commit ad74554 with v5's split).

Model v8 (`--model v8`, the plain run's default; SPLITS): exactly v5's recipe (V5_RECIPE) on thirteen
red-flag authors (v7's eight and a12-a16) and the ordinary questions of b1, b7, b8 and b10; LOAO over the
thirteen, the four ordinary authors in rotation; thresholds the cheapest pair holding v5-recipe's LOAO
recall on the same folds and data (the recipe is v5's, so that is its own cost-chosen pair). Held out:
a4-a6, a17, a18, the ordinary questions of b2-b6, b9, b11-b14, and any batch written later
(`held_out_groups`). Written to `model/v8/`.

The thresholds (one where the rules saw a finding, one where they saw none) are the pair with the lowest
expected cost on the left-out training authors and ordinary questions among those that hold recall
(HOLD_RECALL; see `choose_threshold`). Recall comes first (a missed emergency is the costly error; a false
alarm still gets its cited answer in `related_answer`). The model decides alone: the rules' verdict is one
of its inputs, and measured on held-out authors, "rules or model" only added the rules' false alarms.

Deterministic: fixed data order, lbfgs (no random state; the hidden-layer head has a fixed seed),
embeddings from the deterministic ONNX embedder, weights written with fixed zip member order and timestamps
(`weights_file`), so the same data gives the same file and version (tests/test_guardrail_learned_training.py).
Needs scikit-learn (the `train` extra); the service needs only numpy to use it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .detector import _detect_piece
from .guard import Guardrail
from .guidance import load_guidance
from .learned import (
    MODEL_DIR,
    TOKEN,
    LearnedModel,
    LearnedScreen,
    clause_max,
    clauses,
    has_finding,
    model_text,
)
from .rule_features import NAMES as RULE_FEATURE_NAMES
from .weights_file import npz_bytes

Unit = tuple[str, bool, "str | None", float]
ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("train_learned")
DATASETS = ROOT / "evals" / "datasets"
# Red-flag authors the model learns from; leave-one-author-out runs over these (a7, a8 are training-only
# batches in evals/datasets/training/; a9 was held out for its first look with v4 and trains from v5 on)
TRAIN_AUTHORS = (
    "a1-ed-nurse",
    "a2-physio-sbar",
    "a3-gp-phone",
    "a7-np-paramedic",
    "a8-fy-daysurgery-carehome",
    "a9-district-nurse-ooh-gp",
    "a10-paeds-ed-obstetric-triage",  # held out for v4-v6 (first looks recorded); training from v7 on
    "a11-carehome-pharmacist",  # the same
)
HELD_OUT = (
    "a4-nonnative-textspeak",
    "a5-registrar-pharmacist",
    "a6-ir-midwife-paeds",
    "a12-spinal-ward-111",  # written after v5 (third session; first look recorded); never trained on
    "a13-liaison-dental-optom",  # the same
    "a14-paramedic-online-form",  # written in the fourth session, after v5; first look recorded
    "a15-school-uni-sports",  # the same
    "a16-palliative-renal",  # the same
)
# Any later batch (a14, b9: written while v7 was trained, never read) is held out too: training takes only
# the groups named in TRAIN_AUTHORS / ORDINARY_TRAIN (`_in_training`), and `--loao` drops every other row.
# b7 and b8 are answering's tuning authors; their questions (in scope or not) are ordinary, never emergencies
ORDINARY_TRAIN = ("b1-ward-nurse-physio", "b7-icu-outreach-hospital-pharmacist", "b8-fy1-physio-student")
ORDINARY_HELD_OUT = (
    "b2-registrar-gp",
    "b3-gp-radiologist",
    "b4-pharmacist-physio",
    "b5-ed-consultant-anp",
    "b6-ortho-sho-practice-nurse",  # written after v5 (third session)
    "b9-medreg-fls-nurse",  # fourth session, after v5: first look recorded on arrival
    "b10-hospital-night-anp-gp-partner",  # the same
    "b11-rheum-nurse-paramedic-practitioner",  # the same
)
# Training-only sets not by independent authors (the own set's role, weight CONTRAST_WEIGHT): c1, contrast
# pairs written for v7 by its trainer (a look-alike beside the same scene as a current emergency)
CONTRAST_SETS = ("c1-contrast-pairs",)
# the split of v5 (and v6), for the side-by-side LOAO of v5's data against v7's (`--v5-data`)
V5_TRAIN_AUTHORS = TRAIN_AUTHORS[:6]
V5_ORDINARY_TRAIN = ORDINARY_TRAIN[:1]
ORDINARY_WEIGHT = 6.0  # training weight of an ordinary question (see training_units)
CLAUSE_POOL = True  # v5: the element-wise maximum of the clauses' embeddings is a second embedding view
AUTHOR_WEIGHT = 3.0  # training weight of an independent red-flag author's case (the own set weighs 1)
CONTRAST_WEIGHT = 0.0  # training weight of a CONTRAST_SETS case (0: left out of training)
# rule features that gate a copy of the text's embedding (learned.py): none in v5
GATES: tuple[str, ...] = ()
CANDIDATE_GATES = ("verdict", "modified:negated", "modified:historical", "modified:experiencer",
                   "modified:hypothetical", "framing:managed")
# v7: an independent author's look-alike (label false) case weighs 6, its emergencies AUTHOR_WEIGHT (None:
# the same weight; v5). Chosen by LOAO over 3 (v5), 6, 8 and 10 (docs/guardrails.md, "Model v7")
LOOKALIKE_WEIGHT: float | None = 6.0
HIDDEN = 0  # units of a ReLU hidden layer for the flag head (0: logistic regression)
ALPHA = 1e-3  # L2 penalty of the hidden-layer head
# Choosing the thresholds: assumed share of each kind of message in the widget's traffic, and the cost of
# getting one wrong. A missed emergency (a crashing patient gets a routine answer) is weighed as 100
# unnecessary banners; a banner costs the same on a look-alike and on an ordinary question. The shares are
# an assumption (no traffic data yet): most messages are ordinary guideline questions about the article.
TRAFFIC = {"emergency": 0.02, "look-alike": 0.10, "ordinary": 0.88}
COSTS = {"emergency": 100.0, "look-alike": 1.0, "ordinary": 1.0}
C = 30.0
EMBEDDING_WEIGHT = 1.0
MIN_DF = 2
# v7 is to cut false alarms "at held recall": its thresholds are the cheapest pair (cost model above) whose
# pooled LOAO recall is at least what v5's recipe reaches in the same eight folds on the same data with its
# own cost-chosen thresholds (1006/1019, runs of 2026-12-02; docs/guardrails.md "Model v7")
HOLD_RECALL = 1006 / 1019
NAME = "v7"  # the model's name in its version ("v7-2026-12-02+<hash>"), as v6's
V7_DIR = MODEL_DIR / "v7"  # v7 did not pass the held-out floors, so it ships beside v5, not over it
# Model v8 (issue 11; split and recipe fixed before any v8 run, not tuned): exactly v5's recipe (V5_RECIPE,
# below: look-alikes weigh as the author's emergencies), trained on thirteen red-flag authors (v7's eight and
# a12-a16) and the ordinary questions of b1, b7, b8 and b10. Held out: a4-a6, a17, a18, the ordinary
# questions of b2-b6, b9 and b11-b14, and any batch written later (a19, a20 ...: never read; held out by
# `held_out_groups`, which takes every batch the split does not train on).
V8_TRAIN_AUTHORS = TRAIN_AUTHORS + (
    "a12-spinal-ward-111",
    "a13-liaison-dental-optom",
    "a14-paramedic-online-form",
    "a15-school-uni-sports",
    "a16-palliative-renal",
)
V8_ORDINARY_TRAIN = ORDINARY_TRAIN + ("b10-hospital-night-anp-gp-partner",)
V8_HELD_OUT = ("a4-nonnative-textspeak", "a5-registrar-pharmacist", "a6-ir-midwife-paeds",
               "a17-crisis-custody", "a18-occhealth-expedition",
               "a19-neurosurg-telehealth", "a20-hca-rural-anp")  # a19, a20: written while v8 was trained
# a21, a22: being written when v9 was fixed
V9_HELD_OUT = (*V8_HELD_OUT, "a21-stroke-nurse-pharmacy-helpline", "a22-care-navigator-cardio-reg")
V9_HOLD_RECALL = 0.99  # the recall target
# v10 (fixed before any v10 run, sixth session): v9's split with a17-a20 moved to training; held out a4-a6,
# a21, a22 (second looks: v9's decision used them) and a23, a24 (being written when v10 was fixed)
V10_TRAIN_AUTHORS = V8_TRAIN_AUTHORS + ("a17-crisis-custody", "a18-occhealth-expedition",
                                        "a19-neurosurg-telehealth", "a20-hca-rural-anp")
# v11 (fixed before any v11 run): v10's split with a21-a24 moved to training; held out a4-a6 and a25-a27
# (being written when v11 was fixed)
V11_TRAIN_AUTHORS = V10_TRAIN_AUTHORS + (
    "a21-stroke-nurse-pharmacy-helpline", "a22-care-navigator-cardio-reg", "a23-physio-cmh-nurse",
    "a24-surgical-nurse-family")
V11_HELD_OUT = ("a4-nonnative-textspeak", "a5-registrar-pharmacist", "a6-ir-midwife-paeds",
                "a25-health-visitor-chemo-helpline", "a26-call-handler-diabetes-nurse",
                "a27-midwife-geriatrician")
# v11r (static11r; fixed before any run, sixth session, after static11's two decisions): v11's split with the
# thresholds held to LOAO recall 0.995; held out as v11 plus a28-a30 (seen) and a31-a33 (being written)
V11R_HELD_OUT = (*V11_HELD_OUT, "a28-amu-np-community-pharmacist", "a29-student-gp-remote-relative",
                 "a30-ir-recovery-hospice-dn", "a31-paramedic-practitioner-ooh-nurse",
                 "a32-icu-outreach-sexual-health", "a33-rehab-physio-dialysis-patient")
# v12 (static12; fixed before any run, seventh session, before a34-a39, b18 and b19 were written): v11r's
# recipe (v5's), vectors (the same 64-dim distillation) and threshold rule (cheapest pair at LOAO recall
# >= 0.995), with a25-a30 moved to training and the ordinary questions of b18 and b19 (answers tuning authors,
# being written) added; held out a4-a6, a31-a33 (seen by static11r's decision) and a34-a39 (being written)
V12_TRAIN_AUTHORS = V11_TRAIN_AUTHORS + (
    "a25-health-visitor-chemo-helpline", "a26-call-handler-diabetes-nurse", "a27-midwife-geriatrician",
    "a28-amu-np-community-pharmacist", "a29-student-gp-remote-relative", "a30-ir-recovery-hospice-dn")
V12_HELD_OUT = ("a4-nonnative-textspeak", "a5-registrar-pharmacist", "a6-ir-midwife-paeds",
                "a31-paramedic-practitioner-ooh-nurse", "a32-icu-outreach-sexual-health",
                "a33-rehab-physio-dialysis-patient", "a34-ortho-fracture-clinic-nurse",
                "a35-ed-triage-reg-interpreter", "a36-maternity-paeds-helpline",
                "a37-prison-nurse-homeless-outreach", "a38-oncology-ns-transplant-coordinator",
                "a39-cardiac-rehab-spouse-carer")
V10_HELD_OUT = ("a4-nonnative-textspeak", "a5-registrar-pharmacist", "a6-ir-midwife-paeds",
                "a21-stroke-nurse-pharmacy-helpline", "a22-care-navigator-cardio-reg",
                "a23-physio-cmh-nurse", "a24-surgical-nurse-family")
V12_ORDINARY_TRAIN = V8_ORDINARY_TRAIN + ("b18-spinal-surgeon-community-matron", "b19-acute-physician-hca")
V8_ORDINARY_HELD_OUT = (
    "b2-registrar-gp",
    "b3-gp-radiologist",
    "b4-pharmacist-physio",
    "b5-ed-consultant-anp",
    "b6-ortho-sho-practice-nurse",
    "b9-medreg-fls-nurse",
    "b11-rheum-nurse-paramedic-practitioner",
    "b12-orthogeri-locum",
    "b13-pharmacist-gp-trainee-followups",
    "b14-ir-nurse-medstudent",
)
# v13 (static13; fixed before any run, eleventh session): static11r's red-flag training authors, recipe
# (v5's), vectors (the same 64-dim distillation) and threshold rule (cheapest pair at LOAO recall >= 0.995),
# with the ordinary questions of ten more answers *tuning* authors (b18, b19, b24, b25, b28-b33) beside b1,
# b7, b8 and b10: the banners on ordinary questions are the guardrail's largest error by count. Answers'
# held-out authors stay out of it, so issue 13's held-out banner counts stay a held-out figure. Held out:
# static11r's eighteen (a4-a6, a25-a39) and the ordinary questions of b2-b6, b9, b11-b17, b20-b23, b26,
# b27, b34.
V13_ORDINARY_TRAIN = V12_ORDINARY_TRAIN + (
    "b24-radiographer-palliative-nurse", "b25-endocrinologist-rehab-ot",
    "b28-preop-anaesthetist-community-physio", "b29-renal-registrar-district-nurse",
    "b30-ed-registrar-triage-nurse", "b31-cardiology-reg-diabetes-nurse", "b32-id-pharmacist-ward-hca",
    "b33-liaison-psych-nurse-obstetric-sho")
V13_HELD_OUT = (*V11R_HELD_OUT, "a34-ortho-fracture-clinic-nurse", "a35-ed-triage-reg-interpreter",
                "a36-maternity-paeds-helpline", "a37-prison-nurse-homeless-outreach",
                "a38-oncology-ns-transplant-coordinator", "a39-cardiac-rehab-spouse-carer")
V13_ORDINARY_HELD_OUT = (*V8_ORDINARY_HELD_OUT, "b15-pain-virtualward", "b16-enp-anticoag-pharmacist",
                         "b17-physio-carehome-gp", "b20-ir-consultant-practice-pharmacist",
                         "b21-ward-sister-fy2", "b22-ed-charge-nurse-ortho-pa",
                         "b23-gpwsi-msk-carehome-pharmacist", "b26-resp-nurse-hah-geriatrician",
                         "b27-ortho-pharmacist-stroke-nurse", "b34-stroke-reg-gp-locum-esl")
# v14 (static14; fixed before any run, eleventh session, after static13's held-out result and before a40-a43
# and b35-b37 were written): static13's data and recipe, thresholds the cheapest pair at LOAO recall >= 0.997.
# Held out: static13's groups (a second look, after static13 missed two more than static11r there) and the
# batches written after it was fixed (a40-a43, b35-b37: held out by construction, `held_out_groups`).
V8_DIR = MODEL_DIR / "v8"
V9_DIR = MODEL_DIR / "v9"
V10_DIR = MODEL_DIR / "v10"
V11_DIR = MODEL_DIR / "v11"
# an independent red-flag author's group ("a12-spinal-ward-111"): its cases weigh AUTHOR_WEIGHT in training
RED_FLAG_AUTHOR = re.compile(r"^a\d+-")
GRID = (0.01, 0.02, 0.03, 0.04) + tuple(round(float(x), 2) for x in np.arange(0.05, 0.96, 0.05))


@dataclass(frozen=True)
class Row:
    """One labelled message: where it came from, its text, the latest user turn if any, label, category."""

    group: str
    text: str
    turn: str | None
    label: bool
    category: str | None


def _latest_turn(history: list[dict]) -> str | None:
    users = [t["content"] for t in history or [] if t.get("role") == "user" and t.get("content", "").strip()]
    return users[-1] if users else None


def _headings(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.md")):
        if path.name == "README.md" or "guardrails" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^#{2,4}\s+(.*)", line)
            if m:
                heading = re.sub(r"^[0-9.]+\s*", "", m.group(1)).strip()
                if len(heading) > 8:
                    out.append(heading)
    return out


def load_rows() -> list[Row]:
    """Every labelled text the training and the held-out report use, tagged with its group (author)."""
    from evals.authors import load_batches
    from evals.data import load_qa, load_redflag
    from evals.keyfacts import open_medicine_dir

    rows = [Row("own", i.text, _latest_turn(i.history), i.label, i.category)
            for i in load_redflag(DATASETS / "redflag.jsonl").items]
    for batch in load_batches("redflag"):
        rows += [Row(batch.author, i.text, _latest_turn(i.history), i.label, i.category) for i in batch.items]
    for path in sorted((DATASETS / "training").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        header = re.match(r"^//\s*author:\s*([\w.-]+)", lines[0]) if lines else None
        group = ("training-ordinary" if path.name.startswith("t")
                 else header.group(1) if header else "training")
        for line in lines:
            if line.strip() and not line.lstrip().startswith("//"):
                item = json.loads(line)
                rows.append(Row(group, item["text"], _latest_turn(item.get("history") or []),
                                bool(item["label"]), item.get("category")))
    for name in ("golden_shipped.jsonl", "retrieval_open_medicine.jsonl"):
        rows += [Row("ordinary-own", q.question, _latest_turn(q.history), False, None)
                 for q in load_qa(DATASETS / name).items if q.expected_mode != "red_flag"]
    for batch in load_batches("answers"):
        rows += [Row(f"ordinary-{batch.author}", q.question, _latest_turn(q.history), False, None)
                 for q in batch.items]
    for root in (ROOT / "corpus", open_medicine_dir()):
        rows += [Row("headings", h, None, False, None) for h in _headings(root)]
    return rows


def training_units(rows: list[Row], ordinary_weight: float | None = None,
                   author_weight: float | None = None, lookalike_weight: float | None = None,
                   contrast_weight: float | None = None) -> list[Unit]:
    """(text, label, category, weight) units. A positive whose emergency may sit in the history contributes
    its latest user turn, and its question only when the question is long enough to state something itself
    ("what now?" is not an emergency on its own); every text of a negative is a negative. Ordinary
    questions (written to be answered, not as look-alikes) weigh ORDINARY_WEIGHT: they are most of what
    clinicians send, so a model that flags them is wrong far more often than the counts in the data say."""
    units: list[Unit] = []
    ow = ORDINARY_WEIGHT if ordinary_weight is None else ordinary_weight
    aw = AUTHOR_WEIGHT if author_weight is None else author_weight
    lw = aw if lookalike_weight is None else lookalike_weight  # an author's look-alike (label false) case
    cw = CONTRAST_WEIGHT if contrast_weight is None else contrast_weight
    for r in rows:
        w = ow if _ordinary(r) else (lw if not r.label else aw) if RED_FLAG_AUTHOR.match(r.group) else 1.0
        if r.group in CONTRAST_SETS:
            if not cw:
                continue
            w = cw
        if r.turn is None:
            units.append((r.text, r.label, r.category, w))
        elif r.label:
            units.append((r.turn, True, r.category, w))
            if len(r.text) >= 60:
                units.append((r.text, True, r.category, w))
        else:
            units += [(r.text, False, None, w), (r.turn, False, None, w)]
    return units


def _ordinary(row: Row) -> bool:
    return not row.label and (row.group.startswith("ordinary-") or row.group == "training-ordinary")


class Featuriser:
    """Embeddings (cached per text, optionally on disk between development runs) for many texts."""

    def __init__(self, embedder, cache: Path | None = None):
        self.embedder = embedder
        self.cache = cache
        self._emb: dict[str, np.ndarray] = {}
        if cache is not None and cache.exists():
            with np.load(cache, allow_pickle=False) as npz:
                self._emb = dict(zip(npz["texts"].tolist(), npz["vectors"], strict=True))

    def save_cache(self) -> None:
        if self.cache is not None and self._emb:
            texts = sorted(self._emb)
            np.savez(self.cache, texts=np.array(texts), vectors=np.stack([self._emb[t] for t in texts]))

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._emb})
        if missing:
            for t, v in zip(missing, self.embedder.encode(missing), strict=True):
                self._emb[t] = v
        return np.stack([self._emb[t] for t in texts])

    def clause_vectors(self, texts: list[str]) -> np.ndarray:
        """Per text, the element-wise maximum of its clauses' embeddings (as `LearnedScreen.score`)."""
        split = [clauses(t) for t in texts]
        self.embed([c for cs in split for c in cs])
        return np.stack([clause_max(self.embed(cs)) for cs in split])


def fit(units: list[Unit], feats: Featuriser, threshold: tuple[float, float], meta: dict,
        c: float | None = None, clause_pool: bool | None = None, category: bool = True,
        hidden: int = 0, alpha: float = 1e-3, gates: tuple[str, ...] = (),
        scoped: bool = False) -> LearnedModel:
    """A LearnedModel (flag + category heads) fitted on `units`; its arrays are what gets saved. Without
    `category` (leave-one-author-out folds, which only score the flag) the category head is a constant."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [t for t, *_ in units]
    results = [_detect_piece(t) for t in texts]
    norms = [model_text(r, scoped) for r in results]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=MIN_DF, sublinear_tf=True, token_pattern=TOKEN.pattern)
    vec.fit(norms)
    vocabulary = [t for t, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])]
    c = C if c is None else c
    clause_pool = CLAUSE_POOL if clause_pool is None else clause_pool
    probe = LearnedModel._bare(vocabulary, vec.idf_, EMBEDDING_WEIGHT, clause_pool, gates, scoped)
    emb = feats.embed(texts)
    pooled = feats.clause_vectors(texts) if clause_pool else [None] * len(texts)
    X = sparse.vstack([probe.row(e, r, p) for e, r, p in zip(emb, results, pooled, strict=True)]).tocsr()
    y = np.array([label for _, label, _, _ in units])
    weights = np.array([w for *_, w in units])
    extra: dict[str, np.ndarray] = {}
    if hidden:
        from sklearn.neural_network import MLPClassifier
        from sklearn.utils.class_weight import compute_sample_weight

        balanced = compute_sample_weight("balanced", y) * weights
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=alpha, random_state=0, max_iter=200,
                            batch_size=64, learning_rate_init=1e-3)
        mlp.fit(X, y, sample_weight=balanced / balanced.mean())
        extra = {"hidden_coef": mlp.coefs_[0].astype(np.float32),
                 "hidden_intercept": mlp.intercepts_[0].astype(np.float32)}
        flag_coef, flag_intercept = mlp.coefs_[1][:, 0], mlp.intercepts_[1]
    else:
        flag = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        flag.fit(X, y, sample_weight=weights)
        flag_coef, flag_intercept = flag.coef_[0], flag.intercept_
    pos = np.flatnonzero(y)
    cats = [units[i][2] or "collapse_seizure" for i in pos]
    if category:
        cat = LogisticRegression(C=c, max_iter=5000).fit(X[pos], cats)
    else:
        cat = LogisticRegression().fit(np.zeros((2, 1)), ["collapse_seizure", "collapse_seizure_"])
        cat.coef_, cat.intercept_ = np.zeros((1, X.shape[1])), np.zeros(1)
        cat.classes_ = np.array(["collapse_seizure"])
    arrays = {
        "idf": vec.idf_.astype(np.float32),
        "coef": np.asarray(flag_coef).astype(np.float32),
        "intercept": np.asarray(flag_intercept).astype(np.float32),
        "cat_coef": cat.coef_.astype(np.float32),
        "cat_intercept": cat.intercept_.astype(np.float32),
        **extra,
    }
    meta = {**meta, "threshold": threshold[0], "threshold_no_finding": threshold[1],
            "embedding_weight": EMBEDDING_WEIGHT, "clause_pool": clause_pool, "hidden": hidden,
            "gates": list(gates), **({"scoped_tokens": True} if scoped else {}),
            "vocabulary": vocabulary,
            "categories": [str(c) for c in cat.classes_], "rule_features": list(RULE_FEATURE_NAMES)}
    return LearnedModel(arrays, {**meta, "version": meta.get("version", "unsaved")})


def _decide(guard: Guardrail, row: Row) -> bool:
    """The service's own decision for one row (Guardrail.check with the model under test)."""
    history = [{"role": "user", "content": row.turn}] if row.turn else None
    return guard.check(row.text, history) is not None


def _has_finding(text: str) -> bool:
    from .detector import detect

    return has_finding(detect(text))


class _CachedEmbedder:
    def __init__(self, feats: Featuriser):
        self.feats = feats

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.feats.embed(list(texts))


def rates(model: LearnedModel, feats: Featuriser, rows: list[Row]) -> dict:
    guard = Guardrail(load_guidance(ROOT / "corpus" / "guardrails"),
                      learned=LearnedScreen(_CachedEmbedder(feats), model))
    pos = [r for r in rows if r.label]
    neg = [r for r in rows if not r.label]
    tp = sum(_decide(guard, r) for r in pos)
    fp = sum(_decide(guard, r) for r in neg)
    return {"positives": len(pos), "negatives": len(neg), "caught": tp, "false_alarms": fp,
            "recall": tp / len(pos) if pos else None, "false_alarm_rate": fp / len(neg) if neg else None}


Scored = tuple[bool, list[tuple[bool, float]]]


def _scores(model: LearnedModel, feats: Featuriser, rows: list[Row]) -> list[Scored]:
    """(label, [(rules saw a finding, model probability) per text]) per row, to sweep thresholds."""
    screen = LearnedScreen(_CachedEmbedder(feats), model)
    out = []
    for r in rows:
        texts = [r.text] + ([r.turn] if r.turn else [])
        out.append((r.label, [(_has_finding(t), screen.score(t).probability) for t in texts]))
    return out


def flagged(scored: Scored, t_finding: float, t_none: float) -> bool:
    return any(p >= (t_finding if found else t_none) for found, p in scored[1])


@dataclass(frozen=True)
class Recipe:
    """What a fit is made of, so leave-one-author-out can compare recipes (defaults: the shipped one)."""

    ordinary_weight: float = ORDINARY_WEIGHT
    c: float = C
    clause_pool: bool = CLAUSE_POOL
    hidden: int = HIDDEN
    alpha: float = ALPHA
    author_weight: float = AUTHOR_WEIGHT
    lookalike_weight: float | None = LOOKALIKE_WEIGHT
    contrast_weight: float = CONTRAST_WEIGHT
    gates: tuple[str, ...] = GATES
    scoped: bool = False  # marked words for the rules' findings and their states (learned.model_text)

    def fit(self, units_rows: list[Row], feats: Featuriser, threshold: tuple[float, float],
            meta: dict, category: bool = True) -> LearnedModel:
        units = training_units(units_rows, self.ordinary_weight, self.author_weight, self.lookalike_weight,
                               self.contrast_weight)
        return fit(units, feats, threshold,
                   {**meta, "ordinary_weight": self.ordinary_weight, "author_weight": self.author_weight,
                    "lookalike_weight": self.lookalike_weight, "contrast_weight": self.contrast_weight,
                    "C": self.c, "alpha": self.alpha},
                   self.c, self.clause_pool, category, self.hidden, self.alpha, self.gates, self.scoped)


# v5's recipe by field name (its meta has no look-alike weight: an author's look-alike weighed as its
# emergencies); v8 is exactly this recipe on more data
V5_RECIPE = Recipe(ordinary_weight=6.0, c=30.0, clause_pool=True, hidden=0, alpha=1e-3, author_weight=3.0,
                   lookalike_weight=None, contrast_weight=0.0, gates=())


@dataclass(frozen=True)
class Split:
    """A model the plain run trains (`--model`): its name, training and held-out groups, recipe, folder, and
    the LOAO recall its thresholds hold (None: v5-recipe's on the same folds and data; choose_threshold)."""

    name: str
    authors: tuple[str, ...]
    ordinary: tuple[str, ...]
    held_out: tuple[str, ...]
    ordinary_held_out: tuple[str, ...]
    recipe: Recipe
    out: Path
    hold_recall: float | None


SPLITS = {
    "v7": Split("v7", TRAIN_AUTHORS, ORDINARY_TRAIN, HELD_OUT, ORDINARY_HELD_OUT, Recipe(), V7_DIR,
                HOLD_RECALL),
    "v8": Split("v8", V8_TRAIN_AUTHORS, V8_ORDINARY_TRAIN, V8_HELD_OUT, V8_ORDINARY_HELD_OUT, V5_RECIPE,
                V8_DIR, None),
    # v9: v8's data and recipe; its thresholds are the cheapest pair whose LOAO recall reaches the issue's
    # target, 0.99 — a bar fixed beforehand that does not move with the model's own data (v8's cost-chosen
    # pair held only its own recall and lost six emergencies held out). Fixed before any v9 run.
    "v9": Split("v9", V8_TRAIN_AUTHORS, V8_ORDINARY_TRAIN, V9_HELD_OUT, V8_ORDINARY_HELD_OUT, V5_RECIPE,
                V9_DIR, V9_HOLD_RECALL),
    # v10: seventeen training authors; the recipe is v5's unless the LOAO comparison fixed beforehand
    # (docs/guardrails.md "Model v10") picks another; thresholds as v9's
    "v10": Split("v10", V10_TRAIN_AUTHORS, V8_ORDINARY_TRAIN, V10_HELD_OUT, V8_ORDINARY_HELD_OUT, V5_RECIPE,
                 V10_DIR, V9_HOLD_RECALL),
    # v11: twenty-one training authors; v10's recipe and threshold rule, nothing else changed
    "v11": Split("v11", V11_TRAIN_AUTHORS, V8_ORDINARY_TRAIN, V11_HELD_OUT, V8_ORDINARY_HELD_OUT, V5_RECIPE,
                 V11_DIR, V9_HOLD_RECALL),
    # v11r: v11's data with thresholds held to LOAO recall 0.995 (for the static model static11r)
    "v11r": Split("v11r", V11_TRAIN_AUTHORS, V8_ORDINARY_TRAIN, V11R_HELD_OUT, V8_ORDINARY_HELD_OUT,
                  V5_RECIPE, MODEL_DIR / "v11r", 0.995),
    # v12: twenty-seven training authors and six ordinary authors; v11r's recipe and threshold rule
    "v12": Split("v12", V12_TRAIN_AUTHORS, V12_ORDINARY_TRAIN, V12_HELD_OUT, V8_ORDINARY_HELD_OUT,
                 V5_RECIPE, MODEL_DIR / "v12", 0.995),
    # v13: static11r's twenty-one red-flag authors and recipe, fourteen ordinary authors (static13)
    "v13": Split("v13", V11_TRAIN_AUTHORS, V13_ORDINARY_TRAIN, V13_HELD_OUT, V13_ORDINARY_HELD_OUT,
                 V5_RECIPE, MODEL_DIR / "v13", 0.995),
    # v14: v13's data and recipe, thresholds held to LOAO recall 0.997 (static14)
    "v14": Split("v14", V11_TRAIN_AUTHORS, V13_ORDINARY_TRAIN, V13_HELD_OUT, V13_ORDINARY_HELD_OUT,
                 V5_RECIPE, MODEL_DIR / "v14", 0.997),
}


def held_out_groups(rows: list[Row], split: Split) -> tuple[str, ...]:
    """The split's held-out groups, then any other red-flag author or answers author it does not train on
    (a batch written after the split was fixed, e.g. a19: held out by construction, never read)."""
    named = tuple(split.held_out) + tuple(f"ordinary-{a}" for a in split.ordinary_held_out)
    batch = [r for r in rows if RED_FLAG_AUTHOR.match(r.group) or r.group.startswith("ordinary-b")]
    later = sorted({r.group for r in batch
                    if not _in_training(r, None, split.authors, split.ordinary) and r.group not in named})
    return named + tuple(later)


@dataclass
class Loao:
    """Leave-one-author-out scores within the training authors: (group, scored) per left-out text."""

    pooled: list[tuple[str, Scored]]
    texts: list[str]

    def kind(self, group: str, label: bool) -> str:
        return "emergency" if label else "ordinary" if group.startswith("ordinary-") else "look-alike"

    def rate(self, pair: tuple[float, float], kind: str) -> float:
        rows_ = [s for g, s in self.pooled if self.kind(g, s[0]) == kind]
        wrong = [flagged(s, *pair) != s[0] for s in rows_]
        return sum(wrong) / max(1, len(wrong))

    def cost(self, pair: tuple[float, float]) -> float:
        """Expected cost per 1,000 messages under the assumed traffic (TRAFFIC) and costs (COSTS)."""
        return sum(1000 * TRAFFIC[k] * COSTS[k] * self.rate(pair, k) for k in TRAFFIC)

    def recall(self, pair: tuple[float, float]) -> float:
        return 1.0 - self.rate(pair, "emergency")

    def best(self, min_recall: float = 0.0) -> tuple[float, float]:
        """The cheapest pair whose pooled recall is at least `min_recall` (if no pair reaches it, the pair
        with the highest recall, cheapest among those)."""
        pairs = [(a, b) for a in GRID for b in GRID if b >= a]
        allowed = [p for p in pairs if self.recall(p) >= min_recall - 1e-12]
        if not allowed:
            top = max(self.recall(p) for p in pairs)
            allowed = [p for p in pairs if self.recall(p) == top]
        return min(allowed, key=lambda pair: (self.cost(pair), -pair[0], -pair[1]))

    def figures(self, pair: tuple[float, float]) -> dict[str, dict[str, int]]:
        """Per left-out group and pooled: emergencies caught / all, look-alikes or ordinary flagged / all."""
        out: dict[str, dict[str, int]] = {}
        for g, s in self.pooled:
            for key in (g, "pooled-redflag" if not g.startswith("ordinary-") else "pooled-ordinary"):
                row = out.setdefault(key, {"positives": 0, "caught": 0, "negatives": 0, "false_alarms": 0})
                f = flagged(s, *pair)
                if s[0]:
                    row["positives"] += 1
                    row["caught"] += f
                else:
                    row["negatives"] += 1
                    row["false_alarms"] += f
        return out


def loao(rows: list[Row], authors: tuple[str, ...], feats: Featuriser, recipe: Recipe | None = None,
         ordinary_authors: tuple[str, ...] = ORDINARY_TRAIN, exclude: frozenset[str] = frozenset()) -> Loao:
    """Leave-one-author-out within the training authors: fold i keeps the red-flag author `authors[i]` and
    the ordinary-question author `ordinary_authors[i % len(ordinary_authors)]` out of training and scores
    them (from v7, three ordinary authors take turns, so a fold's model learns from the other ordinary
    authors' phrasing, as the final model does; with one, it is left out of every fold, as for v5).
    `exclude`: groups no fold trains on (`--v5-data`: v5's training data, scored in the same folds)."""
    recipe = recipe or Recipe()
    pooled: list[tuple[str, Scored]] = []
    texts: list[str] = []
    for i, left_out in enumerate(authors):
        ordinary = f"ordinary-{ordinary_authors[i % len(ordinary_authors)]}"
        train = [r for r in rows if _in_training(r, left_out, authors, ordinary_authors)
                 and r.group != ordinary and r.group not in exclude]
        model = recipe.fit(train, feats, (0.5, 0.5), {}, category=False)
        scored = [r for r in rows if r.group in (left_out, ordinary)]
        pooled += list(zip([r.group for r in scored], _scores(model, feats, scored), strict=True))
        texts += [r.text for r in scored]
        log.info("fold without %s and %s done", left_out, ordinary)
    return Loao(pooled, texts)


def choose_threshold(rows: list[Row], authors: tuple[str, ...], feats: Featuriser,
                     recipe: Recipe | None = None, exclude: frozenset[str] = frozenset(),
                     min_recall: float | None = HOLD_RECALL,
                     ordinary_authors: tuple[str, ...] = ORDINARY_TRAIN) -> tuple[tuple[float, float], Loao]:
    """Two thresholds chosen together on leave-one-author-out scores (`loao`): one for texts in which the
    rules saw some finding, one for texts in which they saw none (there the model alone speaks). The pair
    is the grid value with the lowest expected cost per message, pooled over folds, under TRAFFIC and
    COSTS: emergencies are rare but a miss is expensive; ordinary questions are most of the traffic, and
    each banner teaches clinicians to ignore the next. From v7 on, only pairs whose pooled recall is at
    least `min_recall` (HOLD_RECALL: fewer banners, not fewer catches) are considered. `min_recall` None
    (v8): the pooled recall v5's recipe reaches on the same folds and data with its cost-chosen pair,
    computed here (from the same scores when `recipe` is v5's, as for v8)."""
    recipe = recipe or Recipe()
    scores = loao(rows, authors, feats, recipe, ordinary_authors, exclude)
    if min_recall is None:
        v5 = (scores if recipe == V5_RECIPE
              else loao(rows, authors, feats, V5_RECIPE, ordinary_authors, exclude))
        min_recall = v5.recall(v5.best())
        log.info("holding v5-recipe's recall on the same folds: %.4f", min_recall)
    best = scores.best(min_recall)
    fig = scores.figures(best)
    red, orda = fig["pooled-redflag"], fig["pooled-ordinary"]
    log.info("inner best %s: recall %.3f false alarms %.3f ordinary %.3f cost %.1f", best,
             red["caught"] / red["positives"], red["false_alarms"] / red["negatives"],
             orda["false_alarms"] / max(1, orda["negatives"]), scores.cost(best))
    return best, scores


def _in_training(row: Row, exclude: str | None = None, authors: tuple[str, ...] = TRAIN_AUTHORS,
                 ordinary: tuple[str, ...] = ORDINARY_TRAIN) -> bool:
    """Training data: everything except held-out authors (and `exclude`, for inner leave-one-out); the
    red-flag and ordinary authors trained on are the split's (`authors`, `ordinary`; default v7's)."""
    if row.group == exclude:
        return False
    if row.group in ("own", "training", "training-ordinary", "headings", "ordinary-own") + CONTRAST_SETS:
        return True
    return row.group in authors or (row.group.startswith("ordinary-")
                                    and row.group.removeprefix("ordinary-") in ordinary)


def save(model: LearnedModel, model_dir: Path = MODEL_DIR) -> dict:
    hidden: dict[str, Any] = ({} if model.hidden is None else
              {"hidden_coef": model.hidden.astype(np.float32),
               "hidden_intercept": np.asarray(model.hidden_intercept).astype(np.float32)})
    # fixed member order and timestamps (np.savez_compressed stamped the time: a new hash on every retrain)
    raw = npz_bytes({"idf": model.idf.astype(np.float32), "coef": model.coef.astype(np.float32),
                     "intercept": np.array([model.intercept], dtype=np.float32),
                     "cat_coef": model.cat_coef.astype(np.float32),
                     "cat_intercept": model.cat_intercept.astype(np.float32), **hidden}, compress=True)
    digest = hashlib.sha256(raw).hexdigest()
    # the version names the whole decision: the weights and the thresholds applied to them
    decision = f"{digest}:{model.meta['threshold']}:{model.meta['threshold_no_finding']}".encode()
    prefix = f"{model.meta['name']}-" if model.meta.get("name") else ""  # v7 on: "v7-2026-12-02+…"
    meta = {**model.meta, "sha256": digest,
            "version": f"{prefix}{model.meta['trained']}+{hashlib.sha256(decision).hexdigest()[:12]}"}
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "redflag.npz").write_bytes(raw)
    (model_dir / "redflag.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return meta


def _print_loao(scores: Loao, pair: tuple[float, float], label: str) -> dict:
    fig = scores.figures(pair)
    for group, row in fig.items():
        parts = []
        if row["positives"]:
            caught, n = row["caught"], row["positives"]
            parts.append(f"recall {caught}/{n} = {caught / n:.3f}")
        if row["negatives"]:
            parts.append(f"flagged {row['false_alarms']}/{row['negatives']} = "
                         f"{row['false_alarms'] / row['negatives']:.3f}")
        print(f"{label} {group:32s} " + ", ".join(parts))
    print(f"{label} cost per 1,000 messages at {pair}: {scores.cost(pair):.1f}")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loao", action="store_true",
                        help="development only: leave-one-author-out within the training authors, per "
                             "author; writes nothing; the held-out authors are dropped before any scoring")
    parser.add_argument("--model", choices=sorted(SPLITS), default="v8",
                        help="the split and recipe to train (default v8, into model/v8/; v7 into model/v7/); "
                             "the options below default to that model's recipe")
    parser.add_argument("--ordinary-weight", type=float)
    parser.add_argument("--C", type=float)
    parser.add_argument("--no-clause-pool", action="store_true")
    parser.add_argument("--show-misses", action="store_true", help="with --loao: the missed emergencies")
    parser.add_argument("--show-alarms", action="store_true",
                        help="with --loao: the flagged look-alikes and ordinary questions (training groups)")
    parser.add_argument("--hidden", type=int)
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--author-weight", type=float)
    parser.add_argument("--lookalike-weight", type=float,
                        help="an author's look-alike weight (0: the same as its emergencies, v5's and v8's)")
    parser.add_argument("--gates",
                        help=f"comma-separated rule features gating a copy of the embedding, e.g. "
                             f"{','.join(CANDIDATE_GATES)}; empty: none")
    parser.add_argument("--contrast-weight", type=float,
                        help="training weight of the contrast pairs (CONTRAST_SETS); 0 leaves them out")
    parser.add_argument("--cache", type=Path, help="development: keep embeddings in this .npz between runs")
    parser.add_argument("--dry-run", action="store_true", help="report only; do not write model/")
    parser.add_argument("--no-held-out", action="store_true",
                        help="reproduce the files without scoring the held-out groups again (the weights and "
                             "version are the same; the meta then lacks the held-out figures)")
    parser.add_argument("--out", type=Path,
                        help="where the plain run writes the model (default: the model's folder, "
                             "model/v8/ or model/v7/; the service's v5 is model/redflag.*)")
    parser.add_argument("--min-recall", type=float,
                        help="thresholds: the cheapest pair with at least this LOAO recall (0: cost only; "
                             "default v7's HOLD_RECALL, for v8 v5-recipe's on the same folds)")
    parser.add_argument("--v5-data", action="store_true",
                        help="with --loao: train the folds on v5's data only (the model's other authors "
                             "still scored in their folds, never trained on), to separate the gain from data")
    args = parser.parse_args(argv)
    split = SPLITS[args.model]
    base = split.recipe
    lookalike = base.lookalike_weight if args.lookalike_weight is None else (args.lookalike_weight or None)
    recipe = Recipe(base.ordinary_weight if args.ordinary_weight is None else args.ordinary_weight,
                    base.c if args.C is None else args.C, base.clause_pool and not args.no_clause_pool,
                    base.hidden if args.hidden is None else args.hidden,
                    base.alpha if args.alpha is None else args.alpha,
                    base.author_weight if args.author_weight is None else args.author_weight, lookalike,
                    base.contrast_weight if args.contrast_weight is None else args.contrast_weight,
                    base.gates if args.gates is None else tuple(g for g in args.gates.split(",") if g))
    min_recall = split.hold_recall if args.min_recall is None else args.min_recall
    out = split.out if args.out is None else args.out
    from config import prepare_process
    from ingest.embedding import get_base_embedder

    prepare_process()

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    feats = Featuriser(get_base_embedder(), args.cache)
    rows = load_rows()
    if args.loao:  # only training groups are kept: no held-out (or later, unread) row is computed on
        rows = [r for r in rows if _in_training(r, None, split.authors, split.ordinary)]
        v5_only = frozenset(set(split.authors) - set(V5_TRAIN_AUTHORS)
                            | {f"ordinary-{a}" for a in set(split.ordinary) - set(V5_ORDINARY_TRAIN)})
        threshold, scores = choose_threshold(rows, split.authors, feats, recipe,
                                             v5_only if args.v5_data else frozenset(), min_recall,
                                             split.ordinary)
        print(f"recipe {recipe}; data {'v5' if args.v5_data else split.name}; thresholds chosen: {threshold}")
        _print_loao(scores, threshold, "loao")
        if args.show_misses:  # training authors only: the held-out rows were dropped above
            for (group, sc), text in zip(scores.pooled, scores.texts, strict=True):
                if sc[0] and not flagged(sc, *threshold):
                    print(f"miss {group}: p={max(p for _, p in sc[1]):.3f} {text[:200]!r}")
        if args.show_alarms:  # the same: training groups only
            for (group, sc), text in zip(scores.pooled, scores.texts, strict=True):
                if not sc[0] and flagged(sc, *threshold):
                    print(f"alarm {group}: p={max(p for _, p in sc[1]):.3f} {text[:200]!r}")
        for t in GRID[:12]:
            fig = scores.figures((t, t))
            red, orda = fig["pooled-redflag"], fig["pooled-ordinary"]
            print(f"loao at ({t:.2f}, {t:.2f}): recall {red['caught'] / red['positives']:.3f} false alarms "
                  f"{red['false_alarms'] / red['negatives']:.3f} ordinary "
                  f"{orda['false_alarms'] / orda['negatives']:.3f} cost {scores.cost((t, t)):.1f}")
        feats.save_cache()
        print(f"{time.perf_counter() - started:.0f} s")
        return 0
    # the folds see training groups only (as --loao): held-out rows are kept for the report at the end
    train = [r for r in rows if _in_training(r, None, split.authors, split.ordinary)]
    threshold, scores = choose_threshold(train, split.authors, feats, recipe, min_recall=min_recall,
                                         ordinary_authors=split.ordinary)
    held = held_out_groups(rows, split)
    meta = {"trained": time.strftime("%Y-%m-%d"), "name": split.name,
            "trained_on": sorted({r.group for r in train
                                  if recipe.contrast_weight or r.group not in CONTRAST_SETS}),
            "held_out": list(held),
            "traffic": TRAFFIC, "costs": COSTS, "min_df": MIN_DF,
            "loao_figures": _print_loao(scores, threshold, "loao")}
    model = recipe.fit(train, feats, threshold, meta)
    print(f"threshold chosen on training authors: {threshold}")
    # once, at the end: held-out totals (no per-item output) of the new model and, in the same run, of the
    # model it would replace (the one in MODEL_DIR now), so the two are compared on the same groups
    if not args.no_held_out:
        previous = _default_model()  # the one the service loads now (v5 until v9; v9 from the sixth session)
        report = held_out_report(model, feats, rows, held)
        model.meta["held_out_figures"] = report
        if previous is not None:
            model.meta["held_out_figures_previous"] = {"version": previous.version,
                                                       **held_out_report(previous, feats, rows, held)}
        for group in report:
            before = model.meta.get("held_out_figures_previous", {}).get(group)
            print(f"held out {group:36s} new {_totals(report[group])}"
                  + (f"   previous {_totals(before)}" if before else ""))
    if not args.dry_run:
        saved = save(model, out)
        print(f"wrote {out}/redflag.npz ({saved['version']}), threshold {threshold}")
    feats.save_cache()
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


def _default_model() -> LearnedModel | None:
    """The learned layer the service loads by default (`Settings.redflag_model`), when it is one of these
    linear models: what a new model is compared with, in the same run."""
    from service.guardrails.guard import model_folder
    from service.settings import Settings

    name = Settings.model_fields["redflag_model"].default
    usable = name != "v6" and not name.startswith("static") and (model_folder(name) / "redflag.json").exists()
    return LearnedModel.load(model_folder(name)) if usable else None


def held_out_report(model: LearnedModel, feats: Featuriser, rows: list[Row],
                    groups: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Totals per held-out group (`groups`; default HELD_OUT, ORDINARY_HELD_OUT) and pooled, from the
    service's decision."""
    report: dict[str, dict] = {}
    for group in groups or HELD_OUT + tuple(f"ordinary-{a}" for a in ORDINARY_HELD_OUT):
        report[group] = rates(model, feats, [r for r in rows if r.group == group])
        key = "pooled-ordinary" if group.startswith("ordinary-") else "pooled-redflag"
        pooled = report.setdefault(key, {"positives": 0, "negatives": 0, "caught": 0, "false_alarms": 0})
        for k in ("positives", "negatives", "caught", "false_alarms"):
            pooled[k] += report[group][k]
    for key in ("pooled-redflag", "pooled-ordinary"):
        row = report.pop(key)
        pos, neg = row["positives"], row["negatives"]
        report[key] = {**row, "recall": row["caught"] / pos if pos else None,
                       "false_alarm_rate": row["false_alarms"] / neg if neg else None}
    return report


def _totals(row: dict) -> str:
    parts = [f"recall {row['caught']}/{row['positives']}"] if row["positives"] else []
    return ", ".join(parts + [f"flagged {row['false_alarms']}/{row['negatives']}"])


if __name__ == "__main__":
    raise SystemExit(main())
