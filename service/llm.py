"""The optional LLM: an OpenAI-compatible chat-completions endpoint (GQA_LLM_BASE_URL) used to condense
follow-ups and to write answers from numbered passages. Its output is never trusted: see llm_validation.py.

Why the plain OpenAI client: every OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, hosted APIs)
speaks this protocol, and the client gives us a hard timeout and no hidden retries, which the fallback needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ingest.config import Settings
from service.models import Turn

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
    """The LLM call did not produce a usable reply; `code` is what goes into `fallback_reason`."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
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


class LLMClient:
    """One chat-completions endpoint, with a deadline per call and no retries (the fallback is the retry)."""

    def __init__(self, settings: Settings):
        self.model = settings.llm_model or "default"
        self.timeout_s = settings.llm_timeout_s
        self._settings = settings
        self._client = None

    def _openai(self):
        """The client, made on first use; a missing `openai` package is a fallback reason, not a crash."""
        if self._client is None:
            try:
                from openai import OpenAI
            except ImportError as exc:
                raise LLMFailed("llm_error", "the `openai` package is not installed") from exc
            self._client = OpenAI(
                base_url=self._settings.llm_base_url,
                api_key=self._settings.llm_api_key or "not-needed",
                timeout=self.timeout_s,
                max_retries=0,
            )
        return self._client

    def chat(
        self, messages: list[dict], timeout_s: float | None = None, max_tokens: int = MAX_ANSWER_TOKENS
    ) -> str:
        """The reply text; raises LLMFailed with a short code for every way the call can go wrong."""
        client = self._openai()
        import openai

        timeout = max(0.05, self.timeout_s if timeout_s is None else timeout_s)
        try:
            reply = client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.0, max_tokens=max_tokens, timeout=timeout
            )
        except openai.APITimeoutError as exc:
            raise LLMFailed("llm_timeout", f"no reply within {timeout:.1f}s") from exc
        except openai.APIStatusError as exc:
            raise LLMFailed("llm_error", f"HTTP {exc.status_code} from the LLM endpoint") from exc
        except openai.APIConnectionError as exc:
            raise LLMFailed("llm_unreachable", f"cannot connect to the LLM endpoint: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - malformed replies must fall back too, never 500
            raise LLMFailed("llm_error", f"unusable reply: {type(exc).__name__}: {exc}") from exc
        try:
            content = reply.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMFailed("llm_error", "reply has no message content") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMFailed("llm_empty", "the LLM returned an empty answer")
        return content.strip()


class Deadline:
    """One time budget for everything the LLM does in a request (condense + answer)."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()
