"""The schedule: reminders and check-ins at their minute, staff-requested reminders, quiet hours.

Called from the tick (once a second, and for quiet hours once a second too); it reads the
wall clock for minutes and the time of day, and fires triggers through the state machine.
A reminder or check-in that the robot cannot start now (it is busy) is tried again a minute
later, never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from robot.config import QuietHoursSection, ScheduleSection

RETRY_S = 60.0  # a busy robot tries a due reminder or check-in again this much later
CHECKIN = "_checkin"

Fire = Callable[..., bool]


class Schedule:
    """What is due when, and whether it is quiet hours."""

    def __init__(self, config: ScheduleSection, quiet_hours: QuietHoursSection, fire: Fire) -> None:
        self.config = config
        self.quiet_hours = quiet_hours
        self.fire = fire
        self.pending: list[tuple[float, str]] = []  # (monotonic time, reminder kind or CHECKIN)
        self._last_minute = ""
        self._quiet: bool | None = None
        self._next_quiet_check = 0.0

    def add(self, at: float, kind: str) -> None:
        """A reminder of `kind` (or a check-in) due at monotonic time `at`."""
        self.pending.append((at, kind))

    def set_quiet_hours(self, section: QuietHoursSection) -> None:
        """New quiet hours from staff, checked on the next tick."""
        self.quiet_hours = section
        self._next_quiet_check = 0.0

    def check_quiet(self, now: float) -> None:
        """Start or end quiet hours when the time of day crosses them (at most once a second)."""
        if now < self._next_quiet_check:
            return
        self._next_quiet_check = now + 1.0
        quiet = self.quiet_hours.contains(dt.datetime.now().time())
        if quiet != self._quiet:
            self._quiet = quiet
            self.fire("quiet_start" if quiet else "quiet_end")

    def every_second(self, now: float) -> None:
        """Queue what the clock says is due this minute, and start what is due now."""
        minute = dt.datetime.now().strftime("%H:%M")
        if minute != self._last_minute:
            self._last_minute = minute
            for r in self.config.reminders:
                if r.time == minute:
                    self.pending.append((now, r.kind))
            if minute in self.config.checkins:
                self.pending.append((now, CHECKIN))
        due = [kind for t, kind in self.pending if t <= now]
        if not due:
            return
        self.pending = [(t, k) for t, k in self.pending if t > now]
        for kind in due:
            started = self.fire("checkin") if kind == CHECKIN else self.fire("remind", kind=kind)
            if not started:
                self.pending.append((now + RETRY_S, kind))  # busy: try again in a minute

