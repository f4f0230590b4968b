"""The servo-bus interface the control loop writes to, whatever board is behind it.

A Maestro (and its simulator) implements it today; Dynamixel Protocol 2.0 can follow
behind the same methods (its CRC-16 framing, hardware error status and bus watchdog
map onto `write_targets`, `read_errors` and the board timeout).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping


class ServoBus(ABC):
    """Write targets, read status, go safe. Implementations never block the loop for long."""

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
        """Open the board (raises DeviceUnavailable) and push channel limits to it."""

    @abstractmethod
    def close(self) -> None:
        """Close the port; safe to call twice."""

    @abstractmethod
    def write_targets(self, targets_us: Mapping[int, float]) -> None:
        """Send every target in one packet write (the heartbeat); raises DeviceUnavailable."""

    @abstractmethod
    def set_limits(self, channel: int, speed: int, acceleration: int) -> None:
        """Set a channel's board-side speed and acceleration limits."""

    @abstractmethod
    def get_position(self, channel: int) -> float:
        """A channel's current pulse width in µs (blocking, with a timeout)."""

    @abstractmethod
    def is_moving(self) -> bool:
        """True while any servo is still moving (blocking, with a timeout)."""

    @abstractmethod
    def read_errors(self) -> int:
        """The board's error register, which reading clears (blocking, with a timeout)."""

    @abstractmethod
    def go_home(self) -> None:
        """Send every channel to its home setting."""
