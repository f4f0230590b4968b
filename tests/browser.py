"""A headless Chromium for browser tests: Debian's chromium package, driven by Playwright.

Playwright's own browser download (`playwright install`) is never used: there is no internet
on the build machines, and the robot's kiosk runs Debian's chromium anyway. Playwright drives
that binary through `executable_path`. One browser serves the whole test session (starting it
costs about a second); each test opens its own context, so cookies, storage and viewport never
leak from one test to the next. Used by the resident's screen (issue 15) and meant for the staff
web dashboard (issue 14).

Tests skip, saying why, only when chromium or Playwright is truly missing: scripts/setup.sh
installs both (apt-get install chromium; Playwright is in the dev extras).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = ("chromium", "chromium-browser")
SETUP_HINT = "scripts/setup.sh installs it (make setup)"


def chromium_path() -> str | None:
    """Debian's chromium binary, if installed."""
    for name in CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole session (a `playwright.sync_api.Browser`)."""
    path = chromium_path()
    if path is None:
        pytest.skip(f"Debian's chromium is not installed: {SETUP_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"Playwright for Python is not installed: {SETUP_HINT}")
    with sync_playwright() as pw:
        # Playwright passes --no-sandbox itself (chromium_sandbox=False): tests run as root in CI.
        b = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def page_of(browser: Any, width: int = 1280, height: int = 800, **context: Any) -> Iterator[Any]:
    """A fresh context and page of `width` x `height` CSS pixels, closed afterwards."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1, **context)
    try:
        page = ctx.new_page()
        page.set_default_timeout(10_000)  # a bounded wait for every locator and navigation
        yield page
    finally:
        ctx.close()
