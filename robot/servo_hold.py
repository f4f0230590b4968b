"""What both servo tools share: a device held open, and a thread that keeps resending what it holds.

The board's serial timeout is the robot's watchdog: if nothing is written for a while it sends
every servo home. A technician's tool that holds a pose (`carebot servo`) or a pulse width
(`carebot servo maestro`) therefore resends it ten times a second, as the loop's tick does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Self

from hardware.errors import DeviceUnavailable

KEEPALIVE_S = 0.1
log = logging.getLogger(__name__)


class HeldSession:
    """An open device plus a keep-alive thread; a subclass says how to open, close and resend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keepalive, name="servo-keepalive", daemon=True)

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _resend(self) -> None:
        """Write what is held again, if anything is (called under the lock)."""
        raise NotImplementedError

    def start(self) -> Self:
        self._open()
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # not started if the device would not open
            self._thread.join(1)
        self._close()

    def _locked(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            return fn()

    def _keepalive(self) -> None:
        failing = False
        while not self._stop.wait(KEEPALIVE_S):
            with self._lock:
                try:
                    self._resend()
                    failing = False
                except DeviceUnavailable:  # unplugged: the command in hand reports it
                    return
                except Exception:  # anything else: said once, and the next beat tries again (the watchdog
                    if not failing:  # sends the servos home meanwhile, which is safe)
                        log.exception("servo keep-alive: resending the held pose failed; trying again")
                    failing = True
