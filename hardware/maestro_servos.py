"""The Maestro behind the servo interface: degrees in, microseconds out, board errors as fault names.

Each channel's calibration (min, max and neutral pulse, direction, travel in degrees)
turns an angle into a pulse width that never leaves min..max. The error register is asked
for every `error_every` writes, inside the same packet, and read back without blocking,
so the loop never waits on the board. The simulated twin is this same class on the
virtual Maestro's pseudo-terminal (hardware.maestro_pty): it speaks the bytes a real
board does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hardware.device import Probe
from hardware.errors import HardwareError
from hardware.maestro import MaestroBus
from hardware.maestro_protocol import MaestroError, describe_errors
from hardware.poll import poll_until
from hardware.servo import WATCHDOG, Joint, ServoHealth, Servos

LED_ON_US = 2000.0  # a Maestro output channel is high for targets of 1500 µs and above
LED_OFF_US = 1000.0
SETTLE_S = 5.0  # how long a probe waits for the joints to reach neutral
NEUTRAL_TOLERANCE_US = 5.0
BLINK_S = 0.3


@dataclass(frozen=True)
class Channel:
    """One Maestro channel's calibration: where degrees become pulse widths."""

    channel: int
    name: str
    role: str
    min_us: float
    max_us: float
    neutral_us: float
    direction: int = 1
    range_deg: float = 90.0
    speed: int = 0
    acceleration: int = 0

    @property
    def us_per_deg(self) -> float:
        return (self.max_us - self.min_us) / self.range_deg

    @property
    def joint(self) -> Joint:
        """The channel as the behaviour sees it: its travel in degrees, lowest first."""
        if self.role == "led":
            return Joint(self.name, self.role)
        a = (self.min_us - self.neutral_us) / self.us_per_deg * self.direction
        b = (self.max_us - self.neutral_us) / self.us_per_deg * self.direction
        return Joint(self.name, self.role, min(a, b), max(a, b))

    def to_deg(self, us: float) -> float:
        """The angle of a pulse width; NaN for 0, a channel the board is not driving."""
        return (us - self.neutral_us) / self.us_per_deg * self.direction if us else math.nan

    def to_us(self, deg: float) -> float:
        """Pulse width for an angle, never outside min_us..max_us (NaN: neutral)."""
        if math.isnan(deg):
            return self.neutral_us
        us = self.neutral_us + self.direction * deg * self.us_per_deg
        return min(self.max_us, max(self.min_us, us))


def faults_of(errors: int) -> tuple[str, ...]:
    """The Maestro's error bits as fault names, with WATCHDOG when its serial timeout fired."""
    names = tuple(describe_errors(errors))
    return (*names, WATCHDOG) if errors & MaestroError.SERIAL_TIMEOUT else names


class MaestroServos(Servos):
    """A Pololu Maestro's channels as joints and lights."""

    def __init__(self, bus: MaestroBus, channels: Sequence[Channel], *, error_every: int = 50) -> None:
        self.bus = bus
        self.channels = tuple(channels)
        self.error_every = max(1, error_every)
        self._joints = tuple(c.joint for c in self.channels)
        self._writes = 0

    @property
    def joints(self) -> tuple[Joint, ...]:
        return self._joints

    @property
    def connected(self) -> bool:
        return self.bus.connected

    @property
    def silent(self) -> bool:
        return self.bus.silent

    def open(self) -> None:
        self.bus.open()

    def close(self) -> None:
        self.bus.close()

    def targets_us(self, angles: Mapping[str, float], lights: Mapping[str, bool]) -> dict[int, float]:
        """Pulse widths by channel for angles and lights by name (unlisted: neutral, off)."""
        out = {}
        for c, j in zip(self.channels, self._joints, strict=True):
            if j.light:
                out[c.channel] = LED_ON_US if lights.get(c.name) else LED_OFF_US
            else:
                out[c.channel] = c.to_us(j.clamp(angles.get(c.name, 0.0)))
        return out

    def write(self, angles: Mapping[str, float], lights: Mapping[str, bool]) -> tuple[str, ...]:
        self._writes += 1
        self.bus.write_targets(self.targets_us(angles, lights), query_errors=self._writes % self.error_every == 0)
        errors = self.bus.poll_errors()
        return faults_of(errors) if errors else ()

    def go_home(self) -> None:
        self.bus.go_home()

    def health(self) -> ServoHealth:
        return ServoHealth(self.bus.port, self.connected, self.silent, tuple(describe_errors(self.bus.last_errors)),
                           self.bus.protocol_faults)

    def positions(self) -> dict[str, float]:
        return {c.name: c.to_deg(self.bus.get_position(c.channel)) for c in self.channels if c.role != "led"}

    def moving(self) -> bool:
        return self.bus.is_moving()

    def read_faults(self) -> tuple[str, ...]:
        return faults_of(self.bus.read_errors())

    def probe(self) -> Probe:
        """Blink each light, hold every joint at neutral until the board says it stopped, read them back.

        Targets are resent while waiting, so the board's own watchdog does not send them home.
        """
        opened = not self.connected
        if opened:
            self.open()
        try:
            errors = self.bus.read_errors()
            found = []
            for c in self.channels:
                if c.role == "led":
                    self._hold(self.targets_us({}, {c.name: True}), BLINK_S)
                    found.append(f"{c.name} LED blinked")
            neutral = self.targets_us({}, {})
            poll_until(lambda: self._hold(neutral, 0) and not self.bus.is_moving(), SETTLE_S, 0.05)
            off = []
            for c in self.channels:
                if c.role != "led":
                    at = self.bus.get_position(c.channel)
                    found.append(f"{c.name} {at:.0f} µs")
                    if abs(at - c.neutral_us) > NEUTRAL_TOLERANCE_US:
                        off.append(f"{c.name} at {at:.0f} µs, not its neutral {c.neutral_us:.0f} µs")
        finally:
            if opened:
                self.close()
        if off:
            raise HardwareError("; ".join(off) + ". Check the servo's power and its speed limits")
        errs = describe_errors(errors)
        warning = f"the board had reported: {', '.join(errs)} (read and cleared)" if errs else ""
        return Probe(", ".join(found) + ("" if errs else "; no board errors"), warning)

    def _hold(self, targets: Mapping[int, float], seconds: float) -> bool:
        """Send `targets` now and every 50 ms for `seconds`, so the board's watchdog stays quiet."""
        self.bus.write_targets(targets)
        if seconds > 0:
            poll_until(lambda: self.bus.write_targets(targets), seconds, 0.05)  # never holds: writes till the end
        return True
