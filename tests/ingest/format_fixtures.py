"""Real-format guideline files made from real content, by real tools, for the format adapter tests.

Source: the ACC/AHA 2017 hypertension pharmacotherapy section of the open-medicine corpus (MIT; read-only,
used by path). Every list item or paragraph that states its class/level ("(Class I, Level of Evidence A)") is
turned into a numbered recommendation ("1.2.3") with a grade badge, as publishers print them; the dosing
table stays a table. From that one model the fixtures write:

- HTML with publisher chrome (site header, navigation, breadcrumbs, related-content aside, footer, meta tags);
- PDF printed by headless Chromium from the same HTML with print CSS: a cover and contents page labelled
  i-ii (pypdf /PageLabels), body pages labelled e563… like Circulation's e-pages, running header and footer
  (CSS @page margin boxes), and one two-column section;
- DOCX by python-docx with Heading 1-3 styles, a header/footer and a real table;
- JATS XML (sec/title/p/list/boxed-text/table-wrap) with front matter.

`expected()` gives what extraction must recover: every recommendation's number, grade and text, the section
of each, and the table rows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from evals.keyfacts import open_medicine_dir
from evals.pdf_print import print_pdf
from ingest.formats.grades import find_grade

OPEN_MEDICINE = open_medicine_dir()
SOURCE = OPEN_MEDICINE / "acc_aha_hypertension_2017" / "pharmacotherapy.md"
TITLE = "Pharmacotherapy for Hypertension -- ACC/AHA 2017"
RUNNING_HEADER = "Whelton et al 2017 ACC/AHA High Blood Pressure Guideline"
FOOTER = "Copyright American College of Cardiology Foundation and American Heart Association"
GRADE_TAIL = re.compile(r"\s*\((?P<grade>Class [^()]*?)\)\s*[.:]?\s*$")


@dataclass
class Rec:
    number: str
    grade: str  # as printed in the source
    text: str
    section: list[str]


@dataclass
class Block:
    kind: str  # heading | para | bullet | rec | table
    level: int = 0
    text: str = ""
    rec: Rec | None = None
    rows: list[list[str]] = field(default_factory=list)


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"\1", text).replace("--", "–").strip()


def model() -> list[Block]:
    """The source section as blocks, numbered recommendations where the source states a class."""
    blocks: list[Block] = []
    path: list[str] = []
    counters = [0, 0, 0]
    table: list[list[str]] | None = None
    for raw in SOURCE.read_text().splitlines():
        line = raw.rstrip()
        if line.startswith("|"):
            raw_cells = line.strip().strip("|").split("|")
            if all(re.fullmatch(r"\s*:?-+:?\s*", c) for c in raw_cells):
                continue
            cells = [_inline(c) for c in raw_cells]
            if table is None:
                table = []
                blocks.append(Block("table", rows=table))
            table.append(cells)
            continue
        table = None
        if not line.strip():
            continue
        if heading := re.match(r"^(#{1,3}) (.+)$", line):
            level = len(heading.group(1))
            text = _inline(heading.group(2))
            if level == 1:
                continue
            path = path[: level - 2] + [text]
            if level == 2:
                counters[0] += 1
                counters[1] = counters[2] = 0
            else:
                counters[1] += 1
                counters[2] = 0
            blocks.append(Block("heading", level=level, text=text))
            continue
        bullet = re.match(r"^\s*(?:[-*]|\d+\.)\s+(.*)$", line)
        text = _inline(bullet.group(1) if bullet else line)
        grade = GRADE_TAIL.search(text)
        if grade and text[:1].isupper():
            counters[2] += 1
            number = f"{counters[0]}.{counters[1]}.{counters[2]}"
            body = text[: grade.start()].rstrip(" :") + "."
            printed = find_grade(grade.group("grade")) or grade.group("grade")  # "Class I, LOE A"
            blocks.append(Block("rec", rec=Rec(number, printed, body, list(path))))
        else:
            blocks.append(Block("bullet" if bullet else "para", text=text))
    return blocks


def expected() -> dict:
    blocks = model()
    recs = [b.rec for b in blocks if b.rec]
    tables = [b.rows for b in blocks if b.kind == "table"]
    return {"recs": recs, "table": tables[0], "sections": [b.text for b in blocks if b.kind == "heading"]}


def normalised_grade(printed: str) -> str:
    return find_grade(printed) or printed


# ---------------------------------------------------------------- HTML


def _badges(grade: str) -> str:
    cor, _, loe = grade.partition(",")
    loe = loe.strip()
    out = f'<span class="badge cor">{html.escape(cor.strip())}</span>'
    return out + (f' <span class="badge loe">{html.escape(loe)}</span>' if loe else "")


def article_html(*, for_print: bool = False) -> str:
    parts: list[str] = []
    open_list = False
    sec = 0
    for block in model():
        if block.kind != "bullet" and open_list:
            parts.append("</ul>")
            open_list = False
        if block.kind == "heading":
            if block.level == 2:
                sec += 1
                parts.append(f'<h2 id="sec-{sec}">{html.escape(block.text)}</h2>')
            else:
                parts.append(f"<h3>{html.escape(block.text)}</h3>")
        elif block.kind == "para":
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "bullet":
            if not open_list:
                parts.append("<ul>")
                open_list = True
            parts.append(f"<li>{html.escape(block.text)}</li>")
        elif block.kind == "rec" and block.rec:
            rec = block.rec
            anchor = "rec-" + rec.number.replace(".", "-")
            parts.append(
                f'<div class="recommendation" id="{anchor}"><span class="rec-num">{rec.number}</span> '
                f"{_badges(rec.grade)}<p>{html.escape(rec.text)}</p></div>"
            )
        elif block.kind == "table":
            head, *rows = block.rows
            parts.append(
                "<table><caption>Table 1. Preferred agents and dosing</caption><thead><tr>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                + "</tbody></table>"
            )
    if open_list:
        parts.append("</ul>")
    body = "\n".join(parts)
    if for_print:  # the "Special Populations" section set in two columns, as pocket guidelines do
        body = body.replace('<h2 id="sec-4">', '<div class="two-col"><h2 id="sec-4">', 1) + "</div>"
    return body


HEAD_META = f"""<meta charset="utf-8">
<title>{TITLE} | Guideline Hub</title>
<meta name="citation_title" content="{TITLE}">
<meta name="citation_publisher" content="American College of Cardiology / American Heart Association">
<meta name="citation_publication_date" content="2017/11/13">
<meta name="citation_doi" content="10.1161/HYP.0000000000000065">
<meta name="citation_article_type" content="Practice Guideline">"""

CHROME_TOP = """<header class="site-header"><a href="/">Guideline Hub</a> <span>Sign in</span></header>
<nav class="breadcrumbs"><a href="/">Home</a> › <a href="/cardio">Cardiology</a> › Hypertension</nav>
<nav class="toc"><a href="#sec-1">First-line drugs</a> <a href="#sec-2">Initiation</a></nav>"""
CHROME_BOTTOM = f"""<aside class="related"><h2>Related guidelines</h2><ul><li>Heart failure 2022</li>
<li>Cholesterol 2018</li></ul></aside>
<footer class="site-footer"><p>{FOOTER}. All rights reserved. Terms of use. Privacy policy.</p></footer>"""


def publisher_html() -> str:
    return (
        f"<!doctype html><html lang=en><head>{HEAD_META}</head><body>{CHROME_TOP}"
        f'<main id="main-content"><article><h1>{TITLE}</h1>{article_html()}</article></main>'
        f"{CHROME_BOTTOM}</body></html>"
    )


# ---------------------------------------------------------------- PDF

PRINT_CSS = f"""
@page {{ size: A4; margin: 22mm 18mm;
  @top-center {{ content: "{RUNNING_HEADER}"; font-size: 8pt; }}
  @bottom-center {{ content: "{FOOTER} · page " counter(page); font-size: 8pt; }} }}
body {{ font-family: serif; font-size: 10.5pt; }}
h1 {{ font-size: 22pt; }} h2 {{ font-size: 15pt; }} h3 {{ font-size: 12.5pt; }}
.cover, .contents {{ break-after: page; }}
.two-col {{ column-count: 2; column-gap: 12mm; }}
.badge {{ font-weight: bold; }} .recommendation p {{ display: inline; }} .recommendation {{ margin: 3pt 0; }}
table {{ border-collapse: collapse; }} th, td {{ border: 0.6pt solid #000; padding: 2pt; font-size: 9pt; }}
"""


def print_html() -> str:
    contents = "".join(f"<p>{html.escape(s)}</p>" for s in expected()["sections"][:6])
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{TITLE}</title>"
        f"<style>{PRINT_CSS}</style></head><body>"
        f'<div class="cover"><h1>{TITLE}</h1><p>A report of the American College of Cardiology/American '
        "Heart Association Task Force on Clinical Practice Guidelines, reproduced for testing.</p></div>"
        f'<div class="contents"><p><b>Contents</b></p>{contents}</div>'
        f"{article_html(for_print=True)}</body></html>"
    )


def write_pdf(target: Path, html_text: str | None = None, *, labels: bool = True) -> Path:
    print_pdf(html_text or print_html(), target, timeout=120)
    if labels:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(target))
        n = len(writer.pages)
        writer.set_page_label(0, 1, style="/r")
        writer.set_page_label(2, n - 1, style="/D", prefix="e", start=563)
        writer.add_metadata({"/Title": TITLE})
        with open(target, "wb") as out:
            writer.write(out)
    return target


# ---------------------------------------------------------------- DOCX


def write_docx(target: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = TITLE
    document.sections[0].header.paragraphs[0].text = RUNNING_HEADER
    document.sections[0].footer.paragraphs[0].text = FOOTER
    document.add_heading(TITLE, level=1)
    for block in model():
        if block.kind == "heading":
            document.add_heading(block.text, level=block.level)
        elif block.kind == "para":
            document.add_paragraph(block.text)
        elif block.kind == "bullet":
            document.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "rec" and block.rec:
            p = document.add_paragraph()
            p.add_run(f"{block.rec.number} ").bold = True
            p.add_run(block.rec.text + " ")
            p.add_run(f"[{block.rec.grade}]").bold = True
        elif block.kind == "table":
            head, *rows = block.rows
            table = document.add_table(rows=1 + len(rows), cols=len(head))
            for r, row in enumerate([head, *rows]):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
            document.add_paragraph("Table 1. Preferred agents and dosing")
    document.save(target)
    return target


# ---------------------------------------------------------------- JATS


def write_jats(target: Path) -> Path:
    e = html.escape
    body: list[str] = []
    depth = 0
    sec = 0
    open_list = False
    for block in model():
        if block.kind != "bullet" and open_list:
            body.append("</list>")
            open_list = False
        if block.kind == "heading":
            while depth >= block.level - 1 and depth > 0:
                body.append("</sec>")
                depth -= 1
            sec += 1
            body.append(f'<sec id="s{sec}"><title>{e(block.text)}</title>')
            depth += 1
        elif block.kind == "para":
            body.append(f"<p>{e(block.text)}</p>")
        elif block.kind == "bullet":
            if not open_list:
                body.append('<list list-type="bullet">')
                open_list = True
            body.append(f"<list-item><p>{e(block.text)}</p></list-item>")
        elif block.kind == "rec" and block.rec:
            rec = block.rec
            body.append(
                f'<boxed-text id="rec{rec.number.replace(".", "_")}" content-type="recommendation">'
                f"<label>{rec.number}</label><p>{e(rec.text)} <bold>({e(rec.grade)})</bold></p></boxed-text>"
            )
        elif block.kind == "table":
            head, *rows = block.rows
            body.append(
                '<table-wrap id="T1"><label>Table 1</label>'
                "<caption><p>Preferred agents and dosing</p></caption>"
                "<table><thead><tr>"
                + "".join(f"<th>{e(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
                + "</tbody></table></table-wrap>"
            )
    if open_list:
        body.append("</list>")
    body.extend(["</sec>"] * depth)
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.2 20190208//EN"
  "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="practice-guideline">
<front><journal-meta><journal-title-group><journal-title>Hypertension</journal-title></journal-title-group>
<publisher><publisher-name>American Heart Association</publisher-name></publisher></journal-meta>
<article-meta><article-id pub-id-type="doi">10.1161/HYP.0000000000000065</article-id>
<title-group><article-title>{e(TITLE)}</article-title></title-group>
<pub-date pub-type="epub"><day>13</day><month>11</month><year>2017</year></pub-date></article-meta></front>
<body>{"".join(body)}</body>
<back><ref-list><ref id="r1"><mixed-citation>Reference list text that is not guideline body.</mixed-citation>
</ref></ref-list></back>
</article>"""
    target.write_text(xml)
    return target


# ---------------------------------------------------------------- a trust protocol, typeset

PROTOCOL_SOURCE = OPEN_MEDICINE / "nice_ugib_2012" / "risk_assessment.md"
PROTOCOL_TITLE = "Upper GI Bleeding Risk Assessment Protocol"
PROTOCOL_HEADER = "Acute Medicine Directorate - Local Protocol AMU-GI-07"
PROTOCOL_FOOTER = "Uncontrolled when printed. Review date March 2027"
# words the "typesetter" may break at a line end, and where: hyphenation points, and real hyphens
BREAKS = {
    "gastrointestinal": 6,
    "intervention": 5,
    "Pre-Endoscopy": 4,
    "pre-endoscopy": 4,
    "re-bleeding": 3,
    "mortality": 4,
    "anticoagulant": 4,
    "antiplatelet": 4,
    "independently": 5,
    "overestimate": 4,
    "presentation": 7,
    "calculated": 5,
    "specifically": 5,
    "proportion": 6,
    "discharged": 3,
    "assessment": 6,
    "endoscopic": 5,
    "endoscopy": 5,
    "presenting": 3,
    "determine": 3,
    "patients": 3,
}
LINE_CHARS = 46  # characters per typeset line in the 100 mm measure


@dataclass
class Protocol:
    sections: list[str]  # every heading that has text under it, in order
    table_head: list[str]
    table_rows: list[list[str]]
    words: list[str]  # every word the typesetter broke at a line end, as it must read after extraction


def _plain(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*|`([^`]+)`", lambda m: m.group(1) or m.group(2), text).strip()


def _typeset(text: str) -> tuple[str, list[str]]:
    """A paragraph set justified in lines of LINE_CHARS characters, breaking a BREAKS word that straddles a
    line end with a hyphen, as a typesetter does; every line but the last is a justified block so the PDF
    holds exactly these lines at full measure."""
    lines, line, broken = [], "", []
    for word in text.split():
        if not line or len(line) + 1 + len(word) <= LINE_CHARS:
            line = f"{line} {word}".strip()
            continue
        bare = word.strip(".,;:()")
        cut = BREAKS.get(bare)
        lead = word[: word.index(bare)] if bare else ""
        if cut and len(line) + 2 + len(lead) + cut <= LINE_CHARS:
            head, tail = bare[:cut], bare[cut:]
            head = head[:-1] if head.endswith("-") else head  # a real hyphen ends the line only once
            lines.append(f"{line} {lead}{head}-")
            line = tail + word[word.index(bare) + len(bare) :]
            broken.append(bare)
        else:
            lines.append(line)
            line = word
    lines.append(line)
    *full, last = [html.escape(x) for x in lines]
    return "".join(f"<span class=j>{x}</span>" for x in full) + f"<span class=l>{last}</span>", broken


def protocol() -> tuple[str, Protocol]:
    """The NICE CG141 risk-assessment section as a local trust protocol: headings set in bold at body size,
    typeset paragraphs with line-end hyphens, the Glasgow-Blatchford table tall enough to cross a page
    break (its header repeated by the browser on the next page), running header and footer."""
    parts: list[str] = []
    path: list[str] = []
    sections: list[list[str]] = []
    tables: list[list[list[str]]] = []
    broken: list[str] = []
    in_fence = False
    for raw in PROTOCOL_SOURCE.read_text().splitlines():
        line = raw.rstrip()
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence or not line.strip() or line.startswith(">") or line.startswith("# "):
            continue
        if heading := re.match(r"^(#{2,3}) (.+)$", line):
            level = len(heading.group(1))
            path = path[: level - 2] + [_plain(heading.group(2))]
            parts.append(f"<p class=h><b>{html.escape(path[-1])}</b></p>")
        elif line.startswith("|"):
            if path and path[-1] not in sections:
                sections.append(path[-1])
            cells = [_plain(c) for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            if not parts[-1].startswith("<table"):
                tables.append([])
                parts.append("<table")
            tables[-1].append(cells)
        else:
            if path and path[-1] not in sections:
                sections.append(path[-1])
            item = line.lstrip()
            text, words = _typeset("• " + _plain(item[2:]) if item.startswith("- ") else _plain(line))
            broken += words
            parts.append(f"<p>{text}</p>")
    rendered = []
    table_iter = iter(tables)
    for part in parts:
        if part == "<table":
            head, *rows = next(table_iter)
            part = (
                "<table class=tall><thead><tr>"
                + "".join(f"<th>{html.escape(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                + "</tbody></table>"
            )
        rendered.append(part)
    css = f"""
@page {{ size: A4; margin: 22mm 18mm;
  @top-center {{ content: "{PROTOCOL_HEADER}"; font-size: 8pt; }}
  @bottom-center {{ content: "{PROTOCOL_FOOTER} · page " counter(page); font-size: 8pt; }} }}
body {{ font-family: sans-serif; font-size: 10.5pt; }} h1 {{ font-size: 18pt; }}
p {{ width: 100mm; }} p.h {{ margin-top: 14pt; }}
span.j {{ display: block; text-align: justify; text-align-last: justify; }} span.l {{ display: block; }}
table {{ border-collapse: collapse; }} th, td {{ border: 0.6pt solid #000;
  padding: 20pt 4pt; font-size: 10pt; }}
"""
    doc = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{PROTOCOL_TITLE}</title>"
        f"<style>{css}</style></head><body><h1>{PROTOCOL_TITLE}</h1>{''.join(rendered)}</body></html>"
    )
    head, *rows = tables[0]
    return doc, Protocol(sections, head, rows, broken)
