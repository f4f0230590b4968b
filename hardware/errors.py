"""Hardware errors: the device layer's own small hierarchy, which knows nothing of the robot above it.

    HardwareError           a device failed or spoke nonsense
     ├── DeviceUnavailable  the device is absent, unplugged or not answering
     └── ProtocolError      bytes that do not follow the device's protocol

robot.errors builds on this module, never the other way round: the CLI reports a
HardwareError as plainly as any CareBotError.
"""

from __future__ import annotations


class HardwareError(Exception):
    """A device failed or answered with nonsense."""


class DeviceUnavailable(HardwareError):
    """The device is absent, unplugged, or did not answer in time."""


class ProtocolError(HardwareError):
    """Bytes that break the device protocol; the message says which and why."""
