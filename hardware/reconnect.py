"""Reopening a device that went away, with exponential backoff, off the control loop's thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from hardware.errors import DeviceUnavailable

log = logging.getLogger(__name__)


class Reopenable(Protocol):
    """A device that can be opened again after it was lost (a servo board, a serial link)."""

    @property
    def connected(self) -> bool: ...

    def open(self) -> None: ...

    def close(self) -> None: ...


class Reconnector:
    """Reopens a bus with exponential backoff while it is disconnected.

    `step()` does one bounded piece of that work (at most about half a second), so that it
    can run on the reconnector's own thread (`start`) or as a guarded part of a larger
    process, which restarts it if it raises and notices if it stops making progress.
    """

    STEP_S = 0.5  # longest wait inside one step

    def __init__(self, bus: Reopenable, *, initial_s: float = 0.1, max_s: float = 5.0,
                 on_change: Callable[[bool, str], None] | None = None) -> None:
        self.bus = bus
        self.initial_s = initial_s
        self.max_s = max_s
        self.on_change = on_change
        self.attempts = 0
        self._delay = initial_s
        self._next_attempt = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="servo-reconnect", daemon=True)

    def start(self) -> None:
        """Start watching on the reconnector's own thread; try to connect at once."""
        self._thread.start()

    def lost(self) -> None:
        """Tell the reconnector the link just failed (from the loop; never blocks)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop reconnecting."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()

    def step(self) -> None:
        """Wait a little while connected; otherwise try to open the bus when the backoff allows."""
        if self.bus.connected:
            self._delay = self.initial_s
            self._next_attempt = 0.0
            self._wake.wait(self.STEP_S)
            self._wake.clear()
            return
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            self._stop.wait(min(wait, self.STEP_S))
            return
        self.attempts += 1
        try:
            self.bus.open()
        except DeviceUnavailable as exc:
            if self.attempts == 1 or self.attempts % 20 == 0:
                log.warning("%s; retrying (attempt %d)", exc, self.attempts)
            self._backoff()
            return
        except Exception:  # a bug or a surprise must not end reconnecting, nor leave the port open
            log.exception("servo board: reconnecting failed unexpectedly; retrying")
            self.bus.close()
            self._backoff()
            return
        log.info("servo board connected after %d attempt(s)", self.attempts)
        self.attempts = 0
        if self.on_change is not None:
            try:
                self.on_change(True, "connected")
            except Exception:
                log.exception("servo reconnect callback failed")

    def _backoff(self) -> None:
        self._next_attempt = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self.max_s)
