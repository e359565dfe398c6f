"""Browser fixtures: one headless Debian chromium per session (Playwright), a fresh context per test.

Chromium comes from apt (`apt-get install -y chromium chromium-driver`), not `playwright install`: the machine
has no route to Playwright's CDN, and the Debian build is what CI installs. A failing test leaves a full-page
screenshot in test-artifacts/e2e/<test>.png; JavaScript errors and CSP violations fail their test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="package")  # stopped on leaving tests/e2e: its event loop breaks asyncio.run later
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found: sudo apt-get install -y chromium chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def parse_answer(response: Response) -> dict:
    """The AskResponse a request returned: the stream's `final` event, or the plain JSON of /v1/ask."""
    body = response.text()
    if "text/event-stream" not in (response.headers.get("content-type") or ""):
        return json.loads(body)
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        if "event: final" in lines:
            return json.loads("\n".join(line[6:] for line in lines if line.startswith("data: ")))
    raise AssertionError(f"stream without a final event:\n{body[:2000]}")


class WidgetPage:
    """The widget as a clinician uses it: type, press Enter, read the newest answer."""

    def __init__(self, page: Page):
        self.page = page
        self.input = page.get_by_label("Your question")

    def ask(self, question: str) -> tuple[dict, object]:
        """Ask with the Enter key; returns (the service's answer, the answer's turn locator) once rendered."""
        turns = self.page.locator(".gqa-bot")
        before = turns.count()
        self.input.fill(question)
        with self.page.expect_response(lambda r: "/v1/ask" in r.url, timeout=30_000) as info:
            self.input.press("Enter")
        answer = parse_answer(info.value)
        turn = turns.nth(before)
        expect(turn).to_have_attribute("data-answer-id", answer["answer_id"], timeout=15_000)
        return answer, turn


@pytest.fixture
def open_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """Open pages in a fresh context (`open_page(url, viewport=PHONE)`); screenshot them if the test fails."""
    contexts = []
    pages: list[Page] = []
    errors: list[str] = []

    def _open(url: str | None = None, viewport: dict = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport, locale="en-GB")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(  # the page's CSP must never have to block anything the widget itself does
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("dialog", lambda d: (errors.append(f"JS dialog opened: {d.message}"), d.dismiss()))
        if url:
            page.goto(url)
        pages.append(page)
        return page

    yield _open
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            try:
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{i}.png", full_page=True)
            except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the real failure
                print(f"screenshot failed: {exc}")
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def review_screenshot(page: Page, name: str, **kwargs) -> None:
    """Screenshots kept on success too, for a human look at the layout (test-artifacts/ is not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"review-{name}.png", **kwargs)
