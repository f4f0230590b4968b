"""The board watch: brown-outs, throttling and a filling disk become faults staff see.

A guarded part (off the real-time loop) reads the board's health every `interval_s`. A
condition raises its fault at once; it clears once the condition has been gone for
`clear_after_s`, so a supply that flickers makes one alert, not one a second. The faults:

- `undervoltage`: under-voltage now, or a brown-out since the last look (the firmware's
  "has occurred" bit newly set: one shorter than the interval is still seen).
- `throttled`: the CPU capped or throttled (heat, or under-voltage).
- `disk_low`: the state directory has less than `min_free_mb` free.

Changes reach the tick as `BoardFault` inputs; the tick turns them into robot_fault alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hardware.pi_health import SINCE_BOOT_SHIFT, UNDER_VOLTAGE, BoardHealth, Reading
from robot.config import HealthSection
from robot.core.inputs import BoardFault

log = logging.getLogger(__name__)

WAIT_S = 0.5  # a step waits at most this long, so the guard sees it beat


class BoardWatch:
    """Turns board readings into raised and cleared faults (the `board` part's step)."""

    def __init__(self, health: BoardHealth, cfg: HealthSection, put: Callable[[BoardFault], None]) -> None:
        self.health = health
        self.cfg = cfg
        self.put = put
        self.latest: Reading | None = None
        self.active: dict[str, float] = {}  # fault -> when its condition was last seen
        self._seen_since_boot: int | None = None
        self._next = 0.0
        self._wake = threading.Event()

    def wake(self) -> None:
        """Wake the step at once (to stop)."""
        self._wake.set()

    def step(self) -> None:
        """Wait for the next look (at most WAIT_S), then look if it is due."""
        now = time.monotonic()
        if now < self._next:
            self._wake.wait(min(WAIT_S, self._next - now))
            self._wake.clear()
            return
        self._next = now + self.cfg.interval_s
        self.look(now)

    def look(self, now: float) -> None:
        """Read once and report each fault that began or ended."""
        reading = self.health.read()
        if self.latest is None and not reading.is_pi:
            log.info("board health: %s", reading.describe())
        self.latest = reading
        for fault in self.conditions(reading):
            if fault not in self.active:
                log.warning("board fault %s: %s", fault, reading.describe())
                self.put(BoardFault(fault, True))
            self.active[fault] = now
        for fault, seen in list(self.active.items()):
            if now - seen >= self.cfg.clear_after_s:
                del self.active[fault]
                log.warning("board fault %s has cleared: %s", fault, reading.describe())
                self.put(BoardFault(fault, False))

    def conditions(self, reading: Reading) -> set[str]:
        """The faults this reading shows."""
        found = set()
        word = reading.throttled
        if word is not None:
            occurred = word >> SINCE_BOOT_SHIFT & UNDER_VOLTAGE
            # the first look only sets the baseline for "since boot": a brown-out before start is history
            new_brownout = self._seen_since_boot is not None and occurred and not self._seen_since_boot
            self._seen_since_boot = occurred
            if reading.under_voltage or new_brownout:
                found.add("undervoltage")
            if reading.slowed:
                found.add("throttled")
        if reading.free_mb is not None and reading.free_mb < self.cfg.min_free_mb:
            found.add("disk_low")
        return found

    def summary(self) -> dict[str, object]:
        """For the status file."""
        out: dict[str, object] = {"faults": sorted(self.active)}
        if self.latest is not None:
            out.update(self.latest.summary())
        return out
