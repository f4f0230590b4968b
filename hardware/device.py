"""What every device offers the self-test, whatever it is and whichever twin is behind it.

`probe()` opens what it needs, tries the device the way the robot uses it, and either
returns what it found (a `Probe`) or raises a HardwareError that says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Probe:
    """What a probe found; `warning` when it works, but not as it should on a robot."""

    detail: str
    warning: str = ""


class Device(Protocol):
    """Anything the self-test can try."""

    def probe(self) -> Probe:
        """Try the device; raise HardwareError with what is wrong when it does not work."""
        ...
