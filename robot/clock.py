"""Robot time: the one clock for the time of day and for how long a care matter has waited.

The control loop's period, lateness and deadlines stay on the real monotonic clock; so do motion,
the workers' heartbeats, the guard and the broker. What a resident or staff measure is read here
instead: the civil time (the schedule, quiet hours, "what time is it", an alert's `raised_ts`) and
care time (the state machine's timeouts, reminder re-prompts, escalation deadlines), a monotonic
reading that runs at the clock's speed.

In production the clock is the machine's own (`Clock()`): the real wall clock and monotonic clock,
read afresh on every call. In the simulator (`Clock.simulated`) it starts at a chosen date and time,
may run faster than real time (60x: a minute a second) and may be advanced ("advance to 09:00") by
a scenario or a technician, while the loop still ticks at its real rate. It never runs backwards.
Protocol time (command freshness, heartbeats, the outbox and the audit log) stays on the real wall
clock: other machines judge it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from robot.config import SimSection
from robot.errors import CareBotError

MAX_SPEED = 3600.0


class ClockError(CareBotError):
    """A clock asked to do what it cannot (go back, advance a real clock)."""


@dataclass(frozen=True)
class _Anchor:
    """A simulated clock's reading at one real monotonic instant, and its speed from there."""

    real: float   # time.monotonic() at the anchor
    care: float   # care (monotonic) time at the anchor
    wall: float   # civil epoch seconds at the anchor
    speed: float


class Clock:
    """The robot's civil and care time; real unless built with `simulated`."""

    def __init__(self) -> None:
        self._anchor: _Anchor | None = None  # None: the machine's own clocks
        self._lock = threading.Lock()  # writers only; readers take the (atomically swapped) anchor

    @classmethod
    def simulated(cls, start: dt.datetime | None = None, speed: float = 1.0) -> Clock:
        """A clock at `start` (local time; now if None) running `speed` times faster than real time."""
        clock = cls()
        real = time.monotonic()
        wall = (start or dt.datetime.now()).timestamp()
        clock._anchor = _Anchor(real, real, wall, _check_speed(speed))
        return clock

    @classmethod
    def for_robot(cls, sim: SimSection, simulated: bool) -> Clock:
        """The machine's own clock on a robot; in the simulator, one that starts and runs as [sim] says."""
        return cls.simulated(sim.start, sim.speed) if simulated else cls()

    @property
    def is_simulated(self) -> bool:
        """True for the simulator's clock."""
        return self._anchor is not None

    @property
    def speed(self) -> float:
        """How many seconds of robot time pass in one real second."""
        return 1.0 if self._anchor is None else self._anchor.speed

    def at(self, real_monotonic: float) -> float:
        """Care time at a real monotonic reading (the tick converts its `now` once, here)."""
        a = self._anchor
        return real_monotonic if a is None else a.care + (real_monotonic - a.real) * a.speed

    def monotonic(self) -> float:
        """Care time now: seconds on a clock that never goes back, at the clock's speed."""
        return self.at(time.monotonic())

    def time(self) -> float:
        """Civil time now, as epoch seconds."""
        a = self._anchor
        return time.time() if a is None else a.wall + (time.monotonic() - a.real) * a.speed

    def now(self) -> dt.datetime:
        """Civil time now, as a naive local date-time (as the schedule and quiet hours are written)."""
        return dt.datetime.now() if self._anchor is None else dt.datetime.fromtimestamp(self.time())

    def _reanchor(self, skip_s: float, speed: float) -> None:
        if self._anchor is None:
            raise ClockError("only the simulator's clock can be advanced or sped up (carebot sim --start/--speed)")
        if skip_s < 0:
            raise ClockError(f"the clock never goes back (asked to move {skip_s:+.0f} s)")
        with self._lock:
            real = time.monotonic()
            wall = self.time() + skip_s
            try:
                dt.datetime.fromtimestamp(wall)
            except (ValueError, OverflowError, OSError):
                raise ClockError(f"the clock cannot go {skip_s:.0f} s further (past the year 9999)") from None
            self._anchor = _Anchor(real, self.at(real) + skip_s, wall, _check_speed(speed))

    def advance(self, seconds: float) -> None:
        """Jump forward by `seconds`: every timeout and deadline that falls inside is due at the next tick."""
        self._reanchor(seconds, self.speed)

    def advance_to(self, target: dt.datetime | dt.time) -> dt.datetime:
        """Jump forward to a date-time, or to the next time a time of day comes round; returns the new time.

        Measured in epoch seconds, not as the naive difference of local times: across a change to or from summer
        time 01:30 to 09:00 is 6.5 or 8.5 hours (the naive 7.5 left the clock at 10:00 or 08:00), and a time of
        day inside the hour that autumn repeats may still be ahead, in that hour's second pass."""
        now = self.now()
        if isinstance(target, dt.time):
            when = dt.datetime.combine(now.date(), target)
            if when.timestamp() < now.timestamp():
                when = when.replace(fold=1)
            if when.timestamp() < now.timestamp():
                when = dt.datetime.combine(now.date() + dt.timedelta(days=1), target)
        else:
            when = target
        self.advance(when.timestamp() - now.timestamp())
        return when

    def set_speed(self, speed: float) -> None:
        """Run from now on at `speed` times real time."""
        self._reanchor(0.0, speed)


def _check_speed(speed: float) -> float:
    if not 0 < speed <= MAX_SPEED:
        raise ClockError(f"clock speed {speed} is out of range (allowed: above 0, at most {MAX_SPEED:.0f})")
    return float(speed)
