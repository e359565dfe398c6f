"""JATS XML (PubMed Central open access, .xml/.nxml) → Markdown with element anchors, via lxml (BSD).

`<sec>` nesting gives the section path and its `id` the anchor; `<p>`, `<list>`, `<boxed-text>` (where
guidelines put recommendations: a numeric `<label>` makes it a numbered recommendation), `<table-wrap>`
(rows under the header, label and caption kept as text), `<fig>` captions and `<disp-quote>` are read;
`<back>` (references) is not. Metadata from `<front>`: article-title, pub-date year, journal-title and
publisher-name, DOI, article-type ("practice-guideline" → guideline).

The parser resolves no entities, loads no DTD and touches no network. Refused: XML that does not parse,
and XML whose root is not `<article>` ("not JATS").
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from ingest.formats import Extracted, FormatError, MarkdownWriter, emit_paragraph
from ingest.formats.grades import recommendation

BLOCK_CHILDREN = {"list", "table-wrap", "boxed-text", "fig", "disp-quote", "def-list", "table-wrap-group"}


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _text(el) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def _first(root, path: str) -> str | None:
    found = root.xpath(path)
    if not found:
        return None
    value = found[0] if isinstance(found[0], str) else _text(found[0])
    return value.strip() or None


def _meta(root) -> dict:
    meta: dict = {}
    lname = "local-name()"
    if title := _first(root, f"//*[{lname}='article-meta']//*[{lname}='article-title']"):
        meta["title"] = title
    if year := _first(root, f"//*[{lname}='article-meta']//*[{lname}='pub-date']/*[{lname}='year']"):
        if re.fullmatch(r"\d{4}", year):
            meta["year"] = int(year)
    if journal := _first(root, f"//*[{lname}='journal-title']"):
        meta["journal"] = journal
    if publisher := _first(root, f"//*[{lname}='publisher-name']"):
        meta["organisation"] = publisher
    if doi := _first(root, f"//*[{lname}='article-meta']/*[{lname}='article-id'][@pub-id-type='doi']"):
        meta["source"] = f"https://doi.org/{doi}"
    kind = (root.get("article-type") or "").lower()
    if "guideline" in kind:
        meta["type"] = "guideline"
    elif kind in {"research-article", "review-article", "systematic-review"}:
        meta["type"] = "research"
    return meta


class _Walker:
    def __init__(self) -> None:
        self.out = MarkdownWriter()

    def section(self, sec, depth: int, anchor: str | None) -> None:
        anchor = sec.get("id") or anchor
        for child in sec:
            name = _local(child)
            if name == "title":
                self.out.heading(depth + 1, _text(child), anchor)
            elif name == "sec":
                self.section(child, depth + 1, anchor)
                self.out.anchor(anchor)
            else:
                self.block(child, anchor)

    def block(self, el, anchor: str | None, bullet: bool = False) -> None:
        name = _local(el)
        if name in {"label", "title"} and el.getparent() is not None and _local(el.getparent()) == "body":
            return
        if name == "p":
            inner = [c for c in el if _local(c) in BLOCK_CHILDREN]
            if inner:
                copy = etree.fromstring(etree.tostring(el))
                for c in list(copy):
                    if _local(c) in BLOCK_CHILDREN:
                        tail = c.tail
                        copy.remove(c)
                        if tail:
                            copy.text = (copy.text or "") + tail
                emit_paragraph(self.out, _text(copy), bullet=bullet)
                for c in inner:
                    self.block(c, anchor)
            else:
                emit_paragraph(self.out, _text(el), bullet=bullet)
        elif name == "list":
            for item in el:
                if _local(item) == "list-item":
                    for part in item:
                        self.block(part, anchor, bullet=_local(part) == "p")
        elif name == "boxed-text":
            self.out.anchor(el.get("id") or anchor)
            label = next((_text(c) for c in el if _local(c) == "label"), "")
            body = " ".join(_text(c) for c in el if _local(c) not in {"label", "caption"})
            found = recommendation(f"{label} {body}") if label else None
            if found:
                self.out.rec(*found)
            else:
                for c in el:
                    if _local(c) == "caption":
                        self.out.para(_text(c))
                    elif _local(c) != "label":
                        self.block(c, anchor)
            self.out.anchor(anchor)
        elif name in {"table-wrap", "fig"}:
            self.out.anchor(el.get("id") or anchor)
            label = next((_text(c) for c in el if _local(c) == "label"), "")
            caption = next((_text(c) for c in el if _local(c) == "caption"), "")
            if label or caption:
                self.out.para(f"{label}. {caption}".strip(". ") if label else caption)
            for table in el.iter("{*}table", "table"):
                rows = [
                    [_text(c) for c in tr if _local(c) in {"td", "th"}] for tr in table.iter("{*}tr", "tr")
                ]
                self.out.table(rows)
            self.out.anchor(anchor)
        elif name == "disp-quote":
            for c in el:
                self.block(c, anchor)
        elif name == "def-list":
            for item in el:
                if _local(item) == "def-item":
                    self.out.para(" — ".join(_text(c) for c in item))
        elif name == "sec":
            self.section(el, 1, anchor)


def extract(path: Path, raw: bytes) -> Extracted:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"not well-formed XML ({str(exc)[:160]})") from exc
    if root is None or _local(root) != "article":
        found = _local(root) if root is not None else "nothing"
        raise FormatError(f"XML that is not JATS (root element <{found}>, expected <article>)")
    meta = _meta(root)
    body = next((c for c in root if _local(c) == "body"), None)
    if body is None:
        raise FormatError("JATS article without a <body> (abstract-only records cannot be ingested)")
    walker = _Walker()
    for child in body:
        if _local(child) == "sec":
            walker.section(child, 1, None)
        else:
            walker.block(child, None)
    text = walker.out.text()
    if len(re.sub(r"[#*|\-\s]", "", text)) < 20:
        raise FormatError("JATS article body has no text")
    return Extracted(meta.get("title"), meta, text)
