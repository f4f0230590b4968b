"""Small timestamped messages between the control process and its workers.

Only these cross a process boundary: never audio, never frames. Each carries the
sender's monotonic time (all processes share CLOCK_MONOTONIC) and a sequence number,
so the receiver can measure latency and spot gaps.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

MAX_DATA_ITEMS = 32


@dataclass(frozen=True)
class Message:
    """One message: a kind, the sender, when it was sent, a sequence number, small data."""

    kind: str
    sender: str
    t: float = field(default_factory=time.monotonic)
    seq: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def age(self, now: float | None = None) -> float:
        """Seconds since the message was sent."""
        return (time.monotonic() if now is None else now) - self.t


class Outgoing:
    """Stamps messages from one sender with increasing sequence numbers."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self._seq = itertools.count(1)

    def make(self, kind: str, **data: Any) -> Message:
        """A new message of `kind` with `data` (at most MAX_DATA_ITEMS small values)."""
        if len(data) > MAX_DATA_ITEMS:
            raise ValueError(f"message {kind!r} carries {len(data)} items; the limit is {MAX_DATA_ITEMS}")
        return Message(kind, self.sender, time.monotonic(), next(self._seq), data)
