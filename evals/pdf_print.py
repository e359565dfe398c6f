"""HTML → PDF with Debian's headless Chromium, the one way the benchmarks and the format tests make PDFs.

Chromium is a real print engine (page boxes, running headers and footers from CSS `@page` margin boxes,
tables repeating their header on the next page), so the PDFs have the layout publishers' PDFs have.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def chromium() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


def print_pdf(html_text: str, target: Path, timeout: float = 600) -> Path:
    """Print `html_text` to `target` (headless, no browser header/footer of its own); returns `target`."""
    with tempfile.TemporaryDirectory(prefix="gqa-print-") as tmp:
        page = Path(tmp) / "doc.html"
        page.write_text(html_text)
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                f"--user-data-dir={tmp}/profile",
                f"--print-to-pdf={target}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    return target
