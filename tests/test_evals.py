"""The evaluators' command end to end against a real server, plus the metric arithmetic it reports.

The CLI runs in a subprocess exactly as evaluators and `.ci/run` call it; the exit-code contract (0 pass,
1 floor broken or metric missing, 2 usage, 3 no service) is what CI relies on to block a regression.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.corpus_text import CorpusText
from evals.data import DATASETS_DIR, Context, DatasetError, load_qa, load_redflag
from evals.gates import check, deltas, parse_threshold
from evals.metrics.citations import citation_integrity
from evals.metrics.guardrail import Decision, guardrail_metrics
from evals.metrics.retrieval import rank_metrics
from evals.server import service
from tests.conftest import CORPUS, OPEN_MEDICINE, ROOT, free_port

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_evals(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GQA_EVAL_LLM")}
    return subprocess.run(
        [sys.executable, "-m", "evals", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------- datasets stay in step with the corpora


@pytest.mark.parametrize(
    ("dataset", "corpus", "minimum"),
    [
        ("golden_shipped.jsonl", CORPUS, 60),
        ("retrieval_open_medicine.jsonl", OPEN_MEDICINE, 100),
    ],
)
def test_every_reference_context_exists_in_its_corpus(dataset: str, corpus: Path, minimum: int) -> None:
    items = load_qa(DATASETS_DIR / dataset).items
    assert len(items) >= minimum
    text = CorpusText(corpus)
    missing = [(it.id, c.key) for it in items for c in it.reference_contexts if not text.known(c)]
    assert not missing, f"reference contexts no longer in {corpus}: {missing[:10]}"


def test_golden_set_has_follow_ups_and_out_of_scope_questions() -> None:
    items = load_qa(DATASETS_DIR / "golden_shipped.jsonl").items
    assert sum(1 for it in items if it.history) >= 5
    assert sum(1 for it in items if it.expected_mode == "abstain") >= 5
    assert all(it.reference_answer for it in items if it.expected_mode == "answer")


# ---------------------------------------------------------------- metric arithmetic


def test_rank_metrics_at_doc_and_section_level() -> None:
    ref = [Context("a", "A › Dosing")]
    passages = [
        {"doc_id": "b", "section": "B"},
        {"doc_id": "a", "section": "A › Intro"},
        {"doc_id": "a", "section": "A › Dosing › Renal"},
        {"doc_id": "a", "section": "A › Dosing"},
    ]
    doc = rank_metrics(passages, ref, "doc")
    sec = rank_metrics(passages, ref, "section")
    assert (doc["hit@1"], doc["hit@3"], doc["mrr"]) == (0.0, 1.0, 0.5)
    assert (sec["hit@1"], sec["hit@3"], sec["hit@5"]) == (0.0, 1.0, 1.0)
    assert sec["mrr"] == pytest.approx(1 / 3)
    # the section counts once, at its best rank; later chunks of it add nothing
    assert sec["ndcg@10"] == pytest.approx(1 / math.log2(4))
    assert rank_metrics([], ref, "section") == {
        "hit@1": 0.0,
        "hit@3": 0.0,
        "hit@5": 0.0,
        "hit@10": 0.0,
        "mrr": 0.0,
        "ndcg@10": 0.0,
    }


def test_citation_integrity_counts_resolution_coverage_and_support() -> None:
    citations = [{"n": 1, "text": "Cement leakage occurs in up to 72% of cases, mostly without symptoms."}]
    answer = (
        "Cement leakage occurs in up to 72% of cases [1]. Most leaks are asymptomatic [2]. "
        "Kyphoplasty cures osteoporosis permanently [1]. Ask your doctor."
    )
    got = citation_integrity(answer, citations)
    assert got["resolved"] == pytest.approx(2 / 3)  # [2] does not resolve
    assert got["sentences_cited"] == pytest.approx(3 / 4)
    assert got["supported"] == pytest.approx(1 / 3)  # the unresolved and the invented claim are unsupported
    assert citation_integrity("No markers here.", [])["resolved"] is None


def test_guardrail_metrics_list_every_miss() -> None:
    def d(i, label, cat, pred, pcat=None):
        return Decision(i, f"text {i}", label, cat, "k", "holdout", pred, pcat)

    g = guardrail_metrics(
        [
            d("1", True, "stroke", True, "stroke"),
            d("2", True, "stroke", False),
            d("3", False, None, True, "stroke"),
            d("4", False, None, False),
        ]
    )
    assert (g["recall"], g["false_alarm_rate"], g["precision"]) == (0.5, 0.5, 0.5)
    assert g["categories"]["stroke"]["fn"] == 1
    assert {m["id"] for m in g["misses"]} == {"2", "3"}


def test_thresholds_fail_below_floor_and_on_missing_metrics() -> None:
    rows = check(
        {"a": 0.5, "b": None, "lat": 900.0},
        [("a", 0.4), ("a", 0.6), ("b", 0.1), ("zz", 0.0)],
        [("lat", 1000.0)],
    )
    assert [r["ok"] for r in rows] == [True, False, False, False, True]
    assert parse_threshold("retrieval.section.hit@5=0.6") == ("retrieval.section.hit@5", 0.6)
    with pytest.raises(ValueError):
        parse_threshold("retrieval.section.hit@5")
    d = deltas({"latency.ask/x.p95_ms": 10.0, "m": 0.5}, {"latency.ask/x.p95_ms": 20.0, "m": 0.7})
    assert d["latency.ask/x.p95_ms"]["better"] is True and d["m"]["better"] is False


# ---------------------------------------------------------------- end to end against the real server


@pytest.fixture(scope="module")
def small_datasets(tmp_path_factory) -> dict[str, Path]:
    """A few real items of each dataset: single questions, a follow-up, an out-of-scope one, red flags."""
    folder = tmp_path_factory.mktemp("small-datasets")
    golden = [json.loads(line) for line in (DATASETS_DIR / "golden_shipped.jsonl").read_text().splitlines()]
    picked = [r for r in golden if not r.get("history") and r["expected_mode"] == "answer"][:3]
    picked += [r for r in golden if r.get("history")][:1] + [
        r for r in golden if r["expected_mode"] == "abstain"
    ][:1]
    flags = load_redflag(DATASETS_DIR / "redflag.jsonl").items
    rows = [r.__dict__ for r in [f for f in flags if f.label][:3] + [f for f in flags if not f.label][:3]]
    paths = {"answers": folder / "golden_small.jsonl", "redflag": folder / "redflag_small.jsonl"}
    paths["answers"].write_text("\n".join(json.dumps(r) for r in picked) + "\n")
    paths["redflag"].write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return paths


@pytest.fixture(scope="module")
def first_run(
    base_url: str, small_datasets: dict[str, Path], tmp_path_factory
) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("eval-run-1")
    proc = run_evals(
        "run",
        "--url",
        base_url,
        "--suite",
        "all",
        "--out",
        str(out),
        "--stream-sample",
        "1",
        "--dataset",
        f"retrieval={small_datasets['answers']}",
        "--dataset",
        f"answers={small_datasets['answers']}",
        "--dataset",
        f"redflag={small_datasets['redflag']}",
        "--fail-under",
        "retrieval.doc.hit@10=0",
        "--fail-over",
        "guardrail.false_alarm_rate=1",
    )
    return out, proc


@pytest.mark.e2e
def test_full_run_writes_wellformed_reports_and_passes_low_floors(first_run) -> None:
    out, proc = first_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "guideline-qa evaluation" in proc.stdout and "PASSED" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    meta = results["meta"]
    assert re.fullmatch(r"[0-9a-f]{40}", meta["git_commit"])
    assert meta["corpus_version"] and meta["index_versions"]  # what the service says it answered from
    assert {"answers", "redflag", "retrieval"} <= set(meta["datasets"])
    assert all(len(d["sha256"]) == 64 for d in meta["datasets"].values())
    m = results["metrics"]
    for name in (
        "retrieval.doc.hit@1",
        "retrieval.section.mrr",
        "retrieval.section.ndcg@10",
        "answers.mode_accuracy",
        "citations.resolved",
        "citations.supported",
        "guardrail.recall",
        "guardrail.false_alarm_rate",
        "ragas.rouge_score",
        "ragas.non_llm_context_recall",
        "ragas.semantic_similarity",
    ):
        assert name in m and (m[name] is None or 0.0 <= m[name] <= 1.0), name
    assert any(k.startswith("latency.ask/") and k.endswith(".p95_ms") for k in m)
    assert any(k.startswith("latency.retrieve/") for k in m)
    # no judge configured: the LLM metrics are "not run", never a number
    for name in ("ragas.faithfulness", "ragas.answer_relevancy", "ragas.factual_correctness"):
        assert name in results["not_run"] and name not in m
    assert len(results["suites"]["redflag"]["items"]) == 6
    assert results["suites"]["answers"]["details"]["counts"]["follow_ups"] == 1
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html and 'src="http' not in html and "src='http" not in html
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) >= 3  # metric bars, latency histogram, confusion matrix
    assert all(base64.b64decode(img).startswith(PNG_MAGIC) for img in images)
    md = (out / "report.md").read_text()
    assert "## Metrics" in md and "| retrieval.section.hit@5 |" in md and "## Guardrail per category" in md


@pytest.mark.e2e
def test_floor_above_measured_value_fails_and_compare_reports_deltas(
    first_run, base_url, small_datasets, tmp_path
) -> None:
    first, proc = first_run
    assert proc.returncode == 0
    measured = json.loads((first / "results.json").read_text())["metrics"]["retrieval.section.mrr"]
    common = [
        "run",
        "--url",
        base_url,
        "--suite",
        "retrieval",
        "--dataset",
        str(small_datasets["answers"]),
        "--compare",
        str(first),
    ]
    at_floor = run_evals(
        *common, "--out", str(tmp_path / "ok"), "--fail-under", f"retrieval.section.mrr={measured}"
    )
    assert at_floor.returncode == 0, at_floor.stdout[-2000:] + at_floor.stderr[-2000:]
    above = run_evals(
        *common, "--out", str(tmp_path / "fail"), "--fail-under", f"retrieval.section.mrr={measured + 0.01}"
    )
    assert above.returncode == 1
    assert "FAIL" in above.stdout and "retrieval.section.mrr" in above.stdout
    results = json.loads((tmp_path / "fail" / "results.json").read_text())
    assert results["passed"] is False and results["thresholds"][0]["ok"] is False
    d = results["compare"]["deltas"]
    assert d["retrieval.section.mrr"]["delta"] == pytest.approx(0.0)  # same service, same questions
    assert d["guardrail.recall"]["after"] is None and d["guardrail.recall"]["before"] is not None
    assert "Deltas against the previous run" in (tmp_path / "fail" / "report.html").read_text()
    missing = run_evals(*common, "--out", str(tmp_path / "missing"), "--fail-under", "guardrail.recall=0.5")
    assert missing.returncode == 1  # the redflag suite did not run, so its floor cannot hold


def evals_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`python -m evals ARGS` through its `main`, in this process: (exit code, stderr)."""
    from evals.__main__ import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_usage_errors_exit_2_and_unreachable_service_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("GQA_EVAL_LLM")]:
        monkeypatch.delenv(name)
    code, _ = evals_in_process(capsys, "run", "--fail-under", "nonsense", "--url", "http://127.0.0.1:9")
    assert code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q", "expected_mode": "maybe"}\n')
    code, err = evals_in_process(
        capsys, "run", "--suite", "answers", "--dataset", str(bad), "--url", "http://127.0.0.1:9"
    )
    assert code == 2 and "bad.jsonl:1" in err
    code, err = evals_in_process(
        capsys,
        "run",
        "--suite",
        "retrieval",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 3 and "no guideline-qa service" in " ".join(err.split())


@pytest.mark.e2e
def test_evals_start_their_own_server_over_a_store(corpus_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(corpus_store, store, ignore=shutil.ignore_patterns("*.log"))
    with service(None, CORPUS, store) as url:
        assert url.startswith("http://127.0.0.1:")
        import httpx

        body = httpx.post(
            url + "/v1/retrieve", json={"query": "cement leakage after vertebroplasty", "k": 3}
        ).json()
        assert len(body["passages"]) == 3


@pytest.mark.e2e
def test_unreachable_llm_judge_is_reported_not_run_never_as_a_score(monkeypatch) -> None:
    from evals.ragas_suite import LLM_METRICS, RagasSample, run_ragas

    monkeypatch.setenv("GQA_EVAL_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    text = "Cement leakage occurs in up to 72% of vertebroplasty cases, and most leaks cause no symptoms."
    sample = RagasSample(
        id="s1",
        question="How common is cement leakage?",
        response=text,
        reference=text,
        retrieved_contexts=[text],
        retrieved_ids=["d#s"],
        reference_contexts=[text],
        reference_ids=["d#s"],
    )
    result = run_ragas([sample])
    means = result.means()
    assert means["rouge_score"] == pytest.approx(1.0) and means["id_based_context_recall"] == 1.0
    assert means["semantic_similarity"] == pytest.approx(1.0, abs=1e-3)
    for name in LLM_METRICS:
        assert means.get(name) is None
        assert result.not_run[f"ragas.{name}"].startswith("failed on every sample")


class StandInJudge:
    """A stand-in for a remote OpenAI-compatible judge: real HTTP on 127.0.0.1, lexical verdicts.

    It answers ragas' structured prompts by the output schema they name: statements/claims are the input's
    sentences, an NLI verdict is 1 when the statement's content words are in the context, and the question
    "generated" from a response is the response itself. Enough to prove the judge path end to end and that
    a judge's verdicts, not constants, become the scores.
    """

    SCHEMA = re.compile(r'"title": "(\w+)", "type": "object"\}Do not use')

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = json.dumps(judge.reply(body["messages"][-1]["content"]))
                data = json.dumps(
                    {
                        "id": "judge",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "judge"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def reply(prompt: str) -> dict:
        from evals.metrics.citations import sentences, support

        schema = StandInJudge.SCHEMA.search(prompt).group(1)
        given = json.loads(prompt.rsplit("\ninput: ", 1)[1].rsplit("\nOutput:", 1)[0])
        if schema == "StatementGeneratorOutput":
            return {"statements": sentences(given["answer"])}
        if schema == "ClaimDecompositionOutput":
            return {"claims": sentences(given["response"])}
        if schema == "ResponseRelevanceOutput":
            return {"question": given["response"], "noncommittal": 0}
        if schema == "NLIStatementOutput":
            return {
                "statements": [
                    {"statement": s, "reason": "lexical", "verdict": int(support(s, given["context"]) >= 0.6)}
                    for s in given["statements"]
                ]
            }
        raise AssertionError(f"unexpected ragas prompt for {schema}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.e2e
def test_llm_judge_metrics_come_from_the_judge_when_one_is_configured(monkeypatch) -> None:
    from evals.ragas_suite import RagasSample, run_ragas

    judge = StandInJudge()
    monkeypatch.setenv("GQA_EVAL_LLM_BASE_URL", judge.base_url)
    context = "Cement leakage occurs in up to 72% of vertebroplasty cases. Most leaks cause no symptoms."
    faithful = RagasSample(
        id="good",
        question="How common is cement leakage after vertebroplasty?",
        response=context,
        reference=context,
        retrieved_contexts=[context],
        retrieved_ids=["d#s"],
        reference_contexts=[context],
        reference_ids=["d#s"],
    )
    invented = RagasSample(
        id="bad",
        question="How common is cement leakage after vertebroplasty?",
        response="Kyphoplasty permanently cures osteoporosis in elderly patients.",
        reference=context,
        retrieved_contexts=[context],
        retrieved_ids=["d#s"],
        reference_contexts=[context],
        reference_ids=["d#s"],
    )
    try:
        result = run_ragas([faithful, invented])
    finally:
        judge.close()
    assert not result.not_run, result.not_run
    good, bad = result.per_sample["good"], result.per_sample["bad"]
    assert good["faithfulness"] == pytest.approx(1.0) and bad["faithfulness"] == pytest.approx(0.0)
    assert good["factual_correctness"] == pytest.approx(1.0) and bad["factual_correctness"] == pytest.approx(
        0.0
    )
    assert 0.0 < good["answer_relevancy"] <= 1.0 and bad["answer_relevancy"] < good["answer_relevancy"]


# ---------------------------------------------------------------- provenance filter (--provenance KEY=VALUE)


def test_items_can_be_filtered_by_the_provenance_of_their_references() -> None:
    from evals.provenance import corpus_provenance, parse_filters, select

    items = load_qa(DATASETS_DIR / "golden_shipped.jsonl").items
    by_doc = corpus_provenance(CORPUS)
    assert by_doc["vertebroplasty_increased_pain_2025"] == {
        "source_kind": "answer-page", "review_status": "pending-review"
    }
    pages = select(items, by_doc, parse_filters(["source_kind=answer-page"]))
    reviewed = select(items, by_doc, parse_filters(["review_status=reviewed", "source_kind=research"]))
    assert pages and reviewed and len(pages) < len(items) and len(reviewed) < len(items)
    assert all(any(by_doc[c.doc_id]["source_kind"] == "answer-page" for c in it.reference_contexts)
               for it in pages)
    assert select(items, by_doc, {}) == items
    for bad in (["source_kind"], ["colour=red"], ["source_kind=blog"], ["review_status=approved"]):
        with pytest.raises(DatasetError):
            parse_filters(bad)


def test_the_red_flag_suite_scores_every_batch_the_default_model_never_trained_on() -> None:
    # a batch written after the default model (a34-a39 after static11r) joins the suite and its CI floor by
    # itself, as in tests/test_guardrail_authors.py; nothing the model trained on is ever in it
    from evals.authors import load_batches, redflag_held_out
    from service.guardrails.guard import model_meta_path
    from service.settings import Settings

    meta = json.loads(model_meta_path(Settings.model_fields["redflag_model"].default).read_text())
    recorded = [a for a in meta["held_out"] if not a.startswith("ordinary-")]
    held = redflag_held_out()
    every = {b.author for b in load_batches("redflag")}
    assert set(held) == every - set(meta["trained_on"])
    assert len(held) == len(set(held))
    assert list(held[: len(recorded)]) == recorded  # the recorded held-out authors first, in their order
