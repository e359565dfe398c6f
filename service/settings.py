"""The service's settings: the shared store/model settings plus everything only the service reads.

LLM endpoint, guardrail and audit files, retrieval depth, HTTP limits, feedback bounds and logging, from the
same `GQA_*` environment variables as before (README, docs/operations.md). Read and checked once when the
service starts (`get_settings`): a bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from config import StoreSettings, load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(StoreSettings):
    """All the service's configuration, from `GQA_*` environment variables (see README)."""

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="one wall-clock deadline for all LLM work in a request (condense + answer)",
    )
    llm_max_concurrency: int = Field(
        default=4, ge=1, description="LLM calls in flight at once; beyond it requests answer extractively"
    )

    admin_token: str | None = None
    guardrails_dir: Path = Field(default=PROJECT_ROOT / "corpus" / "guardrails")
    audit_log: Path | None = Field(
        default=None, description="red-flag audit log; default STORE_DIR/audit.jsonl"
    )
    audit_raw_text: bool = False
    redflag_model: Literal[
        "v5", "v6", "v7", "v8", "v9", "v10", "v11", "static", "static11", "static11r"
    ] = Field(
        default="static11r",
        description=(
            "the red-flag learned layer: static11r (the default: v5's recipe over 64-dim static vectors "
            "distilled from MiniLM, trained on twenty-one authors, thresholds held to LOAO recall 0.995; "
            "a check in about 1.5 ms); static11 (the same weights at 0.99); static (the first such model); "
            "v10 (v5's recipe over MiniLM clause embeddings, seventeen authors, recall held to 0.99); v9 and "
            "v11 (the same on thirteen and twenty-one authors); v8 (thirteen authors, cost-chosen "
            "thresholds); v7 (eight authors); v5 (six authors); v6 (MiniLM with its top layer fine-tuned); "
            "see docs/guardrails.md"
        ),
    )

    retrieval_k: int = Field(default=5, ge=1)
    candidate_depth: int = Field(default=30, ge=1)

    # operations (service/operations): input limits, rate limiting, CORS, logs; see docs/operations.md
    max_body_bytes: int = Field(default=256 * 1024, description="larger request bodies get 413, unread")
    rate_limit_per_minute: int = Field(default=120, description="requests per client per minute; 0 = off")
    rate_limit_storage: str = Field(default="memory://", description="`limits` storage URI, e.g. redis://")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed to call the API from a browser (comma-separated)"
    )
    # the HTTP server (service/serve.py, `make serve`): who may set X-Forwarded-*, and connection limits
    forwarded_allow_ips: str = Field(
        default="",
        description="comma-separated proxy addresses trusted to set X-Forwarded-For/-Proto; empty = none "
        "(uvicorn's own default trusts 127.0.0.1, which lets a local client pick its rate-limit key)",
    )
    limit_concurrency: int = Field(default=64, description="open connections + tasks before uvicorn 503s")
    timeout_keep_alive_s: int = Field(default=5, description="idle keep-alive connections closed after this")
    max_header_bytes: int = Field(
        default=16 * 1024, description="request line + headers larger than this are refused (h11)"
    )
    # feedback (service/feedback_store.py): per-client quota, size bound, how long answers are kept for it
    feedback_per_client_per_hour: int = Field(default=60, description="feedback posts per client; 0 = off")
    feedback_max_bytes: int = Field(
        default=64 * 1024 * 1024, description="feedback database bound; new verdicts past it get 507"
    )
    answer_record_hours: float = Field(default=24.0, description="answers can be rated for this long")
    answer_records_max: int = Field(default=5000, description="most answer records kept for feedback")
    hash_key: str | None = Field(
        default=None,
        description="secret for question fingerprints (HMAC-SHA256); unset = generated once into the store",
    )
    log_level: LogLevel = Field(default="INFO", description="root log level (any case)")
    log_json: bool = Field(default=True, description="structured JSON log lines on stderr")
    log_raw_text: bool = Field(default=False, description="also log question text (never in production)")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """`GQA_CORS_ORIGINS=https://a.org,https://b.org` is easier to write than a JSON list."""
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        """`GQA_LOG_LEVEL=debug` means DEBUG, as it does for uvicorn's `--log-level`."""
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log or (self.store_dir / "audit.jsonl")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead of patching this."""
    return load_settings(Settings)
