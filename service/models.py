"""Request and response models: the HTTP contract in DESIGN.md, as pydantic types.

Routes, the widget and the evals all depend on these field names; extend, never rename. Bad input is refused
here, by validation (422 with a reason), so nothing a client sends can reach the answering core malformed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from service.unicode_clean import clean_text

MAX_QUESTION_CHARS = 2000
MAX_TURN_CHARS = 4000
MAX_HISTORY_TURNS = 20
MAX_K = 50


def _not_blank(value: str) -> str:
    """Cleaned of invisible and look-alike characters first (unicode_clean), so the red-flag screen and
    retrieval read what a person reads; then it must still hold something."""
    value = clean_text(value)
    if not value.strip():
        raise ValueError("must contain a question, not only whitespace")
    return value


def _clean(value: str) -> str:
    return clean_text(value)


class Turn(BaseModel):
    """One earlier chat turn; only the user's and the assistant's turns are accepted."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TURN_CHARS)

    _content_clean = field_validator("content")(_clean)


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    article_id: str | None = Field(default=None, max_length=300, description="the article the widget sits on")

    _question_not_blank = field_validator("question")(_not_blank)


class Provenance(BaseModel):
    """Where a passage comes from and whether that source has been reviewed (front matter, corpus/README.md).

    All optional: documents of other corpora carry none, and older clients ignore them."""

    source_kind: Literal["guideline", "research", "summary", "answer-page"] | None = Field(
        default=None,
        description="what the source is ('answer-page': an AI-generated question-and-answer page)",
    )
    review_status: Literal["reviewed", "pending-review"] | None = None
    reviewed: str | None = Field(default=None, description="date of the review (YYYY-MM-DD), where known")
    reviewer_role: str | None = Field(default=None, description="who reviewed it, by role, where known")
    attribution: str | None = Field(
        default=None,
        description="set when the passage's statements are carried from another page rather than read in the "
        "source itself: whose attribution they are",
    )
    provenance: str | None = Field(
        default=None,
        description="the above as one line for people, e.g. 'AI-generated answer page, 2025, pending review'",
    )




class Locator(BaseModel):
    """Where in the source a passage is, where the source format says so (all optional; absent for plain
    Markdown without the inline conventions). Shown as "p. 12" / "Rec 1.3.4 · Class I, LOE B-R"."""

    page: str | None = Field(default=None, description="printed page label: '12', 'xii', 'e563'")
    page_end: str | None = Field(default=None, description="last page label when the passage spans pages")
    anchor: str | None = Field(default=None, description="element id in the HTML/JATS source")
    rec: str | None = Field(default=None, description="recommendation number as printed, e.g. '1.3.4'")
    grade: str | None = Field(
        default=None, description="strength/grade as stated: 'Class I, LOE B-R', 'offer (strong)', 'Grade B'"
    )




class Citation(Provenance, Locator):
    n: int
    doc_id: str
    title: str
    section: str
    text: str
    score: float
    chunk_id: str | None = None
    organisation: str | None = None
    year: int | None = None
    source: str | None = None


class RedFlagInfo(BaseModel):
    category: str
    guidance: str
    version: str


class Topic(BaseModel):
    """A nearby section offered when the service abstains."""

    doc_id: str
    title: str
    section: str


class AnswerPart(BaseModel):
    """One answer sentence (verbatim from its passage for extractive answers) and the `n` it cites."""

    text: str
    citations: list[int] = Field(default_factory=list)


class RelatedAnswer(BaseModel):
    """The cited answer to the guideline question asked alongside a red flag: shown below the emergency
    banner, collapsed, so a false alarm costs the clinician a click rather than their answer."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    sentences: list[AnswerPart] = Field(default_factory=list)
    mode: Literal["extractive", "llm"]


# Why the LLM answer was replaced by the extractive one: a fixed category, never exception text or URLs
# (the details go to the log with the request id).
FallbackReason = Literal["llm_timeout", "llm_error", "llm_unreachable", "llm_busy", "llm_unsupported"]


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    red_flag: RedFlagInfo | None = None
    mode: Literal["extractive", "llm", "red_flag", "abstain"]
    answer_id: str
    index_version: str | None = None
    fallback_reason: FallbackReason | None = Field(
        default=None, description="set when an LLM is configured but the extractive answer was served"
    )
    closest_topics: list[Topic] = Field(default_factory=list, description="set when mode is 'abstain'")
    sentences: list[AnswerPart] = Field(
        default_factory=list,
        description="the answer's sentences with their citation numbers (extractive and LLM answers; an "
        "abstention's statement and its closest-topics line, uncited); "
        "`answer` is the same text with `[n]` markers, kept for older clients",
    )
    related_answer: RelatedAnswer | None = Field(
        default=None,
        description="with mode 'red_flag' only: the cited answer to the guideline question the message also "
        "asks (extractive; absent when the content does not cover it)",
    )


class RetrieveRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(default=10, ge=1, le=MAX_K)
    mode: Literal["hybrid", "dense", "bm25"] = Field(
        default="hybrid",
        description="hybrid (dense + BM25, RRF-fused), or one retriever alone for comparison",
    )
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    article_id: str | None = Field(default=None, max_length=300)

    _query_not_blank = field_validator("query")(_not_blank)


class Passage(Provenance, Locator):
    chunk_id: str
    doc_id: str
    title: str
    section: str
    text: str
    score: float


class RetrieveResponse(BaseModel):
    passages: list[Passage]
    index_version: str | None = None


class Limits(BaseModel):
    """The request limits the service enforces, served at `GET /v1/limits` so clients (the widget) trim input
    to them instead of keeping their own copies."""

    max_question_chars: int = MAX_QUESTION_CHARS
    max_turn_chars: int = MAX_TURN_CHARS
    max_history_turns: int = MAX_HISTORY_TURNS
    max_k: int = MAX_K
    max_comment_chars: int = Field(description="feedback comments (POST /v1/feedback)")
