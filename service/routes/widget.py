"""The chat widget and its demo page: `GET /` (the seed article with the widget), `/widget.js`, `/widget.css`.

Everything the browser loads comes from service/static/ through these routes — no CDN, no web fonts — so the
widget works on a hospital network that blocks third parties. The demo page renders the seed article from
corpus/ itself (Markdown with raw HTML disabled), so what the page shows is what the index answers from.
A strict Content-Security-Policy on the page is a second line of defence behind the widget's text-only
rendering: even injected markup could not run script there.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from markdown_it import MarkdownIt

from ingest.documents import load_documents
from service.settings import PROJECT_ROOT

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CORPUS_DIR = PROJECT_ROOT / "corpus"
DEMO_ARTICLE_ID = "vertebroplasty_increased_pain_2025"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}

router = APIRouter(tags=["widget"], include_in_schema=False)


def _article_parts(path: Path) -> dict[str, str]:
    """Template values for the demo page: escaped metadata and the article body rendered without raw HTML."""
    if not path.is_file():
        return {
            "type": "article",
            "title": "Article not available",
            "meta": "",
            "body": "<p>The demo article is missing from corpus/; the question box below still works.</p>",
            "source": "",
        }
    loaded = load_documents([path])
    if not loaded.documents:  # invalid article file: same message as a missing one, never a 500
        return _article_parts(path.with_suffix(".missing"))
    doc = loaded.documents[0]
    post = {"title": doc.title, **doc.meta}
    lines = doc.body.lstrip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]  # the title is shown in the page header
    meta = [str(post.get("organisation") or post.get("journal") or ""), str(post.get("year") or "")]
    if post.get("updated"):
        meta.append(f"updated {post['updated']}")
    return {
        "type": html.escape(str(post.get("type") or "article").replace("_", " ")),
        "title": html.escape(str(post.get("title") or path.stem)),
        "meta": html.escape(" · ".join(m for m in meta if m)),
        "body": MarkdownIt("js-default").render("\n".join(lines)),
        "source": html.escape(str(post.get("source") or "")),
    }


@lru_cache(maxsize=4)
def _demo_page(article_path: Path, mtime: float, template_mtime: float) -> str:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    values = {**_article_parts(article_path), "article_id": html.escape(article_path.stem)}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), ""), page)  # one pass: no re-expansion


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@router.get("/", response_class=HTMLResponse)
def demo_page() -> HTMLResponse:
    article = CORPUS_DIR / f"{DEMO_ARTICLE_ID}.md"
    page = _demo_page(article, _mtime(article), _mtime(STATIC_DIR / "index.html"))
    return HTMLResponse(page, headers=PAGE_HEADERS)


def _asset(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix), headers=ASSET_HEADERS)


@router.get("/widget.js")
def widget_js() -> FileResponse:
    return _asset("widget.js")


@router.get("/widget.css")
def widget_css() -> FileResponse:
    return _asset("widget.css")


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """Files directly in service/static/ (no sub-paths, so nothing outside it can be named)."""
    if name.startswith(".") or name == "index.html" or name not in {p.name for p in STATIC_DIR.iterdir()}:
        raise HTTPException(404, f"no static file {name!r}")
    return _asset(name)
