"""What a 503 tells the caller: a category and a fixed sentence, never a path or an exception's text.

Why: the reasons the live index and the answerer record for operators ("cannot read the store at
/var/lib/gqa/.store: file is not a database", a Chroma server's address, a guardrail file's parse error) name
files, hosts and database internals. Those go to the log, stamped with the request id the response carries,
and the caller gets one of the categories below with a sentence written here. An unrecognised reason falls
back to `not_ready` — a new internal message can never leak by accident.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger("gqa.errors")

INGEST = "an operator must run `python -m ingest corpus/`"

# (category, pattern on the internal reason, public sentence); first match wins
_CATEGORIES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("model_loading", re.compile(r"embedding model not loaded"), "the embedding model is still loading"),
    ("guardrail_loading", re.compile(r"guardrail not loaded yet"), "the red-flag guardrail is still loading"),
    ("guardrail_unavailable", re.compile(r"guardrail could not be loaded"),
     "the red-flag guardrail could not be loaded; an operator must check the service log"),
    ("index_loading", re.compile(r"index not loaded yet"), "the index is still loading"),
    ("store_missing", re.compile(r"has disappeared"), f"the index store is missing; {INGEST} to rebuild it"),
    ("no_index", re.compile(r"no index has been published"), f"no index has been published yet; {INGEST}"),
    ("model_mismatch", re.compile(r"was embedded with"),
     "the index was built with a different embedding model; set GQA_EMBED_MODEL to match, or re-ingest"),
    ("index_empty", re.compile(r"holds no passages"), f"the published index holds no passages; {INGEST}"),
    ("weights_unavailable", re.compile(r"answering weights \S+ could not be loaded"),
     "the answering weights could not be loaded; an operator must check the service log"),
    ("index_unloadable", re.compile(r"could not be loaded"),
     "the published index could not be loaded; an operator must check the service log"),
    ("store_unreachable", re.compile(r"cannot read the store"),
     "the index store cannot be read; an operator must check the service log"),
)
FALLBACK = ("not_ready", "the service is not ready; an operator must check the service log")

FEEDBACK_UNAVAILABLE = "feedback_store_unavailable"


def not_ready_category(reason: str | None) -> tuple[str, str]:
    """(category, public sentence) for an internal not-ready `reason`."""
    for category, pattern, sentence in _CATEGORIES:
        if reason and pattern.search(reason):
            return category, sentence
    return FALLBACK


def not_ready_body(reason: str | None, request_id: str | None) -> dict:
    """The JSON body of a not-ready 503; the full reason is logged here with the request id."""
    category, sentence = not_ready_category(reason)
    log.warning("not ready", extra={"category": category, "reason": reason})
    body = {"detail": f"service not ready: {sentence}", "category": category}
    if request_id:
        body["request_id"] = request_id
    return body
