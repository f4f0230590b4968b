"""The `clock` section of a dialog pack: dates and times said in the pack's own language.

The robot never asks the system locale (a Raspberry Pi usually has only en_GB generated) and never
speaks strftime's English: weekday and month names, how each day and hour is said, and the patterns
of a date, a time of day and a timed activity are data in each pack that staff can edit. They are
written for the ear, as espeak-ng reads them: Korean hours as native words ("두 시", where espeak reads
"2시" as "이 시"), Korean months as words ("유월", not "육월"), German days as ordinals ("der
dreißigste", where espeak reads "30." as "dreißig") and "ein Uhr" for "eins Uhr". Every problem is
reported with its key, and through the pack checker with its line; a pack with one is refused.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass
from typing import Any

from robot.dialog_lexicon import Checker

CLOCK_KEYS = {"weekdays", "months", "days", "hours", "parts", "date", "times", "activity"}
OPTIONAL_KEYS = {"days", "parts"}
SIZES = {"weekdays": 7, "months": 12, "days": 31, "hours": 24, "parts": 24}
# What each pattern may hold, and what it must hold (a date without its day or month answers nothing).
DATE_FIELDS = {"weekday", "day", "month", "year"}
TIME_FIELDS = {"hour", "next_hour", "part", "next_part", "minute", "to_minute"}
ACTIVITY_FIELDS = {"time", "what"}
NEEDED = {"date": {"day", "month"}, "activity": {"time", "what"}}
# A staff-written activity that starts with a time of day ("14:30 music in the garden room").
_TIMED = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\b[\s:,-]*(.*)$")
_NUMBER = re.compile(r"[0-9]{1,2}")


@dataclass(frozen=True)
class TimeRule:
    """A way to say the times whose hour and minute it holds; the first rule that holds a time says it."""

    hours: frozenset[int]
    minutes: frozenset[int]
    say: str


@dataclass(frozen=True)
class ClockWords:
    """How a pack says dates and times (its `clock` section)."""

    weekdays: tuple[str, ...]  # Monday first
    months: tuple[str, ...]  # January first
    days: tuple[str, ...]  # the 1st first
    hours: tuple[str, ...]  # midnight first
    parts: tuple[str, ...]  # the part of the day each hour is in, midnight first
    date_pattern: str
    times: tuple[TimeRule, ...]
    activity_pattern: str

    def date(self, day: dt.date) -> str:
        """A date as said aloud ("Wednesday the 30th of September 2026")."""
        return _tidy(self.date_pattern.format(weekday=self.weekdays[day.weekday()], day=self.days[day.day - 1],
                                              month=self.months[day.month - 1], year=day.year))

    def time(self, at: dt.time) -> str:
        """A time of day as said aloud ("half past two in the afternoon", "14 Uhr 30", "오후 두 시 반")."""
        h, m = at.hour, at.minute
        rule = next(r for r in self.times if h in r.hours and m in r.minutes)  # the check covers every minute
        nxt = (h + 1) % 24
        return _tidy(rule.say.format(hour=self.hours[h], next_hour=self.hours[nxt], part=self.parts[h],
                                     next_part=self.parts[nxt], minute=m, to_minute=60 - m))

    def activity(self, text: str) -> str:
        """A staff-written activity with its leading time of day said aloud; one without a time as written."""
        m = _TIMED.match(text)
        if m is None or int(m[1]) > 23 or int(m[2]) > 59 or not m[3].strip():
            return text
        said = self.time(dt.time(int(m[1]), int(m[2])))
        return _tidy(self.activity_pattern.format(time=said, what=m[3].strip()))


NO_CLOCK = ClockWords((), (), (), (), (), "", (), "")  # a pack without a usable clock section, which is refused


def _tidy(text: str) -> str:
    """One space between words: an empty part of the day leaves none doubled."""
    return " ".join(text.split())


def check_clock(c: Checker, value: Any) -> ClockWords:
    """The checked `clock` section; every problem goes to the checker with its key (and the pack is refused)."""
    if not isinstance(value, dict):
        c.add("clock", "must hold weekdays, months, hours, date, times and activity", value)
        return NO_CLOCK
    c.keys(value, "clock", CLOCK_KEYS)
    for k in sorted(CLOCK_KEYS - OPTIONAL_KEYS):
        if value.get(k) is None:  # a value deleted to be written later would fail the resident's question
            c.add(f"clock.{k}", "required key is missing" if k not in value else "must not be empty", show=False)
    lists = {k: _names(c, value.get(k), k) for k in SIZES}
    days = lists["days"] or tuple(str(d) for d in range(1, 32))
    parts = lists["parts"] or ("",) * 24
    time_fields = TIME_FIELDS if lists["parts"] else TIME_FIELDS - {"part", "next_part"}
    date = _pattern(c, value.get("date"), "clock.date", DATE_FIELDS, NEEDED["date"])
    activity = _pattern(c, value.get("activity"), "clock.activity", ACTIVITY_FIELDS, NEEDED["activity"])
    times = _rules(c, value.get("times"), time_fields)
    return ClockWords(lists["weekdays"], lists["months"], days, lists["hours"], parts, date, times, activity)


def _names(c: Checker, value: Any, key: str) -> tuple[str, ...]:
    path = f"clock.{key}"
    if value is None:  # optional, or already reported missing
        return ()
    names = c.strings(value, path)
    if names and len(names) != SIZES[key]:
        c.add(path, f"must list exactly {SIZES[key]} ({_first(key)} first); it lists {len(names)}", show=False)
    for i, name in enumerate(names):
        if not name and key != "parts":  # a part of the day may be said as nothing
            c.add(f"{path}.{i}", "must not be empty", show=False)
    return names


def _first(key: str) -> str:
    return {"weekdays": "Monday", "months": "January", "days": "the 1st", "hours": "midnight, 0",
            "parts": "midnight, 0"}[key]


def _pattern(c: Checker, value: Any, path: str, allowed: set[str], needed: set[str]) -> str:
    """A pattern whose placeholders are all known (and the needed ones there); "" with a problem otherwise."""
    if not isinstance(value, str) or not value.strip():
        if value is not None:  # a missing key is already reported
            c.add(path, "must be a non-empty pattern", value)
        return ""
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        c.add(path, f"is not a valid pattern ({exc}); write placeholders as {{name}} and a brace as {{{{ or }}}}",
              value)
        return ""
    fields = [f for f, _, _ in parsed]
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        hint = " (add a parts list to use it)" if unknown[0] in TIME_FIELDS else ""
        c.add(path, f"unknown placeholder {{{unknown[0]}}}{hint}; allowed: {', '.join(sorted(allowed))}", value)
        return ""
    if any(spec or conv for _, spec, conv in parsed):
        c.add(path, "a placeholder takes no format or conversion here (write {name} alone)", value)
        return ""
    missing = needed - set(fields)
    if missing:
        c.add(path, f"must say {', '.join('{' + m + '}' for m in sorted(missing))}", value)
        return ""
    return value.strip()


def _rules(c: Checker, value: Any, allowed: set[str]) -> tuple[TimeRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        c.add("clock.times", "must be a list of rules, each with minutes, say and (optionally) hours", value)
        return ()
    rules = []
    for i, raw in enumerate(value):
        path = f"clock.times.{i}"
        if not isinstance(raw, dict):
            c.add(path, "must have minutes, say and (optionally) hours", raw)
            continue
        c.keys(raw, path, {"hours", "minutes", "say"})
        hours = _span(c, raw.get("hours", "0-23"), f"{path}.hours", 23)
        minutes = _span(c, raw.get("minutes"), f"{path}.minutes", 59)
        say = _pattern(c, raw.get("say"), f"{path}.say", allowed, set())
        if "say" not in raw:
            c.add(f"{path}.say", "required key is missing", show=False)
        if hours and minutes and say:
            rules.append(TimeRule(hours, minutes, say))
    if len(rules) == len(value):
        gap = next(((h, m) for h in range(24) for m in range(60)
                    if not any(h in r.hours and m in r.minutes for r in rules)), None)
        if gap is not None:
            c.add("clock.times", f"no rule says {gap[0]:02d}:{gap[1]:02d}: every minute of the day needs one "
                  "(end with a rule for minutes 0-59)", show=False)
    return tuple(rules)


def _span(c: Checker, value: Any, path: str, top: int) -> frozenset[int]:
    """Numbers written as "0", "1-29" or "5, 10, 20" (each from 0 to `top`)."""
    if value is None:
        c.add(path, "required key is missing", show=False)
        return frozenset()
    out: set[int] = set()
    for piece in str(value).split(","):
        lo, dash, hi = piece.strip().partition("-")
        hi = hi if dash else lo
        # ASCII digits, at most two: isdigit() takes superscripts that int() refuses, and int() refuses 4300+ digits
        if not (_NUMBER.fullmatch(lo) and _NUMBER.fullmatch(hi)) or int(lo) > int(hi) or int(hi) > top:
            c.add(path, f"must be numbers from 0 to {top}, written like 0, 1-29 or 5, 10, 20", value)
            return frozenset()
        out.update(range(int(lo), int(hi) + 1))
    return frozenset(out)
