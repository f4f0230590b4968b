"""Hardware errors.

    HardwareError           (a robot.errors.CareBotError)
     ├── DeviceUnavailable  the device is absent, unplugged or not answering
     └── ProtocolError      bytes that do not follow the device's protocol
"""

from __future__ import annotations

from robot.errors import CareBotError


class HardwareError(CareBotError):
    """A device failed or answered with nonsense."""


class DeviceUnavailable(HardwareError):
    """The device is absent, unplugged, or did not answer in time."""


class ProtocolError(HardwareError):
    """Bytes that break the device protocol; the message says which and why."""
