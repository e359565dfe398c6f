"""Metrics, structured logs without question text, request ids, and the global error handler."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.fingerprint import Fingerprinter
from service.operations import install_operations
from service.operations.json_logs import JsonFormatter
from service.settings import Settings

IN_SCOPE = "How often does cement leak after vertebroplasty, and is it usually symptomatic?"
OUT_OF_SCOPE = "What is the recommended dose of amoxicillin for otitis media in children?"
RED_FLAG = "new leg weakness since this morning after kyphoplasty"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def ask(url: str, question: str, ip: str, **extra) -> dict:
    r = httpx.post(
        url + "/v1/ask", json={"question": question, **extra}, headers={"X-Forwarded-For": ip}, timeout=60
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_metrics_count_answers_by_mode_red_flags_abstentions_and_latency(ops_server, client_ip) -> None:
    before = scrape(ops_server.url)
    modes = [ask(ops_server.url, q, client_ip)["mode"] for q in (IN_SCOPE, OUT_OF_SCOPE, RED_FLAG)]
    assert modes == ["extractive", "abstain", "red_flag"]
    red_flag = ask(ops_server.url, RED_FLAG, client_ip)["red_flag"]["category"]
    after = scrape(ops_server.url)

    def delta(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gqa_answers_total", mode="extractive") == 1
    assert delta("gqa_answers_total", mode="abstain") == 1
    assert delta("gqa_answers_total", mode="red_flag") == 2
    assert delta("gqa_abstentions_total") == 1
    assert delta("gqa_red_flags_total", category=red_flag) == 2
    assert delta("gqa_http_requests_total", endpoint="/v1/ask", method="POST", status="200") == 4
    assert delta("gqa_http_request_duration_seconds_count", endpoint="/v1/ask", mode="red_flag") == 2
    assert delta("gqa_http_request_duration_seconds_count", endpoint="/v1/ask", mode="extractive") == 1
    assert value(after, "gqa_http_request_duration_seconds_sum", endpoint="/v1/ask", mode="extractive") > 0


def test_metrics_report_the_served_generation_and_readiness(ops_server) -> None:
    ready = httpx.get(ops_server.url + "/readyz").json()
    samples = scrape(ops_server.url)
    generation = ready["index_version"]
    assert value(samples, "gqa_ready") == 1
    assert value(samples, "gqa_index_generation") == int(generation.lstrip("g"))
    assert (
        value(samples, "gqa_index_info", generation=generation, corpus_version=ready["corpus_version"]) == 1
    )
    assert value(samples, "gqa_index_passages") == ready["passages"]


def test_refused_requests_are_counted_under_their_endpoint(ops_server, client_ip) -> None:
    before = scrape(ops_server.url)
    big = httpx.post(
        ops_server.url + "/v1/retrieve",
        content=b"x" * 300_000,
        headers={"Content-Type": "application/json", "X-Forwarded-For": client_ip},
    )
    assert big.status_code == 413
    after = scrape(ops_server.url)
    key = {"endpoint": "/v1/retrieve", "method": "POST", "status": "413"}
    assert (
        value(after, "gqa_http_requests_total", **key) - value(before, "gqa_http_requests_total", **key) == 1
    )


def log_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    return parsed


def test_logs_are_json_with_request_ids_and_never_the_question(ops_server, client_ip) -> None:
    secret = "Mrs Zebrasentinel 84y NHS 943 476 5919"
    question = f"{secret} asks how often cement leaks after vertebroplasty and whether it causes symptoms"
    red_flag = f"{secret} has new leg weakness since this morning after kyphoplasty"
    rid = "ops-log-test-1"
    headers = {"X-Forwarded-For": client_ip, "X-Request-ID": rid}
    url = ops_server.url
    assert (
        httpx.post(url + "/v1/ask", json={"question": question}, headers=headers, timeout=60).status_code
        == 200
    )
    stream = httpx.post(url + "/v1/ask/stream", json={"question": red_flag}, headers=headers, timeout=60)
    assert stream.status_code == 200
    history = [{"role": "user", "content": secret}]
    assert (
        httpx.post(
            url + "/v1/retrieve", json={"query": secret, "history": history}, headers=headers
        ).status_code
        == 200
    )
    bad = {"question": question, "history": [{"role": "system", "content": secret}]}
    assert httpx.post(url + "/v1/ask", json=bad, headers=headers).status_code == 422

    server_log = Path(ops_server.log.name)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ops_server.log.flush()
        entries = log_lines(server_log)
        ours = [e for e in entries if e.get("request_id") == rid]
        if sum(e["logger"] == "gqa.access" for e in ours) >= 4:
            break
        time.sleep(0.2)
    answers = [e for e in ours if e["logger"] == "gqa.answers"]
    assert {a["mode"] for a in answers} == {"extractive", "red_flag"}
    fingerprint = Fingerprinter.from_settings(Settings(store_dir=ops_server.store_dir))
    digest = fingerprint(question)
    logged = next(a for a in answers if a["mode"] == "extractive")
    assert logged["question_hmac"] == digest and logged["question_chars"] == len(question)
    assert hashlib.sha256(question.encode()).hexdigest() not in server_log.read_text()  # keyed, not guessable
    access = [e for e in ours if e["logger"] == "gqa.access"]
    assert {(e["path"], e["status"]) for e in access} >= {
        ("/v1/ask", 200),
        ("/v1/ask", 422),
        ("/v1/retrieve", 200),
    }
    assert all(e["duration_ms"] >= 0 and e["client"] != client_ip for e in access)

    assert "Zebrasentinel" not in server_log.read_text()
    audit_text = ops_server.audit_log.read_text()
    assert "Zebrasentinel" not in audit_text
    assert fingerprint(red_flag) in audit_text  # the audit line was written, joinable to the answer log


def test_unexpected_error_is_a_clean_500_logged_with_its_request_id(tmp_path: Path) -> None:
    app = FastAPI()
    install_operations(app, Settings(store_dir=tmp_path))

    @app.get("/v1/boom")
    def boom(note: str) -> dict:
        raise RuntimeError(f"failed on {note}")  # the message quotes client input, as pydantic errors do

    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("gqa.errors").addHandler(handler)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            r = client.get("/v1/boom?note=Zebrasentinel", headers={"X-Request-ID": "boom-1"})
    finally:
        logging.getLogger("gqa.errors").removeHandler(handler)
    assert r.status_code == 500 and r.headers["x-request-id"] == "boom-1"
    assert r.json() == {"detail": "internal error; please report request id boom-1", "request_id": "boom-1"}
    assert r.headers["x-content-type-options"] == "nosniff"
    entry = json.loads(captured.getvalue().splitlines()[0])
    assert entry["request_id"] == "boom-1" and entry["error_type"] == "RuntimeError"
    assert "def boom" in entry["traceback"] or "boom" in entry["traceback"]
    assert "Zebrasentinel" not in captured.getvalue()


def test_metric_labels_stay_a_fixed_set_whatever_the_client_sends(ops_server, client_ip) -> None:
    before = scrape(ops_server.url)
    propfind = httpx.request("PROPFIND", ops_server.url + "/v1/ask", headers={"X-Forwarded-For": client_ip})
    assert propfind.status_code == 405
    assert httpx.get(ops_server.url + "/wp-admin/setup-config.php").status_code == 404
    after = scrape(ops_server.url)
    other = {"endpoint": "/v1/ask", "method": "other", "status": "405"}
    assert (
        value(after, "gqa_http_requests_total", **other) - value(before, "gqa_http_requests_total", **other)
        == 1
    )
    labels = {dict(k[1]).get("endpoint") for k in after if k[0] == "gqa_http_requests_total"}
    assert "/wp-admin/setup-config.php" not in labels and "unmatched" in labels
    assert not any(dict(k[1]).get("method") == "PROPFIND" for k in after)
