"""The whole sentence the robot is saying is readable on the resident's screen, at 48 px or more, at every
size: neither cut off under the buttons nor covering them, and never needing a scroll.

The sentences are the longest each pack (dialogs/<language>/pack.yaml) can produce, found from the packs
with every placeholder filled with its longest value, and a list of activities as long as the screen takes
(robot.core.screen.MAX_CAPTION). They go through the real screen server to Debian's chromium (the session's
browser), whose clock the test holds, so a sentence shown a page at a time is stepped through at the pace
of the voice without waiting for it. Screenshots go to docs/ as the run takes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from robot.config_load import load_config
from robot.core.screen import MAX_CAPTION, cut, screen_url, screen_worker
from robot.dialogs import PLACEHOLDERS, load_pack
from robot.screen_server import ScreenServer

from .broker import free_port
from .browser import page_of
from .conftest import ROOT, wait_for

LANGUAGES = ("en", "de", "ko")
PHONE = (360, 640)  # a small phone held upright
SIZES = ((800, 480), (1024, 600), (1280, 800), PHONE)
WPM = 150
MS_PER_WORD = 60_000 / WPM
ELLIPSIS = " …"  # ends a page that another follows (robot/screen_page/screen.js)


def longest_fills(language: str) -> dict[str, str]:
    """Each placeholder's longest value, as robot/conversation.py and robot/core/speech.py fill it."""
    pack = load_pack(ROOT / "dialogs" / language)
    days = (dt.date(2028, 1, 1) + dt.timedelta(days=d) for d in range(366))  # a leap year: every day of a month
    minutes = (dt.time(m // 60, m % 60) for m in range(24 * 60))
    activities = load_config(ROOT / "config" / "carebot.toml").schedule.activities
    fills = {"kind": max(pack.kinds.values(), key=len), "time": max(map(pack.clock.time, minutes), key=len),
             "date": max(map(pack.clock.date, days), key=len),
             "answer": max((answers[0] for _, answers in pack.quiz), key=len),
             "activities": ", ".join(pack.clock.activity(a) for a in activities),
             "name": pack.robot_name}
    assert set(fills) == PLACEHOLDERS, "a new placeholder needs its longest value here"
    return fills


def sentences(language: str, fills: dict[str, str]) -> list[str]:
    """Everything the pack can say (each response variant, each quiz question), longest first."""
    pack = load_pack(ROOT / "dialogs" / language)
    said = [v.format(**fills) for variants in pack.responses.values() for v in variants]
    return sorted({*said, *(question for question, _ in pack.quiz)}, key=lambda s: (-len(s), s))


def longest_activities(language: str) -> str:
    """The pack's activities sentence with as many 80-character activities (the config's limit), made of
    the pack's own longest words, as the screen takes: longer than this is cut for the screen."""
    fills, pack = longest_fills(language), load_pack(ROOT / "dialogs" / language)
    own = [v for variants in pack.responses.values() for v in variants if "{" not in v]  # the pack's own words
    words = sorted({w.strip(".,?!:") for s in own for w in s.split()}, key=len, reverse=True)
    activity = ""
    for word in words * 2:
        if len(activity) + len(word) + 1 > 80:
            break
        activity = f"{activity} {word}".strip()
    template = max(pack.responses["activities"], key=len)
    return cut(template.format(**{**fills, "activities": ", ".join([activity] * (MAX_CAPTION // 80 + 2))}))


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[ScreenServer, str]]]:
    """A screen server per language with that pack's words, as the screen worker runs it."""
    base = load_config(ROOT / "config" / "carebot.toml")
    out = {}
    try:
        for language in LANGUAGES:
            cfg = base.model_copy(update={
                "robot": base.robot.model_copy(update={"language": language,
                                                       "state_dir": tmp_path_factory.mktemp(language)}),
                "screen": base.screen.model_copy(update={"enabled": True, "port": free_port()})})
            o = screen_worker(cfg).options
            server = ScreenServer(bind=o["bind"], port=o["port"], key=o["key"], hello=o["hello"],
                                  presses_per_minute=30, on_press=lambda button: None)
            server.start()
            out[language] = (server, screen_url(cfg, o["key"]))
        yield out
    finally:
        for server, _ in out.values():
            server.stop()


LAYOUT = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const caption = document.getElementById("caption"), previous = document.getElementById("previous");
  return {caption: box(caption), text: caption.textContent, page: caption.dataset.page,
          px: parseFloat(getComputedStyle(caption).fontSize),
          clipped: caption.scrollHeight > caption.clientHeight + 1 || caption.scrollWidth > caption.clientWidth + 1,
          previous: previous.hidden ? null : box(previous), state: box(document.getElementById("state")),
          buttons: [...document.querySelectorAll("#buttons button")].map(box),
          viewport: [innerWidth, innerHeight],
          scrolls: document.scrollingElement.scrollHeight > innerHeight}
}"""


def readable(page: Any, size: tuple[int, int]) -> dict[str, Any]:
    """The caption's layout, asserted readable: inside the window, between the state and the buttons (and
    below the previous sentence, if shown), nothing cut, 48 px or more; every button whole and 100 px or more."""
    at = page.evaluate(LAYOUT)
    left, top, right, bottom = at["caption"]
    where = f"at {size[0]}x{size[1]}, page {at['page']}: {at['text']!r}"
    assert at["viewport"] == list(size) and not at["scrolls"], where
    assert 0 <= left and right <= size[0] and 0 <= top and bottom <= size[1], f"caption leaves the window {where}"
    assert top >= at["state"][3], f"caption under the state line {where}"
    assert at["previous"] is None or top >= at["previous"][3], f"caption under the previous one {where}"
    for b_left, b_top, b_right, b_bottom in at["buttons"]:
        assert bottom <= b_top or right <= b_left or left >= b_right, f"caption overlaps a button {where}"
        assert 0 <= b_left and b_right <= size[0] and b_bottom <= size[1], f"a button leaves the window {where}"
        assert b_right - b_left >= 100 and b_bottom - b_top >= 100, f"a button under 100x100 px {where}"
    assert not at["clipped"] and at["px"] >= 48, where
    return at


def read_through(page: Any, server: ScreenServer, sentence: str, previous: str, said: int,
                 size: tuple[int, int]) -> list[str]:
    """Show `sentence` as the robot begins to say it, and read it page by page as the voice goes on."""
    first_page(page, server, sentence, previous, said, size)
    texts, late = [], 0  # how far into its page the voice is (the clock has been moved just past a turn)
    while True:
        at = readable(page, size)
        texts.append(at["text"])
        k, n = map(int, at["page"].split("/"))
        if k == n:
            return texts
        words = len(at["text"].removesuffix(ELLIPSIS).split())
        page.clock.run_for(int(words * MS_PER_WORD) - 50 - late)  # this page's words are still being said
        assert page.evaluate("document.getElementById('caption').dataset.page") == f"{k}/{n}"
        page.clock.run_for(100)  # the next page's first word has begun
        late = 50
        assert page.evaluate("document.getElementById('caption').dataset.page") == f"{k + 1}/{n}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_longest_sentences_are_readable_whole_at_every_size(browser: Any, screens: dict[str, Any],
                                                                language: str) -> None:
    server, url = screens[language]
    spoken = sentences(language, longest_fills(language))
    longest, stress = spoken[0], longest_activities(language)
    with page_of(browser, *SIZES[0]) as page:
        page.clock.install(time=0)
        page.clock.pause_at(1)  # time moves only when the test says
        page.goto(url)
        n = 0
        for sentence, sizes in ((longest, SIZES), (stress, (SIZES[0], PHONE))):
            for size in sizes:  # the same page resized: it fits the sentence again
                n += 1
                pages = read_through(page, server, sentence, spoken[1], n, size)
                assert all(p.endswith(ELLIPSIS) for p in pages[:-1]) and not pages[-1].endswith(ELLIPSIS)
                assert " ".join(p.removesuffix(ELLIPSIS) for p in pages) == " ".join(sentence.split()), size
        if language == "de":
            n += 1
            first_page(page, server, longest, spoken[1], n, SIZES[0])
            shot(page, "long-de")
        # a sentence with room to spare keeps the previous one above it, at the set size
        n += 1
        server.show({"caption": spoken[-1], "previous": spoken[1], "mode": "listening", "privacy": False,
                     "said": 2 * n, "wpm": WPM})
        for size in SIZES:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            assert wait_for(lambda: page.locator("#caption").text_content() == spoken[-1], 5, 0.02)
            at = readable(page, size)
            assert at["previous"] is not None and at["page"] == "1/1" and at["px"] == 56, size
        if language == "en":
            n += 1
            first_page(page, server, longest, spoken[1], n, PHONE)
            shot(page, "phone")
        if language == "de":  # the largest font_px the config allows: the buttons and state grow only so far
            server.hello = {**server.hello, "font_px": 160}
            try:
                page.reload()
                for size in (SIZES[0], PHONE):
                    n += 1
                    pages = read_through(page, server, longest, spoken[1], n, size)
                    assert " ".join(p.removesuffix(ELLIPSIS) for p in pages) == " ".join(longest.split()), size
            finally:
                server.hello = {**server.hello, "font_px": 56}


def first_page(page: Any, server: ScreenServer, sentence: str, previous: str, said: int,
               size: tuple[int, int]) -> None:
    """A long sentence at `size` as it appears when the robot begins to say it (after a blank screen, so
    that its arrival is seen even when it begins with the words of the one before)."""
    nothing = server.hello["texts"]["captions"]["none"]
    for n, caption in ((2 * said, ""), (2 * said + 1, sentence)):
        server.show({"caption": caption, "previous": previous, "mode": "listening", "privacy": False,
                     "said": n, "wpm": WPM})
        if not caption:
            assert wait_for(lambda: page.locator("#caption").text_content() == nothing, 5, 0.02)
            page.set_viewport_size({"width": size[0], "height": size[1]})
    assert wait_for(lambda: page.locator("#caption").text_content() != nothing, 5, 0.02), f"nothing shown at {size}"
    assert page.evaluate("document.getElementById('caption').dataset.page").startswith("1/")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ROOT / "docs" / f"screen-{name}.png"))


def test_a_sentence_too_long_for_the_screen_is_cut_after_a_whole_word() -> None:
    long = "Heute " + "Gedächtnistraining " * 100
    shown = cut(long)
    assert len(shown) <= MAX_CAPTION and shown.endswith("Gedächtnistraining…") and long.startswith(shown[:-1])
    assert cut("Es ist 14:30.") == "Es ist 14:30."
    assert len(cut("x" * 2000)) == MAX_CAPTION  # one endless word: cut where it must be


def test_a_word_wider_than_the_screen_is_paged_in_pieces(browser: Any, screens: dict[str, Any]) -> None:
    """One word that does not fit the caption's room even alone (a long compound on a phone, Korean written
    without spaces, a run of characters) is shown in pieces, page by page, rather than cut off under the
    buttons; and a rate the page cannot use does not stop it turning its pages."""
    server, url = screens["de"]
    compound = "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenherstellungsbetriebsleiterin"
    errors: list[str] = []
    with page_of(browser, *PHONE) as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.clock.install(time=0)
        page.clock.pause_at(1)
        page.goto(url)
        for n, sentence in enumerate((f"Heute um 10 Uhr: {compound}.", "가" * 300), start=1):
            pages = read_through(page, server, sentence, "", 1000 + n, PHONE)
            assert len(pages) > 1 and "".join(p.removesuffix(ELLIPSIS).replace(" ", "") for p in pages) == \
                sentence.replace(" ", ""), pages
        for n, wpm in enumerate((0, -5, 1e-300, "fast"), start=1):  # never sent (the robot's voice: 130-180 wpm)
            first_page(page, server, f"{n} " + "Wort " * 100, "", 2000 + n, PHONE)
            server.show({"caption": f"{n} " + "Wort " * 100, "previous": "", "mode": "listening", "privacy": False,
                         "said": 4000 + n, "wpm": wpm})  # the same sentence at that rate, said again
            said = str(4000 + n)  # it has arrived: the clock runs from its start, not from the one before
            assert wait_for(lambda: page.evaluate("document.getElementById('caption').dataset.said") == said,  # noqa: B023
                            5, 0.02)
            page.clock.run_for(int((len(page.locator("#caption").text_content().split()) - 1) * MS_PER_WORD) + 50)
            assert page.evaluate("document.getElementById('caption').dataset.page").startswith("2/"), wpm
    assert errors == []
