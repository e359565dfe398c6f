"""The chat widget in a real headless chromium against a real service over the shipped corpus.

Each test is what a clinician does on the article page: ask, read the cited answer, open a source, follow
up, meet the red-flag banner or an abstention, rate an answer, and (by keyboard or on a phone) do the same.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import free_port
from tests.e2e.conftest import PHONE, WidgetPage, review_screenshot

pytestmark = pytest.mark.e2e

SEED_QUESTION = "What imaging is needed when pain gets worse after vertebroplasty?"
RED_FLAG_QUESTION = "new leg weakness and urinary retention since this morning after vertebroplasty"
OUT_OF_SCOPE = "How much amoxicillin should a child with acute otitis media receive?"
INJECTION = '<img src=x onerror="window.__pwned=1;alert(1)"><b>bold</b><script>window.__pwned=2</script>'


def answered(answer: dict) -> None:
    assert answer["mode"] in ("extractive", "llm"), answer
    assert answer["citations"], answer


def test_cited_answer_streams_and_opens_its_source(open_page, base_url):
    page = open_page(base_url + "/")
    expect(page.get_by_role("heading", name="Have a follow-up question?")).to_be_visible()
    expect(page.locator(".gqa-disclaimer")).to_contain_text("healthcare professionals")
    expect(page.get_by_role("button", name="New chat")).to_be_hidden()
    review_screenshot(page, "desktop-empty", full_page=False)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/" in r.url else None)

    answer, turn = WidgetPage(page).ask(SEED_QUESTION)
    answered(answer)
    paths = [u.rsplit("/", 2)[-2:] for u in requests]
    assert paths == [["ask", "stream"]], "the answer did not come by streaming"

    by_n = {c["n"]: c for c in answer["citations"]}
    markers = turn.locator(".gqa-answer .gqa-cite")
    assert markers.count() >= 1
    for i in range(markers.count()):
        assert int(markers.nth(i).get_attribute("data-n")) in by_n
    sources = turn.locator(".gqa-sources li")
    expect(sources).to_have_count(len(answer["citations"]))
    expect(sources.first).to_contain_text(answer["citations"][0]["title"])
    shown = turn.locator(".gqa-answer").inner_text()
    assert shown.replace(" ", "") == answer["answer"].replace(" ", ""), "shown text differs from the answer"

    first = markers.first
    cited = by_n[int(first.get_attribute("data-n"))]
    first.click()
    dialog = page.locator("dialog.gqa-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".gqa-dialog-title")).to_have_text(cited["title"])
    section = cited["section"].removeprefix(cited["title"] + " › ")
    expect(dialog.locator(".gqa-dialog-section")).to_have_text(section)
    expect(dialog.locator(".gqa-dialog-meta")).to_contain_text(cited["organisation"])
    expect(dialog.locator(".gqa-dialog-meta")).to_contain_text(str(cited["year"]))
    # what kind of source it is and whether it has been reviewed ("AI-generated answer page, 2025, pending
    # review"); every shipped document states it
    assert cited["provenance"], cited
    expect(dialog.locator(".gqa-dialog-provenance")).to_have_text(cited["provenance"])
    if cited.get("attribution"):
        expect(dialog.locator(".gqa-dialog-attribution")).to_contain_text(cited["attribution"])
    else:
        expect(dialog.locator(".gqa-dialog-attribution")).to_have_count(0)
    expect(dialog.locator(".gqa-passage")).to_have_text(cited["text"])
    assert dialog.locator(".gqa-passage mark").count() >= 1, "the quoted sentence is not highlighted"
    review_screenshot(page, "desktop-source-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(first).to_be_focused()

    turn.locator(".gqa-sources .gqa-source").last.click()
    expect(dialog.locator(".gqa-dialog-title")).to_have_text(answer["citations"][-1]["title"])
    dialog.get_by_role("button", name="Close source").click()
    expect(dialog).to_be_hidden()
    review_screenshot(page, "desktop-answer", full_page=False)


def test_follow_up_is_answered_from_the_conversation(open_page, base_url):
    page = open_page(base_url + "/")
    widget = WidgetPage(page)
    opening = "I suspect a new adjacent fracture after vertebroplasty. Should I get an MRI?"
    first, _ = widget.ask(opening)
    answered(first)
    with page.expect_request(lambda r: "/v1/ask" in r.url) as sent:
        follow_up, turn = widget.ask("And which sequences should be requested?")
    history = json.loads(sent.value.post_data)["history"]
    assert history == [
        {"role": "user", "content": opening},
        {"role": "assistant", "content": first["answer"]},
    ]
    answered(follow_up)
    assert "STIR" in follow_up["answer"], follow_up["answer"]
    expect(turn.locator(".gqa-answer")).to_contain_text("STIR")
    expect(page.locator(".gqa-user")).to_have_count(2)
    expect(page.get_by_role("button", name="Ask")).to_be_in_viewport()  # the box never outgrows the window
    review_screenshot(page, "desktop-conversation", full_page=False)

    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".gqa-turn")).to_have_count(0)
    with page.expect_request(lambda r: "/v1/ask" in r.url) as sent:
        widget.ask(SEED_QUESTION)
    assert json.loads(sent.value.post_data)["history"] == []


def test_red_flag_is_an_emergency_banner_without_sources(open_page, base_url):
    page = open_page(base_url + "/")
    answer, turn = WidgetPage(page).ask(RED_FLAG_QUESTION)
    assert answer["mode"] == "red_flag" and answer["red_flag"], answer
    banner = turn.get_by_role("alert")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Emergency")
    guidance_lines = [line.strip() for line in answer["red_flag"]["guidance"].splitlines() if line.strip()]
    heading = guidance_lines[0].lstrip("#").strip()
    expect(banner.locator(".gqa-guidance-heading")).to_have_text(heading)
    step = next(line for line in guidance_lines if line[:2] == "1.")
    expect(banner.locator("li").first).to_have_text(step[2:].strip())
    expect(turn.locator(".gqa-sources")).to_have_count(0)
    expect(turn.locator(".gqa-cite")).to_have_count(0)
    kicker = banner.locator(".gqa-redflag-kicker")
    assert kicker.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(164, 22, 26)"
    expect(kicker).to_be_in_viewport()  # the banner is shown from its top, not scrolled past
    review_screenshot(page, "desktop-red-flag", full_page=False)


RED_FLAG_WITH_QUESTION = ("sats 84% on air and RR 34 since the cement went in an hour ago - "
                          "how common is pulmonary cement embolism after vertebroplasty?")


def test_red_flag_with_a_guideline_question_shows_its_answer_collapsed_below(open_page, base_url):
    page = open_page(base_url + "/")
    answer, turn = WidgetPage(page).ask(RED_FLAG_WITH_QUESTION)
    assert answer["mode"] == "red_flag" and answer["related_answer"], answer
    related = answer["related_answer"]
    assert related["mode"] == "extractive" and related["citations"] and related["sentences"]
    banner = turn.get_by_role("alert")
    expect(banner).to_be_visible()
    details = turn.locator("details.gqa-related")
    expect(details).to_have_count(1)
    assert details.evaluate("d => d.open") is False  # collapsed: the emergency guidance comes first
    after = "b => b.compareDocumentPosition(document.querySelector('details.gqa-related'))"
    assert banner.evaluate(after) & 4
    expect(details.locator(".gqa-answer")).not_to_be_visible()
    details.locator("summary").click()
    expect(details.locator(".gqa-answer")).to_be_visible()
    expect(details.locator(".gqa-sources li")).to_have_count(len(related["citations"]))
    review_screenshot(page, "desktop-red-flag-related", full_page=False)


def test_abstention_says_plainly_it_is_not_covered(open_page, base_url):
    page = open_page(base_url + "/")
    answer, turn = WidgetPage(page).ask(OUT_OF_SCOPE)
    assert answer["mode"] == "abstain", answer
    expect(turn.locator(".gqa-abstain")).to_contain_text("Not covered by this guideline content")
    said = turn.locator(".gqa-abstain-text").inner_text()
    assert "does not cover" in said and answer["answer"].startswith(said), said
    expect(turn.locator(".gqa-topics .gqa-chip")).to_have_count(len(answer["closest_topics"]))
    expect(turn.locator(".gqa-sources")).to_have_count(0)
    review_screenshot(page, "desktop-abstain", full_page=False)


def test_feedback_with_comment_is_stored(open_page, base_url, corpus_store: Path):
    page = open_page(base_url + "/")
    answer, turn = WidgetPage(page).ask(SEED_QUESTION)
    answered(answer)
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as posted:
        turn.get_by_role("button", name="Not helpful").click()
    assert posted.value.status == 201
    expect(turn.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    expect(turn.locator(".gqa-feedback-note")).to_contain_text("feedback recorded")
    turn.get_by_label("Comment on this answer (optional)").fill("Should mention the neurological exam.")
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as posted:
        turn.get_by_role("button", name="Send comment").click()
    assert posted.value.status == 201
    expect(turn.locator(".gqa-feedback-note")).to_contain_text("comment was recorded")

    with sqlite3.connect(corpus_store / "feedback.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM feedback WHERE answer_id = ?", (answer["answer_id"],)).fetchone()
    assert row is not None
    assert (row["rating"], row["comment"]) == ("down", "Should mention the neurological exam.")
    assert (row["question"], row["answer"]) == (SEED_QUESTION, answer["answer"])
    assert json.loads(row["citations"]) == answer["citations"]
    assert row["index_version"] == answer["index_version"] and row["mode"] == answer["mode"]
    assert row["article_id"] == "vertebroplasty_increased_pain_2025"


def test_html_in_a_question_is_shown_as_text(open_page, base_url):
    page = open_page(base_url + "/")
    answer, turn = WidgetPage(page).ask(INJECTION)
    expect(page.locator(".gqa-user .gqa-text")).to_have_text(INJECTION)
    assert page.locator(".gqa img, .gqa b, .gqa script:not([src])").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(turn).to_contain_text(answer["answer"].split("\n")[0][:60])


def test_keyboard_only_ask_cite_and_close(open_page, base_url):
    page = open_page(base_url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the follow-up question box")).to_be_focused()
    box = page.get_by_label("Your question")
    for _ in range(10):
        if box.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(box).to_be_focused()
    page.keyboard.type("Which MRI sequences show")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("a new acute fracture?")
    assert box.input_value() == "Which MRI sequences show\na new acute fracture?"
    assert page.locator(".gqa-bot").count() == 0, "Shift+Enter must not send"
    with page.expect_response(lambda r: "/v1/ask" in r.url):
        page.keyboard.press("Enter")
    turn = page.locator(".gqa-bot").first
    expect(turn.locator(".gqa-sources")).to_be_visible()
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    cite = turn.locator(".gqa-answer .gqa-cite").first
    for _ in range(40):
        if cite.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Shift+Tab")
    expect(cite).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.gqa-dialog")).to_be_visible()
    expect(page.get_by_role("button", name="Close source")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("dialog.gqa-dialog")).to_be_hidden()
    expect(cite).to_be_focused()


def test_phone_width_has_no_sideways_scroll(open_page, base_url):
    page = open_page(base_url + "/", viewport=PHONE)
    answer, turn = WidgetPage(page).ask(SEED_QUESTION)
    answered(answer)
    width = PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in (".gqa", ".gqa-send", ".gqa-input", ".gqa-sources"):
        box = page.locator(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    turn.scroll_into_view_if_needed()
    review_screenshot(page, "phone-answer", full_page=False)
    turn.locator(".gqa-cite").first.click()
    dialog = page.locator("dialog.gqa-dialog")
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    review_screenshot(page, "phone-source-dialog", full_page=False)
    page.keyboard.press("Escape")
    answer, turn = WidgetPage(page).ask(RED_FLAG_QUESTION)
    expect(turn.get_by_role("alert")).to_be_visible()
    expect(turn.locator(".gqa-redflag-kicker")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    review_screenshot(page, "phone-red-flag", full_page=False)


def _embed(page, base_url: str, api_base: str, timeout_ms: int = 30_000) -> None:
    """The widget embedded in a foreign page by the usual async snippet, talking to `api_base`."""
    page.set_content("<main><h1>Some article</h1><div id='slot'></div></main>")
    page.evaluate(
        """([src, api, timeout]) => {
            const s = document.createElement("script");
            s.src = src;
            Object.assign(s.dataset, {articleId: "x", target: "#slot", apiBase: api, timeoutMs: timeout});
            document.body.appendChild(s);
        }""",
        [base_url + "/widget.js", api_base, str(timeout_ms)],
    )
    expect(page.locator("#slot .gqa")).to_be_visible()


def test_the_widget_applies_the_limits_the_service_serves(open_page, base_url):
    """widget.js keeps no copy of the request limits: what GET /v1/limits says is what the box accepts and
    what is sent (served limits smaller than the defaults here, so a copy would show)."""
    page = open_page()
    served = {"max_question_chars": 40, "max_turn_chars": 60, "max_history_turns": 2, "max_comment_chars": 30}
    page.route("**/v1/limits", lambda route: route.fulfill(json=served))
    page.goto(base_url + "/")
    box = page.get_by_label("Your question")
    expect(box).to_have_attribute("maxlength", "40")
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/v1/ask/stream") else None)
    widget = WidgetPage(page)
    for question in (SEED_QUESTION, "Is it common?", "How is it confirmed?"):
        widget.ask(question)
    assert [len(body["history"]) for body in sent] == [0, 2, 2]
    assert all(len(t["content"]) <= 60 for body in sent for t in body["history"])
    assert all(len(body["question"]) <= 40 for body in sent)
    expect(page.locator(".gqa-comment").last).to_have_attribute("maxlength", "30")


def test_service_down_is_said_in_plain_words(open_page, base_url):
    page = open_page()
    _embed(page, base_url, f"http://127.0.0.1:{free_port()}")
    page.get_by_label("Your question").fill(SEED_QUESTION)
    page.get_by_label("Your question").press("Enter")
    error = page.locator(".gqa-error")
    expect(error).to_contain_text("Cannot reach the answering service")
    expect(error.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.get_by_role("button", name="Ask")).to_be_enabled()
    review_screenshot(page, "embedded-service-down", full_page=False)


def test_a_hung_service_times_out_with_a_message(open_page, base_url):
    with socket.socket() as hung:  # accepts connections (kernel backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        page = open_page()
        _embed(page, base_url, f"http://127.0.0.1:{hung.getsockname()[1]}", timeout_ms=1500)
        page.get_by_label("Your question").fill(SEED_QUESTION)
        page.get_by_role("button", name="Ask").click()
        expect(page.get_by_role("button", name="Asking…")).to_be_disabled()
        expect(page.locator(".gqa-status")).to_contain_text("Searching the guidelines")
        expect(page.locator(".gqa-error")).to_contain_text("took too long", timeout=10_000)


class _StreamMangler(BaseHTTPRequestHandler):
    """A proxy in front of the real service that mangles its event streams; all else passes through.

    Stands in for the network elements between a hospital browser and the service: `cut` drops the stream
    after its first event (a buffering or timing-out proxy); `trickle` re-sends it with CRLF line ends in
    pieces that split every "\r\n" pair and every multi-byte character across separate reads.
    """

    upstream = ""
    mode = "cut"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        with httpx.stream(method, self.upstream + self.path, content=body, headers=headers, timeout=30) as up:
            self.send_response(up.status_code)
            for name in ("content-type", "content-security-policy"):
                if name in up.headers:
                    self.send_header(name, up.headers[name])
            self.end_headers()
            if not self.path.endswith("/v1/ask/stream"):
                for chunk in up.iter_bytes():
                    self.wfile.write(chunk)
            elif self.mode == "cut":
                first_event = next(up.iter_text()).split("\n\n")[0] + "\n\n"
                self.wfile.write(first_event.encode())  # HTTP/1.0: closing ends the body, no final event
            else:
                data = up.read().decode().replace("\n", "\r\n").encode()
                for piece in re.split(rb"(?<=\r)|(?<=[\xc0-\xff])", data):  # after CR, inside characters
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(0.004)  # a pause, so the browser reads the pieces separately

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._forward("POST")


@contextmanager
def mangling_proxy(base_url: str, mode: str) -> Iterator[str]:
    handler = type("Proxy", (_StreamMangler,), {"upstream": base_url, "mode": mode})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_port}"
    finally:
        proxy.shutdown()
        proxy.server_close()


def _calls_to_api(page) -> list[str]:
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url.rsplit("/v1/", 1)[1]) if "/v1/" in r.url else None)
    return calls


def test_a_broken_stream_falls_back_to_the_plain_answer(open_page, base_url):
    with mangling_proxy(base_url, "cut") as url:
        page = open_page(url + "/")
        calls = _calls_to_api(page)
        box = page.get_by_label("Your question")
        box.fill(SEED_QUESTION)
        with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as plain:
            box.press("Enter")
        answer = plain.value.json()
        turn = page.locator(".gqa-bot").first
        expect(turn).to_have_attribute("data-answer-id", answer["answer_id"])
        assert calls == ["ask/stream", "ask"]
        shown = turn.locator(".gqa-answer").inner_text()
        assert shown.replace(" ", "") == answer["answer"].replace(" ", ""), "partial stream text left"
        expect(turn.locator(".gqa-sources li")).to_have_count(len(answer["citations"]))


def test_a_stream_split_anywhere_with_crlf_is_read_whole(open_page, base_url):
    with mangling_proxy(base_url, "trickle") as url:
        page = open_page(url + "/")
        calls = _calls_to_api(page)
        answer, turn = WidgetPage(page).ask(SEED_QUESTION)
        answered(answer)
        assert calls == ["ask/stream"], "the widget gave up on a valid stream"
        shown = turn.locator(".gqa-answer").inner_text()
        assert shown.replace(" ", "") == answer["answer"].replace(" ", "")
        expect(turn.locator(".gqa-sources li")).to_have_count(len(answer["citations"]))
        turn.locator(".gqa-cite").first.click()
        section = answer["citations"][0]["section"]
        expect(page.locator(".gqa-dialog-section")).to_contain_text(section.split(" › ")[-1])
