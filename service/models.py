"""Request and response models: the HTTP contract in DESIGN.md, as pydantic types.

Routes, the widget and the evals all depend on these field names; extend, never rename.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Turn(BaseModel):
    """One earlier chat turn; only the user's and the assistant's turns are accepted."""

    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str
    history: list[Turn] = Field(default_factory=list)
    article_id: str | None = None


class Citation(BaseModel):
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


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    red_flag: RedFlagInfo | None = None
    mode: Literal["extractive", "llm", "red_flag", "abstain"]
    answer_id: str
    index_version: str | None = None
    fallback_reason: str | None = None


class RetrieveRequest(BaseModel):
    query: str
    k: int = 10


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    section: str
    text: str
    score: float


class RetrieveResponse(BaseModel):
    passages: list[Passage]
    index_version: str | None = None
