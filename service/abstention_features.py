"""The evidence a learned abstention decision reads: cheap signals of "does the content cover this question?".

Why more than the two dense cosines (service/abstention.py has the rule they feed): a near-domain question
("PSA screening?", "migraine prophylaxis?") lands on a passage about a neighbouring topic with a cosine as
high as many in-scope questions get, while a lay or typo-ridden in-scope question can score low. What tells
them apart is spread over several weak signals: how much of the question's informative words one passage
(or the top few) actually contains, whether BM25 and the dense ranking agree on where the answer is, how
far the best BM25 passage stands out, whether the question names things the corpus never says, and what
kind of question it is. Each is computed from what retrieval already produced plus the generation's
precomputed word sets: numpy and set look-ups (BM25's list is retrieval's own), no model call.

Every signal is a float and is named in FEATURES; service/abstention_model.py applies the fitted weights,
`python -m evals.train_abstention` fits them. The article being read (`article_id`) is not a feature: no
tuning question carries one, so no weight could be fitted for it (it already shapes retrieval, and with it
the cosines and coverages here).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from service.abstention import SUPPORT_MIN, SUPPORT_WITH_UNKNOWN, Evidence, person_names
from service.index import Snapshot
from service.lexicon import lexicon
from service.question_kind import QuestionKind, question_kind
from service.retrieval import Hit, bm25_ranked
from service.term_weights import idf_weights, passage_terms, weighted_share
from service.text import STOPWORDS, content_terms, words

FEATURES = (
    "rule_margin",  # support − the rule's bar for this question (SUPPORT_WITH_UNKNOWN with an unknown word)
    "rule_covers",  # the hand-set rule's decision, 1 = answer (its AND of two conditions is not linear)
    "passage_sim",  # best passage cosine (the rule's first term)
    "sentence_sim",  # best contextual sentence cosine among the hits (the rule's second term)
    "solo_sim",  # best standalone sentence cosine among the hits (ingest/standalone.py)
    "top_cos",  # cosine of the top fused hit
    "fused_top",  # fused score of the top hit (1.0 = first in every list)
    "bm25_log",  # log(1 + best BM25 score of the question)
    "bm25_per_idf",  # best BM25 score ÷ the question's summed IDF: how much of the question one passage holds
    "bm25_margin",  # (best − second BM25) ÷ best: does one passage stand out?
    "coverage_top",  # IDF-weighted share of the question's content words in the top hit (text + section)
    "coverage_topk",  # … in any of the retrieved passages
    "coverage_sentence",  # … in the best single sentence of the retrieved passages
    "coverage_best",  # … in the retrieved passage that holds the most of them
    "known_share",  # IDF-weighted share of the question's content words the corpus uses at all
    "unknown_count",  # specialised words the corpus never uses (service/abstention.py)
    "unknown_pieces",  # WordPiece pieces of the longest such word (0 when none)
    "unknown_plain",  # question words of ≥ 4 letters the corpus never uses, specialised or not ("drive")
    "doc_spread",  # distinct documents among the hits ÷ hits: an answer sits in one place
    "cos_gap",  # cosine of the top hit − the lowest among the hits: does anything stand out?
    "agree_top",  # 1 when BM25's best passage is dense's best among the hits
    "dense_in_bm25",  # 1 / (1 + rank of dense's best hit in BM25's list), 0 when BM25 does not rank it
    "follow_up",  # the question leans on earlier turns
    "n_terms",  # log(1 + content words of the question)
    "kind_quantity",
    "kind_list",
    "kind_action",
    "kind_test",
)  # fmt: skip
BM25_DEPTH = 30  # how far BM25's list is read for the agreement signal


@dataclass(frozen=True)
class SupportInputs:
    """What the signals are computed from: the request's retrieval, as answering.judge_support holds it."""

    snapshot: Snapshot
    hits: Sequence[Hit]
    question: str  # as asked (kind, follow-up)
    query: str  # the first query text, clinical shorthand expanded (BM25, coverage)
    query_vec: np.ndarray  # the weighted query mix, unit length
    passage_sim: float
    sentence_sim: float
    unknown_words: tuple[str, ...]
    leaning: bool  # a follow-up that leans on the conversation
    # BM25's (rows, scores) for `query` at BM25_DEPTH when retrieval already ranked it (else scored here)
    bm25: tuple[np.ndarray, np.ndarray] | None = None


def unknown_plain(question: str, snapshot: Snapshot) -> list[str]:
    """Question words of ≥ 4 letters the corpus never uses (typos and prefixes forgiven, as for specialised
    words), stop words, shorthand and numbers aside: "drive" or "fly" after a vertebroplasty question."""
    vocab = snapshot.vocabulary
    if vocab is None:
        return []
    shorthand = lexicon()
    names = person_names(question)
    return [w for w in dict.fromkeys(words(question)) if len(w) >= 4 and w not in STOPWORDS
            and w not in shorthand and w not in names and not any(c.isdigit() for c in w)
            and not vocab.knows(w)]


def support_features(inputs: SupportInputs, pieces: Callable[[str], int]) -> np.ndarray:
    """(len(FEATURES),) float64: the signals of one question, in FEATURES order."""
    snap, hits, qv = inputs.snapshot, list(inputs.hits), inputs.query_vec
    terms = list(dict.fromkeys(content_terms(inputs.query)))
    idf = idf_weights(snap, terms)
    f: dict[str, float] = dict.fromkeys(FEATURES, 0.0)
    f["passage_sim"], f["sentence_sim"] = inputs.passage_sim, inputs.sentence_sim
    rule = Evidence(inputs.passage_sim, inputs.sentence_sim, inputs.unknown_words)
    bar = SUPPORT_WITH_UNKNOWN if inputs.unknown_words else SUPPORT_MIN
    f["rule_margin"], f["rule_covers"] = rule.support - bar, float(rule.covered_by_rule)
    f["unknown_count"] = float(len(inputs.unknown_words))
    f["unknown_pieces"] = float(max((pieces(w) for w in inputs.unknown_words), default=0))
    f["follow_up"] = float(inputs.leaning)
    f["unknown_plain"] = float(len(unknown_plain(inputs.question, snap)))
    f["n_terms"] = math.log1p(len(terms))
    kind = question_kind(inputs.question)
    for name, k in (("kind_quantity", QuestionKind.QUANTITY), ("kind_list", QuestionKind.LIST),
                    ("kind_action", QuestionKind.ACTION), ("kind_test", QuestionKind.TEST)):
        f[name] = float(kind is k)
    f["known_share"] = weighted_share(idf, {t for t in terms if snap.term_df.get(t, 0) > 0})
    bm_rows, bm_scores = inputs.bm25 or bm25_ranked(snap, inputs.query, BM25_DEPTH)
    if len(bm_scores):
        best = float(bm_scores[0])
        f["bm25_log"] = math.log1p(best)
        f["bm25_per_idf"] = best / (sum(idf.values()) or 1.0)
        f["bm25_margin"] = (best - float(bm_scores[1])) / best if len(bm_scores) > 1 and best > 0 else 1.0
    if not hits:
        return np.asarray([f[name] for name in FEATURES], dtype=np.float64)
    rows = [h.row for h in hits]
    cos = np.asarray(snap.chunk_vecs[rows], dtype=np.float32) @ qv
    f["top_cos"] = float(cos[0])
    f["fused_top"] = float(hits[0].score)
    sentence_rows = [s for r in rows for s in snap.sentences_of(r)]
    if sentence_rows:
        f["solo_sim"] = float((snap.relevance_vecs[sentence_rows] @ qv).max())
    per_hit = [passage_terms(snap, r) for r in rows]
    f["doc_spread"] = len({snap.doc_id(r) for r in rows}) / len(rows)
    f["cos_gap"] = float(cos.max() - cos.min())
    f["coverage_top"] = weighted_share(idf, per_hit[0])
    f["coverage_topk"] = weighted_share(idf, set().union(*per_hit))
    f["coverage_best"] = max(weighted_share(idf, p) for p in per_hit)
    f["coverage_sentence"] = max((weighted_share(idf, snap.sent_terms[s]) for s in sentence_rows),
                                 default=0.0)
    dense_best = rows[int(np.argmax(cos))]
    bm_list = [int(r) for r in bm_rows]
    f["agree_top"] = float(bool(bm_list) and bm_list[0] == dense_best)
    f["dense_in_bm25"] = 1.0 / (1.0 + bm_list.index(dense_best)) if dense_best in bm_list else 0.0
    return np.asarray([f[name] for name in FEATURES], dtype=np.float64)
