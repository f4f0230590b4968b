"""The schedule: reminders and check-ins at their minute, staff-requested reminders, quiet hours.

Stepped by the tick with care time (robot.clock) and looked at once a second of robot time: it
reads the clock's civil time for minutes and the time of day, and fires triggers through the
state machine. Every minute the clock has passed since the last look counts, so a simulated
clock that runs fast or is advanced ("advance to 09:00") still starts the 08:00 reminder, as a
real clock stepped forward would. A reminder or check-in that the robot cannot start now (it
is busy) is tried again a minute later, never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from robot.clock import Clock
from robot.config import QuietHoursSection, ScheduleSection

RETRY_S = 60.0  # a busy robot tries a due reminder or check-in again this much later
CHECKIN = "_checkin"
MAX_CATCH_UP = 24 * 60  # minutes looked back over at most (a clock stepped a day forward)
MINUTE = dt.timedelta(minutes=1)

Fire = Callable[..., bool]


class Schedule:
    """What is due when, and whether it is quiet hours."""

    def __init__(self, config: ScheduleSection, quiet_hours: QuietHoursSection, fire: Fire,
                 clock: Clock | None = None) -> None:
        self.config = config
        self.quiet_hours = quiet_hours
        self.fire = fire
        self.clock = clock or Clock()
        self.pending: list[tuple[float, str]] = []  # (care time, reminder kind or CHECKIN)
        self._last_minute: dt.datetime | None = None
        self._quiet: bool | None = None
        self._next_look = 0.0

    def add(self, at: float, kind: str) -> None:
        """A reminder of `kind` (or a check-in) due at care time `at` (robot.clock)."""
        self.pending.append((at, kind))

    def set_quiet_hours(self, section: QuietHoursSection) -> None:
        """New quiet hours from staff, checked on the next tick."""
        self.quiet_hours = section
        self._next_look = 0.0

    def tick(self, now: float) -> None:
        """Once a second of care time `now`: quiet hours, what the clock says is due, what to start."""
        if now < self._next_look:
            return
        self._next_look = now + 1.0
        moment = self.clock.now()
        quiet = self.quiet_hours.contains(moment.time())
        if quiet != self._quiet:
            self._quiet = quiet
            self.fire("quiet_start" if quiet else "quiet_end")
        self._queue_due(moment.replace(second=0, microsecond=0), now)
        due = [kind for t, kind in self.pending if t <= now]
        if not due:
            return
        self.pending = [(t, k) for t, k in self.pending if t > now]
        for kind in due:
            started = self.fire("checkin") if kind == CHECKIN else self.fire("remind", kind=kind)
            if not started:
                self.pending.append((now + RETRY_S, kind))  # busy: try again in a minute

    def _queue_due(self, minute: dt.datetime, now: float) -> None:
        """Queue the reminders and check-ins of every minute since the last look, this one included."""
        last = self._last_minute if self._last_minute is not None else minute - MINUTE
        self._last_minute = max(minute, last)
        passed = min(int((minute - last) / MINUTE), MAX_CATCH_UP)
        for n in range(passed, 0, -1):
            hhmm = (minute - (n - 1) * MINUTE).strftime("%H:%M")
            for r in self.config.reminders:
                if r.time.zfill(5) == hhmm:
                    self.pending.append((now, r.kind))
            if hhmm in (c.zfill(5) for c in self.config.checkins):
                self.pending.append((now, CHECKIN))
