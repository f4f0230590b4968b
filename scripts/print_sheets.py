#!/usr/bin/env python3
"""Print the one-page sheets of docs/care-home/ as PDFs, in large type, for the notice board.

Usage: scripts/print_sheets.py [OUT_DIR]      (default docs/care-home/print; `make docs` runs it)

Each `*-onepage.LANG.md` becomes `OUT_DIR/NAME.pdf` through Chromium's own print engine (headless, no network), so
what the home prints is what a browser shows. A sheet that does not fit on one A4 page is an error: the point of a
one-page sheet is that it hangs on a wall, so the text must be shortened rather than the type made smaller.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import markdown

ROOT = Path(__file__).resolve().parent.parent
SHEETS = ROOT / "docs" / "care-home"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# Large, high-contrast type for older readers and for a wall across the room: 18 pt body, bold headings,
# black on white, generous line height. The Noto CJK font is listed for the Korean sheet.
CSS = """
@page { size: A4; margin: 14mm 16mm; }
html { font-family: "DejaVu Sans", "Noto Sans CJK KR", sans-serif; font-size: 18pt; line-height: 1.3;
       color: #000; background: #fff; }
h1 { font-size: 30pt; margin: 0 0 0.35em; }
h2 { font-size: 22pt; margin: 0.6em 0 0.2em; border-bottom: 3px solid #000; }
p, li { margin: 0.25em 0; }
strong { font-weight: 800; }
table { border-collapse: collapse; width: 100%; font-size: 15pt; }
td, th { border: 2px solid #000; padding: 0.2em 0.35em; vertical-align: top; text-align: left; }
:lang(ko) { word-break: keep-all; }
code { font-family: "DejaVu Sans Mono", monospace; font-weight: 700; }
"""


class PrintError(Exception):
    """A sheet could not be printed, or did not fit its page."""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise PrintError("no Chromium found: install Debian's `chromium` package (scripts/setup.sh does)")


def page_html(source: Path) -> str:
    lang = source.stem.rsplit(".", 1)[-1]
    body = markdown.markdown(source.read_text(encoding="utf-8"), extensions=["tables"])
    title = html.escape(source.stem)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>")


def pages(pdf: Path) -> int:
    """The page count, read by poppler's pdfinfo."""
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE)
    if not found:
        raise PrintError(f"{pdf}: pdfinfo gave no page count")
    return int(found.group(1))


def print_sheet(source: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf = out_dir / f"{source.stem}.pdf"
    with tempfile.TemporaryDirectory(prefix="carebot-print-") as tmp:
        page = Path(tmp) / "sheet.html"
        page.write_text(page_html(source), encoding="utf-8")
        cmd = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
               page.as_uri()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not pdf.exists():
        raise PrintError(f"{source}: chromium failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    n = pages(pdf)
    if n != 1:
        raise PrintError(f"{source}: printed on {n} pages; a one-page sheet must fit one A4 page, shorten it")
    return pdf


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else SHEETS / "print"
    sources = sorted(SHEETS.glob("*-onepage.*.md"))
    try:
        for source in sources:
            print(f"{source.relative_to(ROOT)} -> {print_sheet(source, out_dir)}")
    except (PrintError, subprocess.SubprocessError, OSError) as exc:
        print(f"print_sheets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
