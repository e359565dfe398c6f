"""The source dialog shows where in a PDF/HTML guideline a cited passage is: page label, recommendation
number and grade (a real service over a store ingested from PDF + HTML files, a real browser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProcess, run_ingest
from tests.e2e.conftest import WidgetPage
from tests.ingest import format_fixtures as fx

QUESTION = "Which diuretic is preferred for hypertension and why?"


@pytest.fixture(scope="module")
def formats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("formats-corpus")
    fx.write_pdf(root / "htn.pdf")
    (root / "htn.meta.yaml").write_text(
        "id: htn_pdf\ntype: guideline\norganisation: ACC/AHA\nyear: 2017\nsource: ACC/AHA 2017\n"
    )
    store = tmp_path_factory.mktemp("formats-store")
    run_ingest(store, root)
    srv = ServerProcess({"GQA_STORE_DIR": str(store), "GQA_RATE_LIMIT_PER_MINUTE": "0"})
    try:
        srv.wait_ready()
        yield srv.url
    finally:
        srv.stop()


def test_source_dialog_shows_page_recommendation_and_grade(open_page, formats_url: str) -> None:
    page = open_page(formats_url + "/")
    answer, turn = WidgetPage(page).ask(QUESTION)
    assert answer["citations"], answer
    graded = [c for c in answer["citations"] if c.get("rec")]
    assert graded, answer["citations"]
    cited = graded[0]
    assert cited["page"].startswith("e5") and cited["grade"].startswith("Class")
    turn.locator(f'.gqa-answer .gqa-cite[data-n="{cited["n"]}"]').first.click()
    dialog = page.locator("dialog.gqa-dialog")
    expect(dialog).to_be_visible()
    locator = dialog.locator(".gqa-dialog-locator")
    expect(locator).to_have_text(f"p. {cited['page']} · Rec {cited['rec']} · {cited['grade']}")
    expect(turn.locator(".gqa-sources li").nth(cited["n"] - 1)).to_contain_text(f"Rec {cited['rec']}")
