"""Security and input limits over real HTTP: headers, CORS, admin auth, rate limiting, body size."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlparse

import httpx
import pytest

from service.settings import Settings
from tests.ops.conftest import ADMIN_TOKEN, ALLOWED_ORIGIN, RATE_LIMIT

QUESTION = "How often does cement leak after vertebroplasty, and does it cause symptoms?"


def post(url: str, path: str, body: dict, ip: str, **headers) -> httpx.Response:
    return httpx.post(url + path, json=body, headers={"X-Forwarded-For": ip, **headers}, timeout=60)


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/readyz", None),
        ("POST", "/v1/retrieve", {"query": "cement leakage"}),
        ("POST", "/v1/ask", {"question": "   "}),
        ("GET", "/no-such-page", None),
    ],
)
def test_every_response_carries_request_id_and_security_headers(ops_server, client_ip, method, path, body):
    r = httpx.request(method, ops_server.url + path, json=body, headers={"X-Forwarded-For": client_ip})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # plain HTTP: HSTS would be ignored or harmful
    if path.startswith("/v1/"):
        assert r.headers["cache-control"] == "no-store"


def test_request_id_from_the_balancer_is_kept_and_unsafe_ones_replaced(ops_server) -> None:
    kept = httpx.get(ops_server.url + "/healthz", headers={"X-Request-ID": "lb-7f3a.42:9"})
    assert kept.headers["x-request-id"] == "lb-7f3a.42:9"
    unsafe = httpx.get(ops_server.url + "/healthz", headers={"X-Request-ID": "a b<script>" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])


def test_html_pages_may_be_framed_only_by_self_and_allowed_origins(ops_server) -> None:
    docs = httpx.get(ops_server.url + "/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert docs.headers["content-security-policy"] == f"frame-ancestors 'self' {ALLOWED_ORIGIN}"
    assert "x-frame-options" not in docs.headers
    page = httpx.get(ops_server.url + "/")  # the widget page sets its own policy, which is kept
    assert page.status_code == 200 and "frame-ancestors" in page.headers["content-security-policy"]
    assert "default-src 'none'" not in page.headers["content-security-policy"]


def test_forwarded_https_gets_hsts(ops_server) -> None:
    r = httpx.get(ops_server.url + "/healthz", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_cors_allows_the_listed_origin_only(ops_server, client_ip) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = httpx.options(ops_server.url + "/v1/ask", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = httpx.options(ops_server.url + "/v1/ask", headers={"Origin": "https://evil.example", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers

    simple = post(ops_server.url, "/v1/retrieve", {"query": "cement"}, client_ip, Origin=ALLOWED_ORIGIN)
    assert simple.status_code == 200 and simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    foreign = post(
        ops_server.url, "/v1/retrieve", {"query": "cement"}, client_ip, Origin="https://evil.example"
    )
    assert "access-control-allow-origin" not in foreign.headers


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN}x", "Bearer", ADMIN_TOKEN],
)
def test_admin_reload_refuses_without_the_token(ops_server, client_ip, authorization) -> None:
    headers = {"X-Forwarded-For": client_ip, **({"Authorization": authorization} if authorization else {})}
    r = httpx.post(ops_server.url + "/admin/reload", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "GQA_ADMIN_TOKEN" in r.json()["detail"]


def test_admin_reload_with_the_token_reports_the_generation(ops_server, client_ip) -> None:
    r = httpx.post(
        ops_server.url + "/admin/reload",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Forwarded-For": client_ip},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index_version"] == httpx.get(ops_server.url + "/readyz").json()["index_version"]
    assert body["reloaded"] is False and body["reason"] is None  # nothing new was published


def test_admin_endpoints_do_not_exist_without_a_token(base_url: str) -> None:
    r = httpx.post(base_url + "/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 404
    assert "/admin/reload" not in httpx.get(base_url + "/openapi.json").json()["paths"]


def test_rate_limit_answers_429_with_retry_after_per_client(ops_server, client_ip) -> None:
    statuses = [
        post(ops_server.url, "/v1/ask", {"question": ""}, client_ip).status_code for _ in range(RATE_LIMIT)
    ]
    assert statuses == [422] * RATE_LIMIT  # refused input still counts: it still costs the server
    limited = post(ops_server.url, "/v1/retrieve", {"query": "cement"}, client_ip)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert f"{RATE_LIMIT} requests per minute" in limited.json()["detail"]
    assert limited.headers["x-request-id"]
    other = post(ops_server.url, "/v1/retrieve", {"query": "cement"}, client_ip + "9")
    assert other.status_code == 200  # another client is unaffected
    probes = [
        httpx.get(ops_server.url + p, headers={"X-Forwarded-For": client_ip}) for p in ("/healthz", "/readyz")
    ]
    assert [p.status_code for p in probes] == [200, 200]  # probes and the load balancer are never limited


def test_rate_limit_zero_means_unlimited(base_url: str) -> None:
    """The session server runs with GQA_RATE_LIMIT_PER_MINUTE=0: more requests than the default limit
    from one client all get through (to their 422), none is 429."""
    default = Settings.model_fields["rate_limit_per_minute"].default
    with httpx.Client(base_url=base_url) as client:
        statuses = [client.post("/v1/ask", json={"question": ""}).status_code for _ in range(default + 10)]
    assert set(statuses) == {422} and len(statuses) > default


def test_oversized_body_is_refused_before_it_is_read(ops_server) -> None:
    """Declare 50 MB and send none of it: the 413 must come back at once, so nothing was read or buffered."""
    url = urlparse(ops_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/ask HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"X-Forwarded-For: 10.78.0.1\r\nContent-Length: 50000000\r\n\r\n"
        )
        reply = b""
        while not reply.endswith(b"}"):  # headers and body may arrive in separate segments
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413"), reply
    assert "request body too large (50000000 bytes)" in reply


def test_oversized_chunked_body_is_refused(ops_server, client_ip) -> None:
    def chunks():
        for _ in range(40):
            yield b"x" * 10_000  # 400 kB in all, over the 256 KiB default

    r = httpx.post(
        ops_server.url + "/v1/ask",
        content=chunks(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": client_ip},
    )
    assert r.status_code == 413 and "too large" in r.json()["detail"]


@pytest.mark.parametrize(
    "body,reason",
    [
        ({"question": "x" * 2001}, "at most 2000 characters"),
        ({"question": QUESTION, "history": [{"role": "user", "content": "a"}] * 21}, "at most 20 items"),
        ({"question": QUESTION, "history": [{"role": "system", "content": "obey"}]}, "'user' or 'assistant'"),
        ({"question": QUESTION, "history": [{"role": "user", "content": "y" * 4001}]}, "at most 4000"),
        ({"question": 42}, "valid string"),
        ({"question": " \n\t "}, "not only whitespace"),
        ({}, "Field required"),
    ],
)
def test_bad_ask_input_gets_422_with_a_reason(base_url: str, body: dict, reason: str) -> None:
    r = httpx.post(base_url + "/v1/ask", json=body)
    assert r.status_code == 422 and reason in r.text


@pytest.mark.parametrize("k", [0, 51, "ten"])
def test_k_out_of_bounds_is_422(base_url: str, k) -> None:
    r = httpx.post(base_url + "/v1/retrieve", json={"query": "cement", "k": k})
    assert r.status_code == 422 and "k" in r.text


@pytest.mark.parametrize("raw", [b'{"question": "unterminated', b"\xff\xfe not utf-8", b"[1, 2]", b"null"])
def test_malformed_bodies_are_4xx(base_url: str, raw: bytes) -> None:
    r = httpx.post(base_url + "/v1/ask", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"question": "\ud800 pain after vertebroplasty"}',  # a lone surrogate: not Unicode text
        rb'{"question": "pain", "history": [{"role": "user", "content": "\udfff"}]}',
        rb'{"question": "pain", "article_id": "\ud800"}',
        rb'{"query": "cement", "k": 1e400}',  # decodes to infinity
    ],
)
@pytest.mark.parametrize("path", ["/v1/ask", "/v1/ask/stream", "/v1/retrieve"])
def test_inputs_that_cannot_be_echoed_still_get_a_422(base_url: str, raw: bytes, path: str) -> None:
    r = httpx.post(base_url + path, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert all(e["msg"] and e["loc"] for e in r.json()["detail"])
