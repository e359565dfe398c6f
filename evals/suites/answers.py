"""Answers suite: /v1/ask for every golden question, scored for mode, citations, grounding and ragas.

What a clinician gets is judged on four things: did the service answer when it should and abstain when the
question is outside the corpus; does every sentence carry a citation that resolves and that says it; did
it cite the right section; how close is the answer to the reference (ragas). A few questions also go
through /v1/ask/stream to time the first event the widget shows.
"""

from __future__ import annotations

from evals.client import ServiceClient
from evals.corpus_text import CorpusText
from evals.data import QAItem
from evals.metrics.citations import citation_integrity, mean_ignoring_none
from evals.metrics.retrieval import relevant_unit
from evals.ragas_suite import RagasSample, run_ragas
from evals.suites import SuiteResult, Track, no_progress
from service.markers import strip_markers

ANSWER_MODES = ("extractive", "llm")


def mode_ok(expected: str, got: str | None) -> bool:
    return got in ANSWER_MODES if expected == "answer" else got == expected


def _ragas_sample(item: QAItem, body: dict, corpus: CorpusText | None) -> RagasSample:
    citations = body.get("citations") or []
    ref_texts = [t for t in (corpus.text(c) if corpus else None for c in item.reference_contexts) if t]
    retrieved_ids = []
    for c in citations:
        unit = relevant_unit(c, item.reference_contexts, "section")
        retrieved_ids.append(unit or f"{c.get('doc_id')}#{c.get('section')}")
    return RagasSample(
        id=item.id,
        question=item.question,
        response=strip_markers(body.get("answer") or ""),
        reference=item.reference_answer,
        retrieved_contexts=[c.get("text") or "" for c in citations],
        retrieved_ids=retrieved_ids,
        reference_contexts=ref_texts,
        reference_ids=[c.key for c in item.reference_contexts],
    )


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def run(
    client: ServiceClient,
    items: list[QAItem],
    corpus: CorpusText | None,
    stream_sample: int = 10,
    use_ragas: bool = True,
    track: Track = no_progress,
) -> SuiteResult:
    result = SuiteResult("answers")
    records = []
    for item in track(items, "ask", len(items)):
        call = client.ask(item.question, item.history)
        body = call.body or {}
        if call.body is None:
            result.errors.append({"id": item.id, "error": call.error})
        mode = body.get("mode")
        citations = body.get("citations") or []
        record = {
            "id": item.id,
            "question": item.question,
            "expected_mode": item.expected_mode,
            "mode": mode,
            "mode_ok": mode_ok(item.expected_mode, mode),
            "follow_up": bool(item.history),
            "answer": body.get("answer"),
            "ms": round(call.ms, 1),
            "error": call.error,
            "index_version": body.get("index_version"),
            "body": body,
        }
        if mode in ANSWER_MODES:
            record["integrity"] = citation_integrity(body.get("answer") or "", citations)
        if item.expected_mode == "answer":
            for level in ("doc", "section"):
                refs = item.reference_contexts
                record[f"cited_{level}"] = any(relevant_unit(c, refs, level) for c in citations)
        records.append(record)

    inscope = [r for r in records if r["expected_mode"] == "answer"]
    outscope = [r for r in records if r["expected_mode"] == "abstain"]
    answered = [r for r in records if "integrity" in r]
    follow = [r for r in inscope if r["follow_up"]]
    m = result.metrics
    m["answers.mode_accuracy"] = _share([r["mode_ok"] for r in records])
    m["answers.answered_rate"] = _share([r["mode_ok"] for r in inscope])
    m["answers.red_flag_false_alarm_rate"] = _share([r["mode"] == "red_flag" for r in inscope])
    m["answers.abstain_rate_out_of_scope"] = _share([r["mode_ok"] for r in outscope])
    m["answers.cited_doc_hit"] = _share([r["cited_doc"] for r in inscope])
    m["answers.cited_section_hit"] = _share([r["cited_section"] for r in inscope])
    m["answers.follow_up.cited_section_hit"] = _share([r["cited_section"] for r in follow])
    m["answers.error_rate"] = _share([r["error"] is not None for r in records])
    for name in ("resolved", "sentences_cited", "supported"):
        m[f"citations.{name}"] = mean_ignoring_none([r["integrity"][name] for r in answered])
    result.details["counts"] = {
        "questions": len(records),
        "in_scope": len(inscope),
        "out_of_scope": len(outscope),
        "follow_ups": len(follow),
        "answered": len(answered),
    }
    result.details["wrong_mode"] = [
        {k: r[k] for k in ("id", "question", "expected_mode", "mode")} for r in records if not r["mode_ok"]
    ]
    result.details["uncited_or_unsupported"] = [
        {"id": r["id"], **r["integrity"]}
        for r in answered
        if (r["integrity"]["sentences_cited"] or 0) < 1 or (r["integrity"]["supported"] or 0) < 1
    ]

    streamed = [it for it in items if it.expected_mode == "answer"][:stream_sample]
    oks = []
    for item in track(streamed, "ask/stream", len(streamed)):
        call = client.ask_stream(item.question, item.history)
        oks.append(call.error is None and isinstance(call.body, dict) and "citations" in call.body)
    m["answers.stream.ok_rate"] = _share(oks)

    if use_ragas:
        samples = [
            _ragas_sample(it, r["body"], corpus)
            for it, r in zip(items, records, strict=True)
            if it.expected_mode == "answer" and r["body"]
        ]
        rg = run_ragas(samples)
        for name, value in rg.means().items():
            if f"ragas.{name}" not in rg.not_run:
                m[f"ragas.{name}"] = value
        result.not_run.update(rg.not_run)
        for r in records:
            r["ragas"] = rg.per_sample.get(r["id"])
        result.details["ragas_samples"] = len(samples)
    else:
        result.not_run["ragas.*"] = "skipped with --no-ragas"
    for r in records:
        r.pop("body")
    result.items = records
    return result
