"""Reading settings from the environment with one clear line per bad value instead of a traceback.

pydantic's `ValidationError` text spans several lines per field and names the field, not the variable the
operator set; a CLI prints `InvalidSettings` as one line and exits non-zero, the service refuses to start
with it.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as SourceError

S = TypeVar("S", bound=BaseSettings)


class InvalidSettings(ValueError):
    """A `GQA_*` variable has a value the process cannot run with; the message names each one."""


def describe(exc: ValidationError, prefix: str) -> str:
    """`GQA_EMBED_BACKEND: Input should be 'onnx-int8', 'onnx' or 'torch'; GQA_…: …` on one line.

    Values are not repeated: some settings are secrets (API keys, tokens) and logs outlive them.
    """
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        name = f"{prefix}{field}".upper() if field else "settings"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "invalid setting " + "; ".join(parts)


def load_settings(cls: type[S]) -> S:
    """`cls()` from the environment, or `InvalidSettings` naming every bad variable."""
    prefix = cls.model_config.get("env_prefix", "")
    try:
        return cls()
    except ValidationError as exc:
        raise InvalidSettings(describe(exc, prefix)) from None
    except SourceError as exc:  # a value pydantic-settings could not even parse (e.g. malformed JSON)
        raise InvalidSettings(f"invalid setting: {exc}") from None
