"""Standard security headers, added to every response that does not set its own.

JSON and event-stream responses get the strictest policy (nothing may load, nothing may frame them). HTML
pages (the widget, /docs) get only `frame-ancestors`: the widget may be framed by the CORS allow-list, and a
fuller CSP is the page's own business. HSTS is sent only over HTTPS (as seen through the load balancer's
forwarded headers), since browsers ignore it on plain HTTP and it must never pin a local test server.
"""

from __future__ import annotations

BASE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
API_ONLY = (
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")  # answers to patient-specific questions stay out of caches
PRIVATE_PREFIXES = ("/v1/", "/admin/")


class SecurityHeaders:
    def __init__(self, frame_origins: list[str]):
        ancestors = " ".join(["'self'", *frame_origins])
        self.html = ((b"content-security-policy", f"frame-ancestors {ancestors}".encode()),)

    def add(self, headers: list[tuple[bytes, bytes]], *, path: str, https: bool) -> list[tuple[bytes, bytes]]:
        """`headers` (the response's raw ASGI headers) plus ours, never overriding one already set."""
        present = {name.lower() for name, _ in headers}
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        extra = [*BASE, *(self.html if content_type.startswith(b"text/html") else API_ONLY)]
        if path.startswith(PRIVATE_PREFIXES):
            extra.append(NO_STORE)
        if https:
            extra.append(HSTS)
        headers.extend(h for h in extra if h[0] not in present)
        return headers
