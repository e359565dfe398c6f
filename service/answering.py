"""The answering core: red-flag screen → query texts → hybrid retrieval → abstain, LLM or extractive answer.

Order matters for safety: the red-flag screen runs first and alone (no retrieval, no LLM) so an emergency
never waits on, or is diluted by, anything else. Every other path ends in a response whose `[n]` markers all
resolve to `citations`, stamped with the index generation that produced it.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from ingest.config import Settings, get_settings
from service.abstention import Evidence, unknown_specialised
from service.citations import AnswerSentence, passage, render, structured
from service.composer import compose
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
from service.question_kind import question_kind
from service.retrieval import Retrieval, StoreQueryFailed, retrieve

if TYPE_CHECKING:  # loaded in warm_up, not at import: the model takes seconds
    from ingest.embedding import Embedder
    from service.guardrails import Guardrail

log = logging.getLogger(__name__)

TOPICS_LISTED = 3


@dataclass
class Prepared:
    snapshot: Snapshot
    queries: list[QueryText]
    vectors: np.ndarray
    query_vec: np.ndarray  # the weighted, re-normalised mix used to rank sentences
    retrieval: Retrieval


_QUESTION = re.compile(
    r"\?|^\s*(?:what|which|when|how|should|can|could|do|does|is|are|why|where|who|dose|any)\b", re.I | re.M)


def asks_question(text: str) -> bool:
    """Does the message ask something the guidelines could answer (a question mark or a question word)?"""
    return bool(_QUESTION.search(text))


def _mix(vectors: np.ndarray, queries: list[QueryText]) -> np.ndarray:
    weights = np.asarray([q.weight for q in queries], dtype=np.float32)[:, None]
    mixed = (vectors * weights).sum(0)
    return (mixed / (np.linalg.norm(mixed) or 1.0)).astype(np.float32)


def wordpieces(word: str) -> int:
    """How many WordPiece pieces the bundled model's tokenizer splits `word` into (abstention evidence)."""
    return len(_tokenizer().encode(word, add_special_tokens=False).ids)


@lru_cache(maxsize=1)
def _tokenizer():
    from ingest.embedding import load_tokenizer, resolve_model_dir

    return load_tokenizer(resolve_model_dir(get_settings().embed_model))


class Answerer:
    """Everything /v1/ask, /v1/ask/stream and /v1/retrieve need, behind three calls."""

    def __init__(self, settings: Settings, live: LiveIndex):
        self.settings = settings
        self.live = live
        self.llm = LLMClient(settings) if settings.llm_base_url else None
        self._embedder: Embedder | None = None
        self._guard: Guardrail | None = None
        self._guard_error = "red-flag guardrail not loaded yet"
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
            if self._embedder is None:
                from ingest.embedding import get_embedder

                self._embedder = get_embedder(self.settings.embed_model, self.settings.embed_backend)

    def not_ready_reason(self) -> str | None:
        if self._embedder is None:
            return "embedding model not loaded yet"
        if self._guard is None:
            return self._guard_error
        return self.live.reason

    def _require_index(self) -> None:
        if self._embedder is None:
            raise NotReady("embedding model not loaded yet")
        if self.live.reason:
            raise NotReady(self.live.reason)

    # --- the three calls ----------------------------------------------------------------------------
    def ask(self, request: AskRequest) -> tuple[AskResponse, list[str]]:
        """The full answer, and its pieces (sentences with their markers) for the stream to send."""
        if self._guard is None:
            raise NotReady(self._guard_error)
        flag = self._guard.screen(request.question, [t.model_dump() for t in request.history])
        if flag is not None:  # before anything else: an emergency never waits on retrieval or an LLM
            response = self._red_flag(flag)
            response.related_answer = self._related_answer(request)
            return response, [response.answer]
        return self._answer(request)

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

    def _answer(self, request: AskRequest, use_llm: bool = True) -> tuple[AskResponse, list[str]]:
        """The cited answer for a message the screen did not flag (or, without the LLM, the related answer
        beside a red flag)."""
        self._require_index()
        llm = self.llm if use_llm else None
        deadline = Deadline(self.settings.llm_timeout_s)
        fallback_reason: FallbackReason | None = None
        queries = query_texts(request.question, request.history)
        question = request.question
        if llm and request.history:
            try:
                question = self._condensed(request.question, request.history, deadline)
                queries = [QueryText(question, 1.0), *queries[:1]]
            except LLMFailed as exc:
                fallback_reason = exc.code
                log.warning("LLM condense failed, no LLM answer this time (%s): %s", exc.code, exc.detail)
        prepared = self._prepare(queries, k=self.settings.retrieval_k, article_id=request.article_id)
        evidence = self._evidence(prepared, request.question)
        if not evidence.sufficient:
            response = self._abstain(prepared)
            return response, [response.answer]
        if llm and fallback_reason is None:
            try:
                return self._llm_answer(question, prepared, deadline)
            except LLMFailed as exc:
                fallback_reason = exc.code
                log.warning("LLM answer replaced by the extractive one (%s): %s", exc.code, exc.detail)
        response, pieces = self._extractive(request.question, prepared, request.history)
        response.fallback_reason = fallback_reason if llm else None
        return response, pieces

    def retrieve(self, request: RetrieveRequest) -> RetrieveResponse:
        self._require_index()
        queries = query_texts(request.query, request.history)
        prepared = self._prepare(queries, k=request.k, article_id=request.article_id, mode=request.mode)
        snapshot = prepared.snapshot
        return RetrieveResponse(
            passages=[passage(snapshot, h) for h in prepared.retrieval.hits],
            index_version=snapshot.generation,
        )

    # --- steps ---------------------------------------------------------------------------------------
    def _prepare(self, queries: list[QueryText], *, k: int, article_id: str | None, mode: str = "hybrid"):
        snapshot = self.live.current()  # held for the whole request, even if a new generation goes live
        # Clinical shorthand the corpus itself does not use is expanded (service/lexicon.py).
        queries = [QueryText(expand_query(q.text, snapshot.uses_term), q.weight) for q in queries]
        if self._embedder is None:  # the routes refuse requests (503) until warm_up has loaded it
            raise NotReady("embedding model not loaded yet")
        vectors = self._embedder.encode([q.text for q in queries])
        try:
            retrieval = self._retrieve(snapshot, queries, vectors, k, article_id, mode)
        except StoreQueryFailed as exc:
            # Two re-ingests in quick succession can collect the generation this request started on; the
            # newer snapshot (if one went live meanwhile) answers instead of failing the request.
            newer = self.live.current()
            if newer is snapshot:
                raise NotReady(f"the index store could not be queried ({exc}); retry shortly") from exc
            snapshot = newer
            try:
                retrieval = self._retrieve(snapshot, queries, vectors, k, article_id, mode)
            except StoreQueryFailed as again:
                raise NotReady(f"the index store could not be queried ({again}); retry shortly") from again
        return Prepared(snapshot, queries, vectors, _mix(vectors, queries), retrieval)

    def _retrieve(self, snapshot, queries, vectors, k, article_id, mode) -> Retrieval:
        depth = self.settings.candidate_depth
        return retrieve(snapshot, queries, vectors, k=k, depth=depth, mode=mode, article_id=article_id)

    def _evidence(self, prepared: Prepared, question: str) -> Evidence:
        # The joined follow-up text counts only when the question leans on it; otherwise an off-topic
        # question asked after an on-topic one would borrow the earlier question's support.
        leaning = len(prepared.queries) > 1 and depends_on_context(question)
        sims = prepared.retrieval.top_dense[: len(prepared.queries) if leaning else 1]
        vocabulary = prepared.snapshot.vocabulary
        return Evidence(
            passage_sim=max(sims, default=0.0),
            sentence_sim=best_sentence_similarity(
                prepared.snapshot, prepared.retrieval.hits, prepared.query_vec
            ),
            unknown_words=unknown_specialised(question, vocabulary, wordpieces) if vocabulary else (),
        )

    def _extractive(
        self, question: str, prepared: Prepared, history: list[Turn] | None = None
    ) -> tuple[AskResponse, list[str]]:
        hits = prepared.retrieval.hits
        kind = question_kind(question)
        # A follow-up's own words ("how do we confirm it?") name nothing: the composer looks for the words
        # of the question with its references resolved (service/followup.py).
        focus, own, said = prepared.queries[0].text, "", ""
        if history and depends_on_context(question):
            uses = prepared.snapshot.uses_term
            focus = expand_query(resolved_question(question, history), uses)
            own = prepared.queries[0].text
            said = expand_query(" ".join([*context_turns(question, history), previous_answer(history)]), uses)
        quoted = compose(prepared.snapshot, hits, prepared.query_vec, focus, kind, own_words=own, said=said)
        if not quoted:
            response = self._abstain(prepared)
            return response, [response.answer]
        sentences = [AnswerSentence(q.text, (q.hit,)) for q in quoted]
        pieces, citations = render(prepared.snapshot, hits, sentences)
        response = self._response(prepared.snapshot, " ".join(pieces), citations, "extractive")
        response.sentences = structured(sentences)
        return response, pieces

    def _llm_answer(self, question: str, prepared: Prepared, deadline: Deadline):
        assert self.llm is not None  # called only when an LLM is configured
        hits = prepared.retrieval.hits
        snapshot = prepared.snapshot
        numbered = [
            NumberedPassage(
                i + 1,
                snapshot.metas[h.row].get("title", ""),
                snapshot.metas[h.row].get("section", ""),
                snapshot.texts[h.row],
            )
            for i, h in enumerate(hits)
        ]
        text = self.llm.chat(answer_messages(question, numbered), deadline)
        checked = check_answer(text, [p.text for p in numbered])
        for sentence, why in checked.dropped:
            log.info("dropped an LLM sentence (%s), %d chars", why, len(sentence))
        if not checked.sentences:
            raise LLMFailed(
                "llm_unsupported", f"no sentence passed validation ({len(checked.dropped)} dropped)"
            )
        pieces, citations = render(snapshot, hits, checked.sentences)
        response = self._response(snapshot, " ".join(pieces), citations, "llm")
        response.sentences = structured(checked.sentences)
        return response, pieces

    def _condensed(self, question: str, history: list[Turn], deadline: Deadline) -> str:
        """The follow-up rewritten as a standalone question by the LLM (retrieval and the answer use it)."""
        assert self.llm is not None  # called only when an LLM is configured
        text = self.llm.chat(condense_messages(question, history), deadline, max_tokens=120)
        text = text.strip().strip('"').splitlines()[0].strip()
        if not text or len(text) > 600:
            raise LLMFailed("llm_error", "the condensed question was empty or too long")
        return text

    def _abstain(self, prepared: Prepared) -> AskResponse:
        snapshot = prepared.snapshot
        topics: list[Topic] = []
        for hit in prepared.retrieval.hits:
            meta = snapshot.metas[hit.row]
            topic = Topic(
                doc_id=meta.get("doc_id", ""), title=meta.get("title", ""), section=meta.get("section", "")
            )
            if topic not in topics:
                topics.append(topic)
            if len(topics) == TOPICS_LISTED:
                break
        listed = "; ".join(t.section or t.title for t in topics)
        answer = "The guideline content available here does not cover this question."
        if listed:
            answer += f" The closest topics it does cover are: {listed}."
        response = self._response(snapshot, answer, [], "abstain")
        response.closest_topics = topics
        return response

    def _red_flag(self, flag) -> AskResponse:
        snapshot = None
        try:
            snapshot = self.live.current()
        except NotReady:
            pass
        return AskResponse(
            answer=flag.guidance,
            citations=[],
            red_flag=RedFlagInfo(category=flag.category, guidance=flag.guidance, version=flag.version),
            mode="red_flag",
            answer_id=str(uuid.uuid4()),
            index_version=snapshot.generation if snapshot else None,
        )

    @staticmethod
    def _response(
        snapshot: Snapshot, answer: str, citations, mode: Literal["extractive", "llm", "abstain"]
    ) -> AskResponse:
        return AskResponse(
            answer=answer,
            citations=citations,
            mode=mode,
            answer_id=str(uuid.uuid4()),
            index_version=snapshot.generation,
        )
