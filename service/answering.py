"""The answering pipeline, read top to bottom: screen → query texts → retrieve → judge support → compose
(LLM or extractive) → render.

Each stage is a function of the previous stage's output, a small frozen dataclass, and hands its result on
in one direction; `Answerer` at the bottom holds what the stages need (embedding model, guardrail, LLM
client, live index) and only wires them.

Order matters for safety: the red-flag screen runs first and alone (no retrieval, no LLM) so an emergency
never waits on, or is diluted by, anything else. Every other path ends in a response whose `[n]` markers all
resolve to `citations`, stamped with the index generation that produced it.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from service.abstention import Evidence, unknown_specialised
from service.abstention_features import BM25_DEPTH, SupportInputs, support_features
from service.citations import AnswerSentence, passage, render, structured
from service.composer import MAIN_CANDIDATES, compose
from service.extractive import best_sentence_similarity
from service.followup import (
    QueryText,
    context_turns,
    depends_on_context,
    previous_answer,
    query_texts,
    resolved_question,
)
from service.index import Snapshot
from service.lexicon import expand_query
from service.live_index import LiveIndex, NotReady
from service.llm import Deadline, LLMClient, LLMFailed, NumberedPassage, answer_messages, condense_messages
from service.llm_validation import check_answer
from service.models import (
    AnswerPart,
    AskRequest,
    AskResponse,
    FallbackReason,
    RedFlagInfo,
    RelatedAnswer,
    RetrieveRequest,
    RetrieveResponse,
    Topic,
    Turn,
)
from service.passage_choice import PassageChooser, shipped_chooser
from service.question_kind import QuestionKind, question_kind
from service.retrieval import Hit, Retrieval, StoreQueryFailed, retrieve
from service.settings import Settings, get_settings
from service.shared_vectors import encode_reusing, request_vectors

if TYPE_CHECKING:  # loaded in Answerer.warm_up: a guardrail that fails to load leaves the service not ready
    from service.guardrails import Guardrail, RedFlag

if TYPE_CHECKING:  # loaded in warm_up, not at import: the model takes seconds
    from ingest.embedding import Embedder
    from service.guardrails import Guardrail

log = logging.getLogger(__name__)

TOPICS_LISTED = 3
ABSTAIN_TEXT = "The guideline content available here does not cover this question."
Pieces = list[str]  # the answer's sentences with their markers, as the stream sends them


# --- 1. screen ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Screened:
    request: AskRequest
    flag: RedFlag | None  # None: not an emergency, answer it


def screen(guard: Guardrail, request: AskRequest) -> Screened:
    """The red-flag guardrail's decision on the message and its history, before anything else runs."""
    return Screened(request, guard.screen(request.question, [t.model_dump() for t in request.history]))


_QUESTION = re.compile(
    r"\?|^\s*(?:what|which|when|how|should|can|could|do|does|is|are|why|where|who|dose|any)\b", re.I | re.M)


def asks_question(text: str) -> bool:
    """Does the message ask something the guidelines could answer (a question mark or a question word)?"""
    return bool(_QUESTION.search(text))


# --- 2. query texts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryPlan:
    question: str  # as asked
    history: tuple[Turn, ...]
    article_id: str | None
    queries: tuple[QueryText, ...]  # what retrieval embeds and matches, weighted
    llm_question: str  # what the LLM answers: the condensed follow-up, or the question as asked
    llm_failure: FallbackReason | None = None  # condensing failed: no LLM answer this time


def plan_queries(
    question: str, history: list[Turn], article_id: str | None,
    llm: LLMClient | None = None, deadline: Deadline | None = None,
) -> QueryPlan:
    """The texts to retrieve with (service/followup.py); with an LLM, a follow-up is first condensed into a
    standalone question that leads the queries and is what the LLM answers."""
    queries = query_texts(question, history)
    plan = QueryPlan(question, tuple(history), article_id, tuple(queries), question)
    if llm is None or deadline is None or not history:  # no deadline, no LLM work
        return plan
    try:
        condensed = _condensed(llm, question, history, deadline)
    except LLMFailed as exc:
        log.warning("LLM condense failed, no LLM answer this time (%s): %s", exc.code, exc.detail)
        return QueryPlan(question, tuple(history), article_id, tuple(queries), question, exc.code)
    return QueryPlan(
        question, tuple(history), article_id, (QueryText(condensed, 1.0), *queries[:1]), condensed
    )


def _condensed(llm: LLMClient, question: str, history: list[Turn], deadline: Deadline) -> str:
    """The follow-up rewritten as a standalone question by the LLM (retrieval and the answer use it)."""
    text = llm.chat(condense_messages(question, history), deadline, max_tokens=120)
    text = text.strip().strip('"').splitlines()[0].strip()
    if not text or len(text) > 600:
        raise LLMFailed("llm_error", "the condensed question was empty or too long")
    return text


# --- 3. retrieve ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Retrieved:
    plan: QueryPlan
    snapshot: Snapshot  # held for the whole request, even if a new generation goes live meanwhile
    queries: tuple[QueryText, ...]  # the plan's, with clinical shorthand expanded
    query_vec: np.ndarray  # the weighted, re-normalised mix used to rank sentences
    retrieval: Retrieval


def query_inputs(plan: QueryPlan, snapshot: Snapshot, embedder) -> tuple[list[QueryText], np.ndarray]:
    """The plan's query texts with the clinical shorthand the corpus itself does not use expanded
    (service/lexicon.py), and their vectors (one embedding call; the screen's vector of the question is
    reused)."""
    queries = [QueryText(expand_query(q.text, snapshot.uses_term), q.weight) for q in plan.queries]
    return queries, encode_reusing(embedder, [q.text for q in queries])


def retrieve_passages(
    plan: QueryPlan,
    live: LiveIndex,
    embedder,
    *,
    k: int,
    depth: int,
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
) -> Retrieved:
    """Hybrid (or dense, or BM25) retrieval of the plan's queries from the live generation."""
    snapshot = live.current()
    queries, vectors = query_inputs(plan, snapshot, embedder)

    def run(snap: Snapshot) -> Retrieval:
        return retrieve(snap, queries, vectors, k=k, depth=depth, mode=mode, article_id=plan.article_id)

    try:
        retrieval = run(snapshot)
    except StoreQueryFailed as exc:
        # Two re-ingests in quick succession can collect the generation this request started on; the
        # newer snapshot (if one went live meanwhile) answers instead of failing the request.
        newer = live.current()
        if newer is snapshot:
            raise NotReady(f"the index store could not be queried ({exc}); retry shortly") from exc
        snapshot = newer
        try:
            retrieval = run(snapshot)
        except StoreQueryFailed as again:
            raise NotReady(f"the index store could not be queried ({again}); retry shortly") from again
    return Retrieved(plan, snapshot, tuple(queries), _mix(vectors, queries), retrieval)


def _mix(vectors: np.ndarray, queries: list[QueryText]) -> np.ndarray:
    weights = np.asarray([q.weight for q in queries], dtype=np.float32)[:, None]
    mixed = (vectors * weights).sum(0)
    return (mixed / (np.linalg.norm(mixed) or 1.0)).astype(np.float32)


# --- 4. judge support -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Judged:
    retrieved: Retrieved
    evidence: Evidence  # evidence.sufficient: answer; otherwise abstain (service/abstention.py)


def judge_support(retrieved: Retrieved, wordpieces: Callable[[str], int]) -> Judged:
    """How well the retrieved content matches the question: passage and sentence similarity, the
    specialised words the corpus never uses, and the further support signals the learned decision reads
    (service/abstention_features.py)."""
    question = retrieved.plan.question
    # The joined follow-up text counts only when the question leans on it; otherwise an off-topic
    # question asked after an on-topic one would borrow the earlier question's support.
    leaning = len(retrieved.queries) > 1 and depends_on_context(question)
    sims = retrieved.retrieval.top_dense[: len(retrieved.queries) if leaning else 1]
    vocabulary = retrieved.snapshot.vocabulary
    passage_sim = max(sims, default=0.0)
    retrieval = retrieved.retrieval
    # the plain fused hits: the abstention decision was fitted on them, before the learned re-ranking
    support_hits = retrieval.support_hits
    sentence_sim = best_sentence_similarity(retrieved.snapshot, support_hits, retrieved.query_vec)
    unknown = unknown_specialised(question, vocabulary, wordpieces) if vocabulary else ()
    # retrieval's BM25 list for the question as asked is the one the signals read, when ranked as deep
    bm25 = retrieval.bm25[0] if retrieval.bm25 and retrieval.depth == BM25_DEPTH else None
    signals = support_features(SupportInputs(
        retrieved.snapshot, support_hits, question, retrieved.queries[0].text,
        retrieved.query_vec, passage_sim, sentence_sim, unknown, leaning, bm25), wordpieces)
    return Judged(retrieved, Evidence(passage_sim, sentence_sim, unknown, tuple(float(v) for v in signals)))


# --- 5. compose (LLM or extractive) ---------------------------------------------------------------------
@dataclass(frozen=True)
class Composed:
    retrieved: Retrieved
    mode: Literal["llm", "extractive", "abstain"]
    sentences: tuple[AnswerSentence, ...] = ()  # empty when abstaining
    fallback_reason: FallbackReason | None = None  # why an LLM answer was asked for and not given


def compose_answer(
    judged: Judged, llm: LLMClient | None = None, deadline: Deadline | None = None
) -> Composed:
    """Abstain without enough support; else the LLM's validated sentences when there is an LLM and it
    delivers, else sentences quoted from the passages; abstain too when none is worth quoting."""
    retrieved = judged.retrieved
    if not judged.evidence.sufficient:
        return Composed(retrieved, "abstain")
    fallback_reason = retrieved.plan.llm_failure
    if llm is not None and deadline is not None and fallback_reason is None:
        try:
            return Composed(retrieved, "llm", _llm_sentences(llm, retrieved, deadline))
        except LLMFailed as exc:
            fallback_reason = exc.code
            log.warning("LLM answer replaced by the extractive one (%s): %s", exc.code, exc.detail)
    retrieved, sentences = extractive_sentences(retrieved)
    return Composed(retrieved, "extractive" if sentences else "abstain", sentences,
                    fallback_reason if llm is not None else None)


def with_section_siblings(retrieved: Retrieved) -> Retrieved:
    """The hits, followed by the other chunks of each main candidate's section that retrieval did not return
    (score 0): a section longer than one chunk is stored as several passages, and the sentence after the one
    that matched can sit in the next chunk; likewise the subsection that holds the items of a lead-in a
    candidate ends with (`Snapshot.continuation_row`). The composer only quotes them with their own main
    passage (service/composer.py), and they are cited like any passage."""
    snap, hits = retrieved.snapshot, retrieved.retrieval.hits
    have = {h.row for h in hits}
    extra: list[Hit] = []
    for h in hits[:MAIN_CANDIDATES]:
        continuation = snap.continuation_row(h.row)
        for row in [*snap.section_rows(h.row), *([continuation] if continuation is not None else [])]:
            if row not in have:
                have.add(row)
                extra.append(Hit(row, 0.0))
    if not extra:
        return retrieved
    return replace(retrieved, retrieval=replace(retrieved.retrieval, hits=[*hits, *extra]))


def _llm_sentences(
    llm: LLMClient, retrieved: Retrieved, deadline: Deadline
) -> tuple[AnswerSentence, ...]:
    snapshot = retrieved.snapshot
    numbered = [
        NumberedPassage(
            i + 1,
            snapshot.metas[h.row].get("title", ""),
            snapshot.metas[h.row].get("section", ""),
            snapshot.texts[h.row],
        )
        for i, h in enumerate(retrieved.retrieval.hits)
    ]
    text = llm.chat(answer_messages(retrieved.plan.llm_question, numbered), deadline)
    checked = check_answer(text, [p.text for p in numbered])
    for sentence, why in checked.dropped:
        log.info("dropped an LLM sentence (%s), %d chars", why, len(sentence))
    if not checked.sentences:
        raise LLMFailed("llm_unsupported", f"no sentence passed validation ({len(checked.dropped)} dropped)")
    return tuple(checked.sentences)


@dataclass(frozen=True)
class ComposerQuestion:
    """What the composer ranks units against: the question (a follow-up's with its references resolved),
    the words the user typed this turn, what the conversation already said, and the kind of answer asked."""

    focus: str
    own_words: str
    said: str
    kind: QuestionKind


def composer_question(retrieved: Retrieved) -> ComposerQuestion:
    """A follow-up's own words ("how do we confirm it?") name nothing: the composer looks for the words of
    the question with its references resolved (service/followup.py)."""
    plan, snapshot = retrieved.plan, retrieved.snapshot
    question, history = plan.question, list(plan.history)
    focus, own, said = retrieved.queries[0].text, "", ""
    if history and depends_on_context(question):
        uses = snapshot.uses_term
        focus = expand_query(resolved_question(question, history), uses)
        own = retrieved.queries[0].text
        said = expand_query(" ".join([*context_turns(question, history), previous_answer(history)]), uses)
    return ComposerQuestion(focus, own, said, question_kind(question))


def extractive_sentences(
    retrieved: Retrieved, chooser: PassageChooser | None | Literal["shipped"] = "shipped"
) -> tuple[Retrieved, tuple[AnswerSentence, ...]]:
    """The quoted answer, and the retrieval it cites into (the hits followed by their sections' other chunks,
    `with_section_siblings`); the main passage chosen by the shipped learned chooser
    (service/passage_choice.py) unless another (or None: the composer's rule) is given, as the training
    script's evaluation does — so the trainer scores exactly the composition the service serves."""
    retrieved = with_section_siblings(retrieved)
    asked = composer_question(retrieved)
    quoted = compose(retrieved.snapshot, retrieved.retrieval.hits, retrieved.query_vec, asked.focus,
                     asked.kind, own_words=asked.own_words, said=asked.said,
                     chooser=shipped_chooser() if chooser == "shipped" else chooser,
                     bm25=question_bm25(retrieved))
    return retrieved, tuple(AnswerSentence(q.text, (q.hit,)) for q in quoted)


def question_bm25(retrieved: Retrieved) -> tuple[np.ndarray, np.ndarray] | None:
    """BM25's ranked (rows, scores) for the question (retrieval's first query text), None in dense mode."""
    lists = retrieved.retrieval.bm25
    return lists[0] if lists else None


# --- 6. render ------------------------------------------------------------------------------------------
def render_answer(composed: Composed) -> tuple[AskResponse, Pieces]:
    """The response (answer text with `[n]` markers, citations, structured sentences) and its pieces."""
    snapshot = composed.retrieved.snapshot
    if composed.mode == "abstain":
        topics = _closest_topics(composed.retrieved)
        listed = "; ".join(t.section or t.title for t in topics)
        # the statement and the topics line are also uncited parts, so a client shows the statement alone
        # (the widget lists the topics as buttons) without splitting the text itself
        parts = [ABSTAIN_TEXT, *([f"The closest topics it does cover are: {listed}."] if listed else [])]
        response = _response(snapshot, " ".join(parts), [], "abstain", composed.fallback_reason)
        response.closest_topics = topics
        response.sentences = [AnswerPart(text=part) for part in parts]
        return response, [response.answer]
    sentences = list(composed.sentences)
    pieces, citations = render(snapshot, composed.retrieved.retrieval.hits, sentences)
    response = _response(snapshot, " ".join(pieces), citations, composed.mode, composed.fallback_reason)
    response.sentences = structured(sentences)
    return response, pieces


def _closest_topics(retrieved: Retrieved) -> list[Topic]:
    topics: list[Topic] = []
    for hit in retrieved.retrieval.hits:
        meta = retrieved.snapshot.metas[hit.row]
        topic = Topic(
            doc_id=meta.get("doc_id", ""), title=meta.get("title", ""), section=meta.get("section", "")
        )
        if topic not in topics:
            topics.append(topic)
        if len(topics) == TOPICS_LISTED:
            break
    return topics


def _response(
    snapshot: Snapshot,
    answer: str,
    citations,
    mode: Literal["extractive", "llm", "red_flag", "abstain"],
    fallback_reason=None,
) -> AskResponse:
    return AskResponse(
        answer=answer,
        citations=citations,
        mode=mode,
        answer_id=str(uuid.uuid4()),
        index_version=snapshot.generation,
        fallback_reason=fallback_reason,
    )


def render_red_flag(flag: RedFlag, generation: str | None) -> AskResponse:
    """The fixed emergency guidance, no citations (the related answer, if any, is added beside it)."""
    return AskResponse(
        answer=flag.guidance,
        citations=[],
        red_flag=RedFlagInfo(category=flag.category, guidance=flag.guidance, version=flag.version),
        mode="red_flag",
        answer_id=str(uuid.uuid4()),
        index_version=generation,
    )


# --- the wiring -----------------------------------------------------------------------------------------
def wordpieces(word: str) -> int:
    """How many WordPiece pieces the bundled model's tokenizer splits `word` into (abstention evidence)."""
    return len(_tokenizer().encode(word, add_special_tokens=False).ids)


@lru_cache(maxsize=1)
def _tokenizer():
    from ingest.embedding import load_tokenizer, resolve_model_dir

    return load_tokenizer(resolve_model_dir(get_settings().embed_model))


def shipped_weights_error() -> str | None:
    """Why a shipped weights file (re-ranker, passage chooser, abstention) cannot be used, or None.

    Read once at warm-up so that a damaged or stale file makes the service report itself not ready, naming
    the file, instead of failing every request with a 500 (each loader is cached: this is also the load)."""
    from service.abstention_model import WEIGHTS_PATH as ABSTENTION_PATH
    from service.abstention_model import shipped_model
    from service.passage_choice import WEIGHTS_PATH as CHOOSER_PATH
    from service.rerank import WEIGHTS_PATH as RERANK_PATH
    from service.rerank import shipped_reranker

    for load, path in ((shipped_reranker, RERANK_PATH), (shipped_chooser, CHOOSER_PATH),
                       (shipped_model, ABSTENTION_PATH)):
        try:
            load()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # a damaged file
            return f"answering weights {path.name} could not be loaded: {exc!r}"
    return None


class Answerer:
    """Everything /v1/ask, /v1/ask/stream and /v1/retrieve need, behind three calls."""

    def __init__(self, settings: Settings, live: LiveIndex):
        self.settings = settings
        self.live = live
        self.llm = LLMClient(settings) if settings.llm_base_url else None
        self._embedder: Embedder | None = None
        self._guard: Guardrail | None = None
        self._guard_error = "red-flag guardrail not loaded yet"
        self._weights_error: str | None = None  # a shipped weights file that could not be read
        self._warm = threading.Lock()

    # --- readiness ----------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the embedding model and the guardrail (seconds); called once from the background loader."""
        with self._warm:
            if self._guard is None:
                try:
                    from service.guardrails import Guardrail

                    self._guard = Guardrail.from_settings(self.settings)
                except Exception as exc:  # noqa: BLE001 - without screening we must not answer at all
                    self._guard_error = f"red-flag guardrail could not be loaded: {exc}"
                    log.error(self._guard_error)
            self._weights_error = shipped_weights_error()
            if self._weights_error:
                log.error(self._weights_error)
            if self._embedder is None:
                from ingest.embedding import get_embedder

                self._embedder = get_embedder(self.settings)

    def not_ready_reason(self) -> str | None:
        if self._embedder is None:
            return "embedding model not loaded yet"
        if self._guard is None:
            return self._guard_error
        return self._weights_error or self.live.reason

    def _require_index(self) -> None:
        if self._embedder is None:
            raise NotReady("embedding model not loaded yet")
        if self._weights_error:
            raise NotReady(self._weights_error)
        if self.live.reason:
            raise NotReady(self.live.reason)

    # --- the three calls ----------------------------------------------------------------------------
    def ask(self, request: AskRequest) -> tuple[AskResponse, Pieces]:
        """The full answer, and its pieces (sentences with their markers) for the stream to send."""
        if self._guard is None:
            raise NotReady(self._guard_error)
        with request_vectors():  # the screen's embeddings, reused by retrieval (service/shared_vectors.py)
            screened = screen(self._guard, request)
            if screened.flag is not None:  # first: an emergency never waits on retrieval or an LLM
                response = render_red_flag(screened.flag, self._generation())
                response.related_answer = self._related_answer(request)
                return response, [response.answer]
            return self._answer(request)

    def retrieve(self, request: RetrieveRequest) -> RetrieveResponse:
        self._require_index()
        plan = plan_queries(request.query, request.history, request.article_id)
        retrieved = retrieve_passages(plan, self.live, self._embedder, k=request.k,
                                      depth=self.settings.candidate_depth, mode=request.mode)
        return RetrieveResponse(
            passages=[passage(retrieved.snapshot, h) for h in retrieved.retrieval.hits],
            index_version=retrieved.snapshot.generation,
        )

    # --- wiring ---------------------------------------------------------------------------------------
    def _answer(self, request: AskRequest, use_llm: bool = True) -> tuple[AskResponse, Pieces]:
        """Stages 2–6 for a message the screen did not flag (or, without the LLM, the related answer beside
        a red flag)."""
        self._require_index()
        llm = self.llm if use_llm else None
        deadline = Deadline(self.settings.llm_timeout_s)
        plan = plan_queries(request.question, request.history, request.article_id, llm, deadline)
        retrieved = retrieve_passages(plan, self.live, self._embedder, k=self.settings.retrieval_k,
                                      depth=self.settings.candidate_depth)
        judged = judge_support(retrieved, wordpieces)
        composed = compose_answer(judged, llm, deadline)
        return render_answer(composed)

    def _related_answer(self, request: AskRequest) -> RelatedAnswer | None:
        """After the screen has decided (and the guidance is fixed), the extractive answer to the guideline
        question the message also asks, if it asks one and the content covers it. Never the LLM: an
        emergency response must not wait on one. Any failure here only drops the extra field."""
        if not asks_question(request.question):
            return None
        try:
            answer, _ = self._answer(request, use_llm=False)
        except Exception:  # noqa: BLE001 - the emergency guidance goes out regardless
            log.exception("related answer for a red-flag response failed")
            return None
        if answer.mode != "extractive":  # the content does not cover it
            return None
        return RelatedAnswer(answer=answer.answer, citations=answer.citations, sentences=answer.sentences,
                             mode="extractive")

    def _generation(self) -> str | None:
        try:
            return self.live.current().generation
        except NotReady:
            return None
