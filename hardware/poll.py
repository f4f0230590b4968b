"""The one "poll until" helper, for tools, probes, benchmarks and tests (never the control loop)."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Call `predicate` until it holds or `timeout` passes; whether it held."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)
