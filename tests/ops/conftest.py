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

from service.settings import Settings
from tests.support.inprocess import InProcessServer

ADMIN_TOKEN = "test-admin-token-7c1f"
ALLOWED_ORIGIN = "https://guidelines.example.org"
RATE_LIMIT = 5
_clients = itertools.count(1)


@pytest.fixture(scope="session")
def ops_server(corpus_store: Path, tmp_path_factory) -> Iterator[InProcessServer]:
    """Served from this process (tests/support/inprocess.py) with the launcher's uvicorn options; its log
    records also go to `log` as JSON lines, its audit lines to `audit_log`."""
    logs = tmp_path_factory.mktemp("ops-server")
    settings = Settings(
        store_dir=corpus_store,
        admin_token=ADMIN_TOKEN,
        rate_limit_per_minute=RATE_LIMIT,
        cors_origins=[ALLOWED_ORIGIN],
        audit_log=logs / "audit.jsonl",
        log_level="DEBUG",
        forwarded_allow_ips="127.0.0.1",
    )
    srv = InProcessServer(settings, log_path=logs / "server.log")
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
