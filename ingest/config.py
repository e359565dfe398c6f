"""Settings for every part of guideline-qa, read once from the environment (pydantic-settings).

One module so that ingest, the service and the evals agree on where the store is and which model
embeds; the variable names are the contract in DESIGN.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All configuration, from `GQA_*` environment variables (see README)."""

    model_config = SettingsConfigDict(env_prefix="GQA_", env_file=None, extra="ignore")

    store_dir: Path = Field(default=Path("./.store"), description="embedded Chroma store and sidecar files")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; unset = embedded store")
    embed_model: str | None = Field(default=None, description="local path or installed model name")
    embed_backend: str = Field(default="onnx-int8", description="onnx-int8 (default), onnx (fp32) or torch")
    collection_prefix: str = Field(default="gqa", description="prefix of every Chroma collection we own")

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 20.0

    admin_token: str | None = None
    guardrails_dir: Path = Field(default=PROJECT_ROOT / "corpus" / "guardrails")
    audit_log: Path | None = Field(
        default=None, description="red-flag audit log; default STORE_DIR/audit.jsonl"
    )
    audit_raw_text: bool = False

    retrieval_k: int = 5
    candidate_depth: int = 30

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log or (self.store_dir / "audit.jsonl")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own `Settings(...)` instead of patching this."""
    return Settings()
