"""The HTTP server's own limits, on a real `python -m service.serve` process with default settings.

Why a separate server from `ops_server`: that one is configured as if behind a load balancer on 127.0.0.1
(it trusts `X-Forwarded-For`), while these tests check what a default deployment does — trust no proxy —
so a client cannot rotate `X-Forwarded-For` to get a fresh rate-limit budget on every request.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.serve import uvicorn_options
from service.settings import Settings
from tests.conftest import ServerProcess

RATE_LIMIT = 3


@pytest.fixture(scope="module")
def default_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """Defaults except a small rate limit; no index is needed (refused input still counts)."""
    store = tmp_path_factory.mktemp("limits-store")
    srv = ServerProcess({"GQA_STORE_DIR": str(store), "GQA_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)})
    try:
        srv.wait_ready(path="/healthz")
        yield srv
    finally:
        srv.stop()


@pytest.mark.e2e
def test_rotating_x_forwarded_for_does_not_escape_the_rate_limit(default_server) -> None:
    statuses = [
        httpx.post(
            default_server.url + "/v1/ask",
            json={"question": ""},
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            timeout=30,
        ).status_code
        for i in range(RATE_LIMIT + 2)
    ]
    assert statuses == [422] * RATE_LIMIT + [429, 429], statuses


@pytest.mark.e2e
def test_forwarded_proto_is_not_trusted_without_a_configured_proxy(default_server) -> None:
    r = httpx.get(default_server.url + "/healthz", headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 200 and "strict-transport-security" not in r.headers


def _raw_request(url: str, head: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(head)
        except OSError:  # the server may close before we finish sending: that is the refusal
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


@pytest.mark.e2e
def test_oversized_request_head_is_refused_and_the_server_keeps_serving(default_server) -> None:
    # h11 checks the bound while the head is still incomplete, i.e. for what it has to buffer: a head a little
    # over the limit that arrives in one read can pass, a megabyte (and the 64 MB of the probe) cannot
    big = b"x" * (1024 * 1024)
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + big + b"\r\n\r\n"
    answer = _raw_request(default_server.url, head)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"ok"' not in answer
    assert httpx.get(default_server.url + "/healthz").status_code == 200


def test_launcher_options_trust_no_proxy_by_default_and_bound_connections() -> None:
    default = uvicorn_options(Settings(store_dir=Path("/nonexistent")))
    assert default["proxy_headers"] is False and default["forwarded_allow_ips"] == ""
    assert default["http"] == "h11" and default["h11_max_incomplete_event_size"] == 16 * 1024
    assert default["limit_concurrency"] == 64 and default["timeout_keep_alive"] == 5
    behind = uvicorn_options(Settings(forwarded_allow_ips=" 10.0.0.5, 10.0.0.6 "))
    assert behind["proxy_headers"] is True and behind["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"
