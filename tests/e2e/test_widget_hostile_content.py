"""Markup inside the corpus and inside a model's answer reaches the clinician as text, never as HTML.

A one-document corpus whose title, organisation, section, source and sentences carry HTML and script, served
with the LLM path on (a stand-in chat-completions server that quotes passages verbatim, so the model output
carries the markup too). The answer, the sources list and the passage dialog must show the markup literally,
create no elements from it, and run none of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProcess, run_ingest
from tests.e2e.conftest import WidgetPage
from tests.support.fake_llm import FakeLLM

pytestmark = pytest.mark.e2e

IMG = '<img src=x onerror="window.__pwned=1">'
HOSTILE_DOC = f"""---
id: hostile_cement_review
title: 'Cement leakage {IMG} review'
type: guideline
organisation: "<b>Bold</b> Society of Vertebral Augmentation"
year: 2024
source: "<script>window.__pwned=2</script> Journal of Cement, 2024."
---
# Cement leakage review

## Cement leakage <svg onload="window.__pwned=3"></svg> after vertebroplasty

Cement leakage after vertebroplasty {IMG} is found in many patients and most leaks cause no symptoms.
Leaked cement <iframe src="javascript:window.__pwned=4"></iframe> should be looked for with CT.
"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory) -> Iterator[ServerProcess]:
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    (corpus / "hostile_cement_review.md").write_text(HOSTILE_DOC)
    store = tmp_path_factory.mktemp("hostile-store")
    run_ingest(store, corpus)
    (store / "feedback.sqlite3").mkdir()  # and a feedback store that cannot be written (see the last test)
    with FakeLLM() as llm:
        server = ServerProcess(
            {
                "GQA_STORE_DIR": str(store),
                "GQA_LLM_BASE_URL": llm.base_url,
                "GQA_LLM_MODEL": "good",
                "GQA_RATE_LIMIT_PER_MINUTE": "0",
            }
        )
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


def test_markup_from_corpus_and_model_is_shown_as_text(open_page, hostile_server: ServerProcess):
    page = open_page(hostile_server.url + "/")
    answer, turn = WidgetPage(page).ask("How common is cement leakage after vertebroplasty?")
    assert answer["mode"] in ("llm", "extractive") and "<img" in answer["answer"], answer
    expect(turn.locator(".gqa-answer")).to_contain_text(IMG)
    expect(turn.locator(".gqa-sources")).to_contain_text(f"Cement leakage {IMG} review")
    expect(turn.locator(".gqa-sources")).to_contain_text("<b>Bold</b> Society")

    turn.locator(".gqa-answer .gqa-cite").first.click()
    dialog = page.locator("dialog.gqa-dialog")
    expect(dialog.locator(".gqa-dialog-title")).to_have_text(f"Cement leakage {IMG} review")
    expect(dialog.locator(".gqa-dialog-meta")).to_contain_text("<b>Bold</b> Society")
    expect(dialog.locator(".gqa-dialog-source")).to_contain_text("<script>window.__pwned=2</script>")
    expect(dialog.locator(".gqa-passage")).to_contain_text(IMG)

    injected = page.locator(".gqa img, .gqa b, .gqa script, .gqa iframe, .gqa svg:not(.gqa-thumb svg)")
    assert injected.count() == 0
    page.wait_for_timeout(200)  # give any onerror/onload a chance to run
    assert page.evaluate("window.__pwned") is None


def test_feedback_that_cannot_be_stored_is_reported(open_page, hostile_server: ServerProcess):
    page = open_page(hostile_server.url + "/")
    _, turn = WidgetPage(page).ask("How common is cement leakage after vertebroplasty?")
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as posted:
        turn.get_by_role("button", name="Helpful", exact=True).click()
    assert posted.value.status == 503
    expect(turn.locator(".gqa-feedback-note")).to_have_text(
        "Your feedback could not be saved: the service answered with error 503. Please try again."
    )
