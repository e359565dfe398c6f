"""One hardened service for the operations tests: admin token, a small rate limit and a CORS allow-list.

Tests that count against the rate limit each pose as their own client with `X-Forwarded-For`: this server is
configured as one behind a load balancer on 127.0.0.1 (`GQA_FORWARDED_ALLOW_IPS`), so it trusts the header
from the test process and the tests never eat each other's budget. The default (no trusted proxy) is tested
in test_limits.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

ADMIN_TOKEN = "test-admin-token-7c1f"
ALLOWED_ORIGIN = "https://guidelines.example.org"
RATE_LIMIT = 5
_clients = itertools.count(1)


@pytest.fixture(scope="session")
def ops_server(corpus_store: Path, tmp_path_factory) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("ops-server")
    srv = ServerProcess(
        {
            "GQA_STORE_DIR": str(corpus_store),
            "GQA_ADMIN_TOKEN": ADMIN_TOKEN,
            "GQA_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "GQA_CORS_ORIGINS": ALLOWED_ORIGIN,
            "GQA_AUDIT_LOG": str(logs / "audit.jsonl"),
            "GQA_LOG_LEVEL": "DEBUG",
            "GQA_FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
    )
    srv.audit_log = logs / "audit.jsonl"  # type: ignore[attr-defined]
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client_ip() -> str:
    """A fresh client address for this test, as a load balancer would forward it."""
    n = next(_clients)
    return f"10.77.{n // 250}.{n % 250 + 1}"
