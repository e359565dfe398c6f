"""How LLM calls leave the process: on one private event loop, with a hard wall-clock deadline and a small
bound on how many run at once.

Why not the request's own thread with a client timeout: HTTP client timeouts apply per connect or per
read, so a server that trickles one byte every 0.2 s never trips them and holds the thread for as long as it
likes (86 s with a 3 s timeout, issue 12). Here every call is a coroutine cancelled by `asyncio.timeout` at
the deadline, whatever the server does, and cancelling it closes the connection. The request thread only
waits on the coroutine's future, at most until the same deadline.

Why a bound of its own: the request threads are shared with /healthz, /readyz, /metrics and red-flag
answers. At most `max_concurrency` of them can be waiting on the LLM; a request that finds every slot taken
gets `llm_busy` at once and answers extractively instead of queueing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import AsyncIterator

import httpx

MAX_REPLY_BYTES = 256 * 1024  # a 400-token reply is a few KB; more is a broken or hostile server
BACKSTOP_S = 0.25  # the waiting thread's margin over the coroutine's own deadline; never normally reached


class TransportFailed(RuntimeError):
    """A call did not produce a JSON reply; `code` is a fallback category, `detail` is for the log only."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class LLMTransport:
    """POSTs JSON to one OpenAI-compatible base URL from a daemon thread's event loop."""

    def __init__(self, base_url: str, api_key: str | None, max_concurrency: int):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key or 'not-needed'}"}
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._start = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        """The loop and its client, started on first use (an app without LLM traffic starts no thread)."""
        with self._start:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="llm-transport", daemon=True).start()
                self._client = asyncio.run_coroutine_threadsafe(self._new_client(), loop).result()
                self._loop = loop
        return self._loop

    @staticmethod
    async def _new_client() -> httpx.AsyncClient:
        # httpx's own timeouts stay off: the deadline below covers connect, write and every read at once.
        return httpx.AsyncClient(timeout=None, follow_redirects=False, trust_env=False)

    def post_json(self, path: str, payload: dict, seconds: float) -> dict:
        """The decoded JSON reply of `POST base_url + path`, or TransportFailed within `seconds`."""
        if seconds <= 0:
            raise TransportFailed("llm_timeout", "no time left in the request's LLM deadline")
        if not self._slots.acquire(blocking=False):
            raise TransportFailed("llm_busy", "every LLM slot is in use")
        try:
            loop = self._ensure_loop()
        except Exception:
            self._slots.release()
            raise
        future = asyncio.run_coroutine_threadsafe(self._deadlined(path, payload, seconds), loop)
        future.add_done_callback(lambda _: self._slots.release())  # freed when the call really ends
        try:
            return future.result(timeout=seconds + BACKSTOP_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TransportFailed("llm_timeout", f"no reply within {seconds:.2f}s (backstop)") from exc
        except concurrent.futures.CancelledError as exc:
            raise TransportFailed("llm_timeout", "the call was cancelled") from exc

    async def _deadlined(self, path: str, payload: dict, seconds: float) -> dict:
        try:
            async with asyncio.timeout(seconds):
                return await self._post(path, payload)
        except TimeoutError as exc:
            raise TransportFailed("llm_timeout", f"no complete reply within {seconds:.2f}s") from exc

    async def _post(self, path: str, payload: dict) -> dict:
        assert self._client is not None
        try:
            async with self._client.stream(
                "POST", self.base_url + path, json=payload, headers=self._headers
            ) as response:
                body = await _read_capped(response.aiter_bytes(), MAX_REPLY_BYTES)
        except httpx.ConnectError as exc:
            raise TransportFailed("llm_unreachable", f"cannot connect: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise TransportFailed("llm_error", f"transport error: {exc!r}") from exc
        if response.status_code >= 400:
            raise TransportFailed("llm_error", f"HTTP {response.status_code}: {body[:200]!r}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise TransportFailed("llm_error", f"reply is not JSON: {body[:200]!r}") from exc


async def _read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, refusing one larger than `limit` bytes before it is all in memory."""
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise TransportFailed("llm_error", f"reply larger than {limit} bytes")
    return bytes(data)

