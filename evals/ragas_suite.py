"""ragas 0.4.3 metrics on the answers: offline ones always, LLM-judge ones only with a judge configured.

Offline (no LLM, no network): non-LLM context precision/recall against the reference section texts,
ID-based context precision/recall on "doc#section" ids, string similarity, ROUGE-L, BLEU, chrF against the
reference answer, and semantic similarity with the project's own MiniLM (loaded locally).

LLM judge (faithfulness, response relevancy, factual correctness) runs only when GQA_EVAL_LLM_BASE_URL points
at an OpenAI-compatible endpoint. Without it those metrics are reported as *not run* with the reason — a
missing judge must never read as a score of 0 or 1.
"""

from __future__ import annotations

import asyncio
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

LLM_METRICS = ("faithfulness", "answer_relevancy", "factual_correctness")


@dataclass
class RagasSample:
    """What ragas needs of one answered question; ids are "doc#section" keys (see evals/data.Context)."""

    id: str
    question: str
    response: str
    reference: str | None
    retrieved_contexts: list[str]
    retrieved_ids: list[str]
    reference_contexts: list[str]
    reference_ids: list[str]


@dataclass
class RagasResult:
    per_sample: dict[str, dict[str, float | None]] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

    def means(self) -> dict[str, float | None]:
        names = sorted({m for row in self.per_sample.values() for m in row})
        out = {}
        for name in names:
            values = [row.get(name) for row in self.per_sample.values()]
            kept = [v for v in values if v is not None and not math.isnan(v)]
            out[name] = sum(kept) / len(kept) if kept else None
        return out


def judge_settings() -> dict | None:
    """The OpenAI-compatible judge from the environment, or None when evaluators did not configure one."""
    base_url = os.environ.get("GQA_EVAL_LLM_BASE_URL")
    if not base_url:
        return None
    return {
        "base_url": base_url,
        "model": os.environ.get("GQA_EVAL_LLM_MODEL", "gpt-4o-mini"),
        "api_key": os.environ.get("GQA_EVAL_LLM_API_KEY", "not-needed"),
    }


def _embeddings():
    """The project's MiniLM behind ragas' embeddings interface, so semantic similarity runs offline."""
    from ragas.embeddings.base import BaseRagasEmbeddings
    from ragas.run_config import RunConfig

    from ingest.embedding import get_embedder

    class MiniLMEmbeddings(BaseRagasEmbeddings):
        def __init__(self) -> None:
            super().__init__()
            self.set_run_config(RunConfig())
            self.model = get_embedder()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.embed_documents(texts)

        async def aembed_query(self, text: str) -> list[float]:
            return self.embed_query(text)

    return MiniLMEmbeddings()


def _offline_metrics(embeddings) -> list:
    from ragas.metrics._answer_similarity import SemanticSimilarity
    from ragas.metrics._bleu_score import BleuScore
    from ragas.metrics._chrf_score import ChrfScore
    from ragas.metrics._context_precision import IDBasedContextPrecision, NonLLMContextPrecisionWithReference
    from ragas.metrics._context_recall import IDBasedContextRecall, NonLLMContextRecall
    from ragas.metrics._rouge_score import RougeScore
    from ragas.metrics._string import NonLLMStringSimilarity

    return [
        NonLLMContextPrecisionWithReference(),
        NonLLMContextRecall(),
        IDBasedContextPrecision(),
        IDBasedContextRecall(),
        NonLLMStringSimilarity(),
        RougeScore(),
        BleuScore(),
        ChrfScore(),
        SemanticSimilarity(embeddings=embeddings),
    ]


def _llm_metrics(judge: dict, embeddings) -> list:
    from langchain_openai import ChatOpenAI
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics._answer_relevance import ResponseRelevancy
    from ragas.metrics._factual_correctness import FactualCorrectness
    from ragas.metrics._faithfulness import Faithfulness

    chat = ChatOpenAI(
        base_url=judge["base_url"],
        model=judge["model"],
        api_key=judge["api_key"],
        temperature=0,
        timeout=120,
        max_retries=1,
    )
    with warnings.catch_warnings():  # the legacy single-turn metrics need the legacy wrapper in 0.4.3
        warnings.simplefilter("ignore", DeprecationWarning)
        llm = LangchainLLMWrapper(chat)
    return [
        Faithfulness(llm=llm),
        ResponseRelevancy(llm=llm, embeddings=embeddings, strictness=1),
        FactualCorrectness(llm=llm),
    ]


def _to_sample(s: RagasSample):
    from ragas.dataset_schema import SingleTurnSample

    return SingleTurnSample(
        user_input=s.question,
        response=s.response,
        reference=s.reference or "",
        retrieved_contexts=s.retrieved_contexts,
        reference_contexts=s.reference_contexts,
        retrieved_context_ids=list[str | int](s.retrieved_ids),
        reference_context_ids=list[str | int](s.reference_ids),
    )


def _needs(metric, s: RagasSample) -> bool:
    """Whether a sample has what the metric scores; an empty input gives None, not a fake 0."""
    name = metric.name
    if name in ("non_llm_context_precision_with_reference", "id_based_context_precision"):
        return bool(s.retrieved_contexts) and bool(s.reference_contexts)
    if name in ("non_llm_context_recall", "id_based_context_recall"):
        return bool(s.reference_contexts)
    if name == "faithfulness":
        return bool(s.retrieved_contexts)
    if name == "answer_relevancy":
        return True
    return bool(s.reference)


def _score(metric, sample, s: RagasSample, errors: dict[str, str]) -> float | None:
    if not _needs(metric, s):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = asyncio.run(metric.single_turn_ascore(sample))
    except Exception as exc:  # one failing judge call must not sink the run; the error is reported
        errors.setdefault(metric.name, f"{type(exc).__name__}: {exc}"[:300])
        return None
    value = float(value)
    return None if math.isnan(value) else value


def run_ragas(samples: Sequence[RagasSample], progress: Callable[[], None] | None = None) -> RagasResult:
    """Score every sample with every metric that can run here; the rest go to `not_run` with the reason."""
    result = RagasResult()
    embeddings = _embeddings()
    metrics = _offline_metrics(embeddings)
    judge = judge_settings()
    if judge is None:
        for name in LLM_METRICS:
            result.not_run[f"ragas.{name}"] = "no LLM judge: set GQA_EVAL_LLM_BASE_URL (OpenAI-compatible)"
    else:
        metrics += _llm_metrics(judge, embeddings)
    errors: dict[str, str] = {}
    for s in samples:
        sample = _to_sample(s)
        result.per_sample[s.id] = {m.name: _score(m, sample, s, errors) for m in metrics}
        if progress:
            progress()
    for name, value in result.means().items():
        if value is not None:
            continue
        if name in errors:
            result.not_run[f"ragas.{name}"] = f"failed on every sample: {errors[name]}"
        else:
            result.not_run[f"ragas.{name}"] = "nothing to score: no question has a reference answer"
    return result
