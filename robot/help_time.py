"""Distress that is over: "I had a nasty fall last winter, but I'm right as rain now".

A help word said with a long-ago marker right beside it ("last winter", "letztes Jahr") tells of the past, unless
something beside it says it is happening now ("again", "jetzt schon wieder") and nothing says it is well since.
Such a fall may still be worth a word, so the robot asks; it never raises an alert at once for it, nor ignores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot.reading import Reading
    from robot.understanding import HelpReader

PAST_NEAR = 4  # words between a help word and the long-ago marker that dates it ("a fall last winter")


def long_over(helper: HelpReader, reading: Reading) -> bool:
    """Whether every distress said stands beside a long-ago marker, with no "now" beside it unless a "well" follows."""
    spans = helper.spans_of(helper.distress, reading)
    past, now = helper.spans_of(helper.past, reading), helper.spans_of(helper.present, reading)
    well = helper.spans_of(helper.well, reading)

    def near(a: tuple[int, int], others: list[tuple[int, int]]) -> bool:
        return any(o[0] - a[1] < PAST_NEAR and a[0] - o[1] < PAST_NEAR for o in others)

    return bool(spans) and all(
        near(s, past) and (not near(s, now) or any(w[0] >= s[1] for w in well)) for s in spans)
