"""Privacy: keyed question fingerprints, owner-only files, 422s without the input, 503s without internals.

In-process (TestClient, no index needed) because each of these is decided before or beside retrieval; the
real-HTTP side is covered by test_observability.py (fingerprints in the logs) and test_faults.py (503s of a
real server with its store deleted or its Chroma server down).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.fingerprint import KEY_FILE, Fingerprinter
from service.guardrails import Guardrail
from service.live_index import NotReady
from service.settings import Settings
from tests.test_guardrails import GUARDRAILS_DIR

SECRET = "Mrs Zebrasentinel NHS 943 476 5919"
RED_FLAG = "pt 2 days post VP now can't lift R leg, numb groin"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fingerprints_are_keyed_with_a_generated_owner_only_key(tmp_path: Path) -> None:
    fingerprint = Fingerprinter.from_settings(Settings(store_dir=tmp_path))
    key_file = tmp_path / KEY_FILE
    assert mode(key_file) == 0o600 and len(key_file.read_text().strip()) == 64
    assert fingerprint(RED_FLAG) != hashlib.sha256(RED_FLAG.encode()).hexdigest()  # a guess cannot be checked
    again = Fingerprinter.from_settings(Settings(store_dir=tmp_path))  # generated once, then reused
    assert again(RED_FLAG) == fingerprint(RED_FLAG)
    other = Fingerprinter.from_settings(Settings(store_dir=tmp_path / "other"))
    assert other(RED_FLAG) != fingerprint(RED_FLAG)  # per deployment
    assert fingerprint("\ud800 lone surrogate")  # the old audit encoding crashed on this


def test_configured_hash_key_wins_over_the_file(tmp_path: Path) -> None:
    fingerprint = Fingerprinter.from_settings(Settings(store_dir=tmp_path, hash_key="shared-by-replicas"))
    expected = hmac.new(b"shared-by-replicas", RED_FLAG.encode(), hashlib.sha256).hexdigest()
    assert fingerprint(RED_FLAG) == expected and not (tmp_path / KEY_FILE).exists()


def test_audit_log_is_owner_only_and_keyed(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    audit.chmod(0o644)  # left world-readable by an earlier version
    settings = Settings(store_dir=tmp_path, audit_log=audit, guardrails_dir=GUARDRAILS_DIR)
    guard = Guardrail.from_settings(settings, use_exemplars=False)
    assert guard.screen(RED_FLAG) is not None
    assert mode(audit) == 0o600
    entry = json.loads(audit.read_text())
    assert entry["question_hmac"] == Fingerprinter.from_settings(settings)(RED_FLAG)
    assert hashlib.sha256(RED_FLAG.encode()).hexdigest() not in audit.read_text()

    fresh = Settings(store_dir=tmp_path / "fresh", guardrails_dir=GUARDRAILS_DIR)
    assert Guardrail.from_settings(fresh, use_exemplars=False).screen(RED_FLAG) is not None
    assert mode(fresh.audit_log_path) == 0o600


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(store_dir=tmp_path / "srv-store-7d1e", rate_limit_per_minute=0)))


@pytest.mark.parametrize(
    "path,body,loc,limit",
    [
        ("/v1/ask", {"question": SECRET + " x" * 1000}, ["body", "question"], {"max_length": 2000}),
        ("/v1/ask/stream", {"question": SECRET, "history": [{"role": "user", "content": SECRET * 200}]},
         ["body", "history", 0, "content"], {"max_length": 4000}),
        ("/v1/retrieve", {"query": SECRET, "k": 999}, ["body", "k"], {"le": 50}),
        ("/v1/ask", {"question": SECRET, "history": [{"role": SECRET, "content": "x"}]},
         ["body", "history", 0, "role"], {"expected": "'user' or 'assistant'"}),
        ("/v1/feedback", {"answer_id": "a1", "rating": "up", "comment": SECRET * 100}, ["body", "comment"],
         {"max_length": 2000}),
        ("/v1/feedback", {"answer_id": SECRET, "rating": "up"}, ["body", "answer_id"], None),
    ],
)
def test_422_names_the_field_and_limit_without_echoing_the_input(client, path, body, loc, limit) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert "Zebrasentinel" not in r.text and "input" not in r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and error["msg"]
    if limit:
        assert error["limit"] == limit


def test_malformed_json_422_does_not_quote_the_body(client) -> None:
    r = client.post("/v1/ask", content=b'{"question": "' + SECRET.encode() + b'"',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "Zebrasentinel" not in r.text
    assert r.json()["detail"][0]["type"] == "json_invalid"


def test_not_ready_503_carries_a_category_and_logs_the_reason(client, caplog) -> None:
    internal = ("cannot read the store at /var/lib/gqa/srv-store-7d1e: sqlite3.DatabaseError: "
                "file is not a database")

    def broken(_request):
        raise NotReady(internal)

    client.app.state.answerer.ask = broken
    client.app.state.answerer.not_ready_reason = lambda: internal
    with caplog.at_level(logging.WARNING):
        r = client.post("/v1/ask", json={"question": "cement leak?"}, headers={"X-Request-ID": "rid-503"})
    assert r.status_code == 503 and r.headers["retry-after"]
    body = r.json()
    assert body["category"] == "store_unreachable" and body["request_id"] == "rid-503"
    assert "srv-store" not in r.text and "sqlite3" not in r.text and "not a database" not in r.text
    logged = [rec for rec in caplog.records if getattr(rec, "category", None) == "store_unreachable"]
    assert logged and logged[0].reason == internal

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["category"] == "store_unreachable"
    assert "srv-store" not in ready.text and "sqlite3" not in ready.text


def test_unrecognised_reasons_fall_back_to_a_generic_category(client) -> None:
    client.app.state.answerer.not_ready_reason = lambda: "OperationalError at /etc/gqa/secret.db"
    ready = client.get("/readyz")
    assert ready.json()["category"] == "not_ready" and "/etc" not in ready.text


def test_access_log_client_key_is_keyed(tmp_path: Path) -> None:
    """An unkeyed SHA-256 of an IPv4 address is reversed by hashing all 2^32 of them."""
    from service.operations.request_log import client_hash

    fingerprint = Fingerprinter.from_settings(Settings(store_dir=tmp_path))
    scope = {"client": ("203.0.113.7", 5555)}
    keyed = client_hash(scope, fingerprint)
    assert keyed != hashlib.sha256(b"203.0.113.7").hexdigest()[:12] and len(keyed) == 12
    assert keyed == client_hash(scope, fingerprint)  # stable: one client can still be followed
