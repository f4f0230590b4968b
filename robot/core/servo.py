"""The servo output: one packet per tick to the board, and the link's state for the tick.

The packet is also the board's heartbeat. A write that fails hands the port to the
reconnector (its own thread) and the tick carries on; `link_change` tells the tick when
the board came or went so that the state machine can go to fault and back, and
`silence_change` when a connected board stopped answering or answers again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hardware.errors import DeviceUnavailable
from hardware.reconnect import Reconnector
from hardware.servo import WATCHDOG, Servos
from robot.motion import Frame

Record = Callable[[str, dict[str, Any]], None]


class ServoOutput:
    """Writes each tick's angles and lights, and records what the board reports."""

    def __init__(self, servos: Servos, reconnector: Reconnector, record: Record) -> None:
        self.servos = servos
        self.reconnector = reconnector
        self.record = record
        self.ok = False
        self.silent = False

    def link_change(self) -> bool | None:
        """True or False when the board connected or went away since the last call, else None."""
        connected = self.servos.connected
        if connected == self.ok:
            return None
        self.ok = connected
        return connected

    def silence_change(self) -> bool | None:
        """True when the connected board fell silent (replies owed past their deadline), False when
        it answers again (or went away, which link_change reports), else None."""
        silent = self.ok and self.servos.silent
        if silent == self.silent:
            return None
        self.silent = silent
        self.record("servo_silent" if silent else "servo_answers",
                    {"reason": "owed replies are late" if silent else "the board answers again"})
        return silent

    def write(self, frame: Frame) -> None:
        """Send this tick's targets (when connected); a failure hands the port to the reconnector."""
        if not self.ok:
            return
        try:
            faults = self.servos.write(frame.angles, frame.lights)
        except DeviceUnavailable as exc:
            self.record("servo_lost", {"reason": str(exc)[:120]})
            self.reconnector.lost()
            return
        if faults:
            self.record("servo_errors", {"errors": ",".join(f for f in faults if f != WATCHDOG)})
            if WATCHDOG in faults:
                self.record("servo_errors", {"reason": "board watchdog fired: loop writes were late"})
