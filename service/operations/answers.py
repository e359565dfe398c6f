"""`record_answer`: the one call the ask routes make, so each answer is counted and logged without its text.

The log line carries a keyed fingerprint (`question_hmac`, service/fingerprint.py: the same function and key
the red-flag audit log uses, so the two can be joined) and the length of the question, never the question
itself unless `GQA_LOG_RAW_TEXT` is set: clinicians type patient details into questions.
"""

from __future__ import annotations

import logging

from service.operations.context import current_request
from service.operations.metrics import fallback_code

log = logging.getLogger("gqa.answers")


def record_answer(request, response) -> None:
    """Count `response` (AskResponse) in the serving app's metrics and log it, for `request` (AskRequest)."""
    info = current_request()
    fields = {
        "event": "answer",
        "answer_id": response.answer_id,
        "mode": response.mode,
        "red_flag": response.red_flag.category if response.red_flag else None,
        "fallback": fallback_code(response.fallback_reason) if response.fallback_reason else None,
        "index_version": response.index_version,
        "citations": len(response.citations),
        "question_chars": len(request.question),
        "history_turns": len(request.history),
    }
    if info is not None:
        if info.fingerprint is not None:
            fields["question_hmac"] = info.fingerprint(request.question)
        info.mode = response.mode
        if info.metrics is not None:
            info.metrics.observe_answer(response)
        if info.log_raw_text:
            fields["question"] = request.question
    log.info("answer", extra=fields)
