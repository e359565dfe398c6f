"""A stand-in for a remote OpenAI-compatible LLM: a real HTTP server on 127.0.0.1 speaking chat-completions.

No LLM API is reachable from here, so the LLM path is tested against this server. The behaviour is chosen by
the request's `model` (set as GQA_LLM_MODEL), so one server serves every scenario:

* ``good``      — cites the first sentence of passages [1] and [2] of the prompt, verbatim: a valid answer.
* ``mixed``     — one good cited sentence, one uncited sentence and one citing [9]: only the first survives.
* ``uncited``   — sentences with no [n] at all.
* ``invented``  — every sentence cites [9], a passage that was never given.
* ``unsupported`` — cites [1] but states a dose that no passage contains.
* ``error500``  — HTTP 500.
* ``garbage``   — HTTP 200 with a body that is not JSON.
* ``hang``      — never answers within any sane timeout (until the server stops).
* ``trickle``   — a valid ``good`` reply, sent one byte every 0.2 s after the headers: each read succeeds in
  time, so only a whole-call deadline stops it (every call under this model trickles, condense included).
* any name given to ``FakeLLM.script(model, template)`` — that exact reply text, where ``{cite:phrase}``
  becomes the marker `[n]` of the first prompt passage containing `phrase` (`[1]` if none), so a test can
  make the model say a precise (wrong) thing about a precise passage whatever order retrieval chose.

Condense requests (their system prompt asks for a standalone question) get the conversation's last user turn
joined with the question, except under ``error500``/``hang``, which fail the same way for every call.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASSAGE = re.compile(r"^\[(\d+)\] [^\n]*\n(.+?)(?=\n\n\[\d+\] |\n\nQuestion: )", re.MULTILINE | re.DOTALL)
FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s|$)", re.DOTALL)


def passages_of(prompt: str) -> dict[int, str]:
    return {int(n): text.strip() for n, text in PASSAGE.findall(prompt)}


def first_sentence(text: str) -> str:
    match = FIRST_SENTENCE.match(text.strip())
    return (match.group(1) if match else text.strip()).strip()


def answer_for(scenario: str, prompt: str) -> str:
    passages = passages_of(prompt)
    first = first_sentence(passages.get(1, "The passages say nothing."))
    second = first_sentence(passages.get(2, passages.get(1, "")))
    if scenario == "good":
        return f"{first} [1] {second} [2]"
    if scenario == "mixed":
        return f"{first} [1]\nThis sentence has no source at all.\nAspirin cures everything [9]."
    if scenario == "uncited":
        return f"{first}\n{second}"
    if scenario == "invented":
        return f"{first} [9]. {second} [9]."
    if scenario == "unsupported":
        return "Give 750 mg of paracetamol every 2 hours and discharge the patient the same day [1]."
    return f"{first} [1]"


CITE = re.compile(r"\{cite:([^}]*)\}")


def scripted(template: str, prompt: str) -> str:
    """`template` with each `{cite:phrase}` replaced by the marker of the passage that contains `phrase`."""
    passages = passages_of(prompt)

    def number(match: re.Match) -> str:
        phrase = match.group(1).lower()
        return f"[{next((n for n, text in sorted(passages.items()) if phrase in text.lower()), 1)}]"

    return CITE.sub(number, template)


def condensed(prompt: str) -> str:
    users = re.findall(r"^user: (.+)$", prompt, re.MULTILINE)
    last = re.search(r"Last question: (.+)$", prompt, re.MULTILINE)
    return " ".join([*users[-1:], last.group(1) if last else ""]).strip()


class FakeLLM:
    """Start with `FakeLLM()`, use `.base_url`, stop with `.close()` (or as a context manager)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request, for deadline tests
        self.scripts: dict[str, str] = {}
        self.trickle_interval_s = 0.2
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                server.arrivals.append(time.monotonic())
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                scenario = body.get("model", "good")
                messages = body.get("messages", [])
                system = messages[0]["content"] if messages else ""
                prompt = messages[-1]["content"] if messages else ""
                if scenario == "hang":
                    server._release.wait(120)
                    return None
                if scenario == "error500":
                    return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                if scenario == "garbage":
                    return self._raw(200, b"<html>this is not json")
                if "standalone question" in system:
                    text = condensed(prompt)
                elif scenario in server.scripts:
                    text = scripted(server.scripts[scenario], prompt)
                else:
                    text = answer_for(scenario, prompt)
                if scenario == "trickle":
                    return self._trickle(json.dumps(completion(scenario, text)).encode())
                return self._send(200, completion(scenario, text))

            def _trickle(self, data: bytes) -> None:
                """Headers at once, then the body one byte at a time: no single read ever times out."""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.flush()
                    for i in range(len(data)):
                        if server._release.wait(server.trickle_interval_s):
                            return
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: dict) -> None:
                self._raw(status, json.dumps(payload).encode())

            def _raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, model: str, template: str) -> None:
        """Make `model` reply with `template` (see `scripted`) to every answer request."""
        self.scripts[model] = template

    def close(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def completion(model: str, text: str) -> dict:
    return {
        "id": f"chatcmpl-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
