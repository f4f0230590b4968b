"""The servo interface the robot moves its head with, whatever board is behind it.

Everything is in joint degrees (0 = the joint's neutral) with its limits, plus on/off
lights. A backend turns degrees into its own units (the Maestro's microseconds stay in
hardware.maestro_servos) and reports what its board says as fault names. Dynamixel
Protocol 2.0 can follow behind the same methods: its hardware error status maps onto the
faults `write` returns and its bus watchdog onto WATCHDOG.

A new backend is its own module implementing `Servos`, one entry in robot.devices'
factory and its config section; nothing else changes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from hardware.device import Probe

WATCHDOG = "watchdog"  # a fault name: the board's own watchdog fired because the writes came late


@dataclass(frozen=True)
class Joint:
    """One output as the behaviour sees it: a joint in degrees (0 = neutral), or a light (role led)."""

    name: str
    role: str
    low_deg: float = 0.0
    high_deg: float = 0.0

    @property
    def light(self) -> bool:
        """True for an on/off output (an indicator LED), which has no angle."""
        return self.role == "led"

    def clamp(self, deg: float) -> float:
        """Degrees clamped into the joint's limits; NaN is neutral.

        Python's min and max pass NaN through or drop it depending on the order of their
        arguments: unchecked, a NaN angle drove the joint to its lower limit at full speed.
        """
        if math.isnan(deg):
            return 0.0
        return min(self.high_deg, max(self.low_deg, deg))


@dataclass(frozen=True)
class ServoHealth:
    """What the robot's status shows of the board."""

    where: str  # the port or bus, for a technician
    connected: bool
    silent: bool
    faults: tuple[str, ...]  # what the board last reported
    protocol_faults: int  # bytes nobody asked for, discarded


class Servos(ABC):
    """Write angles and lights once per tick (the heartbeat), report health, go safe.

    Implementations never block the loop for long in `write`; `probe` and the read-backs that
    technician tools use (`positions`, `moving`, `read_faults`) may block.
    """

    @property
    @abstractmethod
    def joints(self) -> tuple[Joint, ...]:
        """Every output with its limits in degrees."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True while the board is open and answering."""

    @property
    @abstractmethod
    def silent(self) -> bool:
        """True while the board owes a reply past its deadline and has said nothing since."""

    @abstractmethod
    def open(self) -> None:
        """Open the board (raises DeviceUnavailable) and push its limits to it."""

    @abstractmethod
    def close(self) -> None:
        """Close the board; safe to call twice."""

    @abstractmethod
    def write(self, angles: Mapping[str, float], lights: Mapping[str, bool]) -> tuple[str, ...]:
        """Send one tick's targets by joint name (unlisted joints to neutral, lights off) in one write.

        Returns the faults the board reported since the last write (WATCHDOG among them when
        its watchdog fired); raises DeviceUnavailable when the board is gone.
        """

    @abstractmethod
    def go_home(self) -> None:
        """Send every output to its home setting (the safe state)."""

    @abstractmethod
    def health(self) -> ServoHealth:
        """The board's state for status and staff."""

    @abstractmethod
    def positions(self) -> dict[str, float]:
        """Where each joint is, in degrees read back from the board (NaN: not driven). Blocks: tools only."""

    @abstractmethod
    def moving(self) -> bool:
        """True while a joint is still on its way to its target. Blocks: tools only."""

    @abstractmethod
    def read_faults(self) -> tuple[str, ...]:
        """Ask the board for its faults now, which clears them. Blocks: tools only, never the loop."""

    @abstractmethod
    def probe(self) -> Probe:
        """Bring every joint to neutral and read it back, blink the lights; raise HardwareError if wrong."""
