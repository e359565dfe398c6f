"""The optional LLM: an OpenAI-compatible chat-completions endpoint (GQA_LLM_BASE_URL) used to condense
follow-ups and to write answers from numbered passages. Its output is never trusted: see llm_validation.py.

Why plain HTTP (llm_transport.py) rather than the OpenAI client: every OpenAI-compatible server (vLLM,
llama.cpp's server, Ollama, hosted APIs) speaks this one POST, and we need what that client cannot give: one
wall-clock deadline over connect and every read, a bound on the reply size, and a concurrency limit of our
own so LLM calls never occupy the threads that serve health checks and red-flag answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import get_args

from service.llm_transport import LLMTransport, TransportFailed
from service.models import FallbackReason, Turn
from service.settings import Settings

FALLBACK_REASONS: frozenset[str] = frozenset(get_args(FallbackReason))

ANSWER_SYSTEM = (
    "You answer a clinician's question using ONLY the numbered guideline passages provided. "
    "Write at most 4 short sentences. End EVERY sentence with the number of the passage that supports it "
    "in square brackets, for example: 'Obtain MRI with STIR sequences [2].' Use only passage numbers that "
    "were given. Do not add facts, doses or numbers that the passages do not state. If the passages do not "
    "answer the question, say so in one sentence."
)
CONDENSE_SYSTEM = (
    "Rewrite the clinician's last question as one standalone question that can be understood without the "
    "conversation. Keep clinical terms exactly. Reply with the question only."
)
MAX_ANSWER_TOKENS = 400


class LLMFailed(RuntimeError):
    """The LLM call did not produce a usable reply.

    `code` is a fixed category and the only thing a client sees (`fallback_reason`); `detail` may hold
    exception text, URLs or status lines and goes to the log only.
    """

    def __init__(self, code: FallbackReason, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code: FallbackReason = code if code in FALLBACK_REASONS else "llm_error"
        self.detail = detail


@dataclass(frozen=True)
class NumberedPassage:
    n: int
    title: str
    section: str
    text: str


def answer_messages(question: str, passages: list[NumberedPassage]) -> list[dict]:
    blocks = "\n\n".join(f"[{p.n}] {p.section}\n{p.text}" for p in passages)
    return [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": f"Passages:\n\n{blocks}\n\nQuestion: {question}"},
    ]


def condense_messages(question: str, history: list[Turn]) -> list[dict]:
    convo = "\n".join(f"{t.role}: {t.content}" for t in history[-6:])
    return [
        {"role": "system", "content": CONDENSE_SYSTEM},
        {"role": "user", "content": f"Conversation:\n{convo}\n\nLast question: {question}"},
    ]


class Deadline:
    """One wall-clock budget for everything the LLM does in a request (condense + answer).

    The clock starts at the first LLM call, so retrieval before it does not eat the budget, and time
    spent between the two calls does count: the request never waits on the LLM longer than `seconds`.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end: float | None = None

    def remaining(self) -> float:
        if self.end is None:
            self.end = time.monotonic() + self.seconds
        return self.end - time.monotonic()


class LLMClient:
    """One chat-completions endpoint: no retries (the extractive answer is the retry), a shared deadline
    per request and at most `llm_max_concurrency` calls in flight."""

    def __init__(self, settings: Settings):
        self.model = settings.llm_model or "default"
        self.timeout_s = settings.llm_timeout_s
        self._transport = LLMTransport(
            settings.llm_base_url or "", settings.llm_api_key, settings.llm_max_concurrency
        )

    def chat(self, messages: list[dict], deadline: Deadline, max_tokens: int = MAX_ANSWER_TOKENS) -> str:
        """The reply text; raises LLMFailed with a category for every way the call can go wrong."""
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.0,
            "max_tokens": max_tokens,
        }
        try:
            reply = self._transport.post_json("/chat/completions", payload, deadline.remaining())
        except TransportFailed as exc:
            raise LLMFailed(exc.code, exc.detail) from exc  # type: ignore[arg-type]
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMFailed("llm_error", "reply has no choices[0].message.content") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMFailed("llm_error", "the LLM returned an empty answer")
        return content.strip()
