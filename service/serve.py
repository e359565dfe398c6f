"""`python -m service.serve`: uvicorn over the app factory with the connection limits the service relies on.

Why a launcher instead of bare `uvicorn --factory service.app:app_from_env`: uvicorn's defaults are unsafe for
this service and easy to forget on a command line.

* Proxy headers: uvicorn trusts `X-Forwarded-For` from 127.0.0.1 unless told otherwise, so any local client
  (or a sidecar on the same host) could name its own address and rotate past the per-client rate limit. Here
  they are off unless `GQA_FORWARDED_ALLOW_IPS` names the load balancer.
* Header size: with httptools (installed with uvicorn[standard]) there is no bound on the request line and
  headers; h11 buffers at most `GQA_MAX_HEADER_BYTES` of an incomplete request head and then answers 400.
* Connections: `GQA_LIMIT_CONCURRENCY` caps open connections plus tasks (uvicorn answers 503 beyond it), so
  slow or idle clients cannot pile up without bound; `GQA_TIMEOUT_KEEP_ALIVE_S` closes idle keep-alive ones.

A slow client trickling its request head is bounded only by the concurrency cap; a front proxy with header
and body read timeouts (docs/operations.md) is what removes it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from config import InvalidSettings
from service.settings import Settings, get_settings

APP = "service.app:app_from_env"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments for `uvicorn.run` that carry the service's limits (tested without a server)."""
    trusted = [ip.strip() for ip in settings.forwarded_allow_ips.split(",") if ip.strip()]
    return {
        "factory": True,
        "http": "h11",  # h11 enforces the header-size bound; httptools has none
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted) if trusted else "",
        "limit_concurrency": settings.limit_concurrency if settings.limit_concurrency > 0 else None,
        "timeout_keep_alive": settings.timeout_keep_alive_s,
        "server_header": False,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.serve",
        description="Serve guideline-qa with uvicorn and the limits in docs/operations.md (GQA_* settings).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info", help="uvicorn's own log level")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until stopped; exit 2 at once, with one line naming the variable, on an invalid setting."""
    import uvicorn

    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except InvalidSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(APP, host=args.host, port=args.port, log_level=args.log_level, **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
