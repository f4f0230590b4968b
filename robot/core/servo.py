"""The servo output: one packet per tick to the board, and the link's state for the tick.

The packet is also the board's heartbeat. A write that fails hands the port to the
reconnector (its own thread) and the tick carries on; `link_change` tells the tick when
the board came or went so that the state machine can go to fault and back, and
`silence_change` when a connected board stopped answering or answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hardware.errors import DeviceUnavailable
from hardware.maestro import MaestroBus, Reconnector
from hardware.maestro_protocol import MaestroError, describe_errors

Record = Callable[[str, dict[str, Any]], None]


class ServoOutput:
    """Writes targets each tick and polls the board's error register now and then."""

    def __init__(self, bus: MaestroBus, reconnector: Reconnector, record: Record, error_every: int) -> None:
        self.bus = bus
        self.reconnector = reconnector
        self.record = record
        self.error_every = max(1, error_every)
        self.ok = False
        self.silent = False
        self._writes = 0

    def link_change(self) -> bool | None:
        """True or False when the board connected or went away since the last call, else None."""
        connected = self.bus.connected
        if connected == self.ok:
            return None
        self.ok = connected
        return connected

    def silence_change(self) -> bool | None:
        """True when the connected board fell silent (replies owed past their deadline), False when
        it answers again (or went away, which link_change reports), else None."""
        silent = self.ok and self.bus.silent
        if silent == self.silent:
            return None
        self.silent = silent
        self.record("servo_silent" if silent else "servo_answers",
                    {"reason": "owed replies are late" if silent else "the board answers again"})
        return silent

    def write(self, targets: Mapping[int, float]) -> None:
        """Send this tick's targets (when connected); a failure hands the port to the reconnector."""
        self._writes += 1
        if not self.ok:
            return
        try:
            self.bus.write_targets(targets, query_errors=self._writes % self.error_every == 0)
            errors = self.bus.poll_errors()
        except DeviceUnavailable as exc:
            self.record("servo_lost", {"reason": str(exc)[:120]})
            self.reconnector.lost()
            return
        if errors:
            self.record("servo_errors", {"errors": ",".join(describe_errors(errors))})
            if errors & MaestroError.SERIAL_TIMEOUT:
                self.record("servo_errors", {"reason": "board watchdog fired: loop writes were late"})
