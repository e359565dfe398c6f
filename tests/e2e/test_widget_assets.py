"""The widget's files over HTTP: self-hosted, correctly typed, the demo page locked down by its CSP."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_demo_page_presents_the_seed_article_with_the_widget(base_url):
    page = httpx.get(base_url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.text
    assert "<h1>Management of Increased Pain After Vertebroplasty</h1>" in html
    assert "<h2>Red Flags Requiring Emergency Intervention</h2>" in html
    assert 'data-article-id="vertebroplasty_increased_pain_2025"' in html
    assert "{{" not in html, "an unfilled template placeholder"
    external = re.findall(r'(?:src|href)="(https?:)?//', html)
    assert not external, "the page must not load anything from another host"


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/widget.js", "text/javascript"), ("/widget.css", "text/css"), ("/static/article.css", "text/css"),
     ("/static/favicon.svg", "image/svg+xml")],
)
def test_assets_are_served_with_their_types(base_url, path, kind):
    response = httpx.get(base_url + path, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "@import" not in response.text and "fonts.googleapis" not in response.text


@pytest.mark.parametrize(
    "path", ["/static/index.html", "/static/..%2Fapp.py", "/static/.hidden", "/static/nope.js"]
)
def test_only_files_in_static_are_served(base_url, path):
    assert httpx.get(base_url + path, timeout=10).status_code == 404


def test_widget_routes_stay_out_of_the_api_schema(base_url):
    paths = httpx.get(base_url + "/openapi.json", timeout=10).json()["paths"]
    assert "/v1/feedback" in paths
    assert not {"/", "/widget.js", "/widget.css", "/static/{name}"} & set(paths)
