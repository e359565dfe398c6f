"""The store and model settings shared by ingest (which writes the store) and the service (which reads it).

Both sides must agree on them, or the service would look for another store or embed questions with another
model than the passages; so they are read by one class and checked when the process starts, not when the
model first loads.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.loading import load_settings

EmbedBackend = Literal["onnx-int8", "onnx", "torch"]
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "guideline-qa"


class StoreSettings(BaseSettings):
    """Store location and embedding model, from `GQA_*` environment variables (see README)."""

    model_config = SettingsConfigDict(env_prefix="GQA_", env_file=None, extra="ignore")

    store_dir: Path = Field(default=Path("./.store"), description="embedded Chroma store and sidecar files")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; unset = embedded store")
    embed_model: Path | None = Field(
        default=None, description="a local sentence-transformers model folder; unset = the bundled MiniLM"
    )
    embed_adapter: bool = Field(
        default=True,
        description="swap the shipped dense adapter's layers into the bundled MiniLM (not with embed_model)",
    )
    embed_backend: EmbedBackend = Field(
        default="onnx-int8", description="onnx-int8 (default), onnx (fp32) or torch"
    )
    collection_prefix: str = Field(default="gqa", description="prefix of every Chroma collection we own")
    cache_dir: Path = Field(default=DEFAULT_CACHE_DIR, description="where the exported ONNX model is cached")

    @field_validator("embed_model", mode="after")
    @classmethod
    def _local_model(cls, value: Path | None) -> Path | None:
        """Models are never downloaded, so a hub id or a missing folder is refused here, at start-up."""
        if value is None:
            return None
        path = value.expanduser()
        if not path.is_dir():
            raise ValueError(
                f"{str(value)!r} is not a local directory; this service never downloads models. Unset it "
                "to use the bundled all-MiniLM-L6-v2, or point it at a sentence-transformers model folder"
            )
        return path

    @field_validator("store_dir", "cache_dir", mode="after")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache(maxsize=1)
def get_store_settings() -> StoreSettings:
    """The process's store settings from the environment (ingest's CLI, and model loads given no settings)."""
    return load_settings(StoreSettings)
