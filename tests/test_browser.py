"""The shared browser fixture drives Debian's chromium: a page renders and runs its script."""

from __future__ import annotations

from typing import Any

from .browser import page_of


def test_chromium_renders_a_page_and_runs_its_script(browser: Any) -> None:
    with page_of(browser, 800, 480) as page:
        page.set_content("<main><h1 id=t>waiting</h1><script>document.getElementById('t').textContent = "
                         "String(6 * 7)</script></main>")
        assert page.locator("#t").text_content() == "42"
        assert page.evaluate("[innerWidth, innerHeight]") == [800, 480]
