"""HTML guidelines (NICE chapters, AHA/ACC in Circulation, society web pages) → Markdown with anchors.

Main content: the first of `<main>`, `[role=main]`, `<article>`, or a publisher content container (`#content`,
`.chapter`, `.article-body`…), else `<body>`; navigation, headers, footers, asides, forms and scripts are
dropped wherever they are. A page whose main content holds under MIN_TEXT_CHARS of text is refused ("no main
content"): a cookie wall, an index page or a login page is not a guideline.

The tree is walked with lxml (no network, no entities): headings give the section path, an element id the
anchor of what follows it, a `.recommendation`/`.rec` block a recommendation (its number and grade from
badge-like children or from its text: ingest/formats/grades.py), a table one line per row with its header.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.etree
import lxml.html

from ingest.formats import Extracted, FormatError, MarkdownWriter, emit_paragraph
from ingest.formats.grades import find_grade, recommendation

MIN_TEXT_CHARS = 200
DROP_TAGS = {
    "nav",
    "header",
    "footer",
    "aside",
    "script",
    "style",
    "noscript",
    "form",
    "button",
    "template",
    "svg",
    "iframe",
    "object",
    "select",
    "input",
    "head",
}
DROP_CLASS = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|breadcrumbs?|footer|header|cookie|banner|sidebar|"
    r"share|social|skip-link|toolbar|pagination)(?:$|[\s_-])",
    re.I,
)
REC_CLASS = re.compile(r"(?:^|\s)(?:rec|recommendation|recommendation-box|recs?-item)(?:$|\s)", re.I)
NUM_CLASS = re.compile(r"(?:^|[\s_-])(?:num|number|rec-num|label|rec-number)(?:$|[\s_-])", re.I)
GRADE_CLASS = re.compile(
    r"(?:^|[\s_-])(?:grade|badge|strength|cor|loe|level|certainty|evidence)(?:$|[\s_-])", re.I
)
MAIN_SELECTORS = (
    "//main",
    "//*[@role='main']",
    "//article",
    "//*[@id='content' or @id='main-content' or @id='maincontent']",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' chapter ')]",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' article-body ')]",
)
BLOCKS = {"p", "li", "dd", "dt", "pre", "blockquote", "figcaption", "caption", "td", "th"}


def _cls(el) -> str:
    return el.get("class") or ""


def _text(el) -> str:
    return re.sub(r"\s+", " ", el.text_content() if hasattr(el, "text_content") else "").strip()


def _dropped(el) -> bool:
    if not isinstance(el.tag, str):
        return True
    if el.tag in DROP_TAGS and not REC_CLASS.search(_cls(el)):
        return True
    if el.get("role") in {"navigation", "banner", "contentinfo", "search"} or el.get("aria-hidden") == "true":
        return True
    if el.get("hidden") is not None:
        return True
    return bool(DROP_CLASS.search(_cls(el))) and not REC_CLASS.search(_cls(el))


def _meta(doc) -> dict:
    def first(*names: str) -> str | None:
        for name in names:
            for el in doc.xpath("//meta[@name or @property]"):
                key = (el.get("name") or el.get("property") or "").lower()
                if key == name.lower() and (el.get("content") or "").strip():
                    return el.get("content").strip()
        return None

    meta: dict = {}
    if title := first("citation_title", "dc.title"):
        meta["title"] = title
    date = first("citation_publication_date", "citation_date", "dc.date", "article:published_time")
    if date and (year := re.search(r"\b(1[89]\d\d|20\d\d)\b", date)):
        meta["year"] = int(year.group(1))
    if org := first("citation_publisher", "dc.publisher", "citation_author_institution", "og:site_name"):
        meta["organisation"] = org
    if journal := first("citation_journal_title"):
        meta["journal"] = journal
    if doi := first("citation_doi", "dc.identifier"):
        meta["source"] = doi if not re.match(r"10\.\d", doi) else f"https://doi.org/{doi}"
    else:
        canonical = doc.xpath("//link[@rel='canonical']/@href")
        if canonical:
            meta["source"] = canonical[0].strip()
    if doc_id := first("gqa:id", "citation_id"):
        meta["id"] = doc_id
    if kind := first("gqa:type", "citation_article_type", "dc.type"):
        kind = kind.lower()
        meta["type"] = (
            "guideline"
            if "guideline" in kind
            else "research"
            if "research" in kind or "article" in kind
            else "guidance"
            if "guidance" in kind
            else kind
        )
    return meta


class _Walker:
    def __init__(self) -> None:
        self.out = MarkdownWriter()
        self.title: str | None = None

    def walk(self, el, anchor: str | None, tails: bool = False) -> None:
        """Children in order; a heading's id is the anchor of the siblings after it (flat HTML). `tails`:
        also the text after each child (inside a container; at the top level it is only whitespace)."""
        for child in el:
            if _dropped(child):
                continue
            self.element(child, anchor)
            if re.fullmatch(r"h[1-6]", child.tag.lower()) and child.get("id"):
                anchor = child.get("id")
            self.out.anchor(anchor)
            if tails and child.tail and child.tail.strip():
                self.out.para(child.tail)

    def element(self, el, anchor: str | None) -> None:
        tag = el.tag.lower()
        own = el.get("id")
        if REC_CLASS.search(_cls(el)):
            self.recommendation(el, own or anchor)
            return
        if re.fullmatch(r"h[1-6]", tag):
            text = _text(el)
            if tag == "h1" and self.title is None:
                self.title = text
            self.out.heading(int(tag[1]), text, own or anchor)
            return
        if own:
            self.out.anchor(own)
            anchor = own
        if tag == "table":
            self.table(el)
        elif tag in {"ul", "ol"}:
            for item in el:
                if isinstance(item.tag, str) and item.tag.lower() == "li" and not _dropped(item):
                    self.list_item(item, anchor)
        elif tag == "dl":
            term = None
            for item in el:
                if not isinstance(item.tag, str):
                    continue
                if item.tag.lower() == "dt":
                    term = _text(item)
                elif item.tag.lower() == "dd":
                    self.out.para(f"{term}: {_text(item)}" if term else _text(item))
        elif tag == "figure":
            for cap in el.iter("figcaption"):
                self.out.para(_text(cap))
            for table in el.iter("table"):
                self.table(table)
        elif tag in {"p", "pre", "blockquote"} or not any(
            isinstance(c.tag, str)
            and c.tag.lower()
            not in {
                "b",
                "strong",
                "i",
                "em",
                "span",
                "a",
                "sup",
                "sub",
                "br",
                "abbr",
                "code",
                "small",
                "mark",
                "u",
            }
            for c in el
        ):
            emit_paragraph(self.out, _text(el))
        else:
            if el.text and el.text.strip():
                self.out.para(el.text)
            self.walk(el, anchor, tails=True)

    def list_item(self, item, anchor: str | None) -> None:
        if REC_CLASS.search(_cls(item)):
            self.recommendation(item, item.get("id") or anchor)
            return
        nested = [c for c in item if isinstance(c.tag, str) and c.tag.lower() in {"ul", "ol", "table"}]
        if nested:
            copy = lxml.html.fromstring(lxml.html.tostring(item))
            for c in copy:
                if isinstance(c.tag, str) and c.tag.lower() in {"ul", "ol", "table"}:
                    c.drop_tree()
            emit_paragraph(self.out, _text(copy), bullet=True)
            for c in nested:
                self.element(c, anchor)
        else:
            emit_paragraph(self.out, _text(item), bullet=True)

    def recommendation(self, el, anchor: str | None) -> None:
        self.out.anchor(anchor)
        number = grade_parts = None
        copy = lxml.html.fromstring(lxml.html.tostring(el))
        grades: list[str] = []
        for child in list(copy.iter()):
            if child is copy or not isinstance(child.tag, str):
                continue
            cls = _cls(child)
            if number is None and NUM_CLASS.search(cls) and not GRADE_CLASS.search(cls):
                number = _text(child).removeprefix("Recommendation").removeprefix("Rec").strip(" .:")
                child.drop_tree()
            elif GRADE_CLASS.search(cls) and child.getparent() is not None:
                grades.append(_text(child))
                child.drop_tree()
        grade_parts = ", ".join(g.strip("[]() ") for g in grades if g.strip("[]() "))
        grade = (find_grade(grade_parts) or grade_parts) if grade_parts else None
        text = _text(copy)
        if number:
            found = recommendation(f"{number} {text}", grade_hint=grade)
            if found:
                self.out.rec(*found)
            else:
                self.out.rec(number, grade, text)
        else:
            emit_paragraph(self.out, text, grade=grade)

    def table(self, table) -> None:
        caption = table.find("caption")
        rows: list[list[str]] = []
        for tr in table.iter("tr"):
            cells = [c for c in tr if isinstance(c.tag, str) and c.tag.lower() in {"td", "th"}]
            row: list[str] = []
            for cell in cells:
                row.extend([_text(cell)] * max(1, min(int(cell.get("colspan", "1") or 1), 20)))
            rows.append(row)
        self.out.table(rows, _text(caption) if caption is not None else None)


def extract(path: Path, raw: bytes) -> Extracted:
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True)
    try:
        doc = lxml.html.document_fromstring(raw, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise FormatError(f"not readable as HTML ({exc})") from exc
    meta = _meta(doc)
    main = None
    for selector in MAIN_SELECTORS:
        found = [m for m in doc.xpath(selector) if len(_text(m)) >= MIN_TEXT_CHARS]
        if found:
            main = found[0]
            break
    if main is None:
        main = doc.find("body")
    walker = _Walker()
    if main is not None:
        walker.walk(main, None)
    body = walker.out.text()
    prose = re.sub(r"<!--.*?-->|[#*|\-\[\]]", " ", body)
    if len(re.sub(r"\s+", " ", prose).strip()) < MIN_TEXT_CHARS:
        raise FormatError(
            "HTML with no main content (navigation, headers and footers only, or under "
            f"{MIN_TEXT_CHARS} characters of text); nothing to ingest"
        )
    if "title" not in meta:
        node = doc.find(".//title")
        title = walker.title or (_text(node) if node is not None else None)
        if title:
            meta["title"] = title
    return Extracted(meta.get("title"), meta, body)
