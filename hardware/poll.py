"""The one "poll until" helper, for tools, probes, benchmarks and tests (never the control loop)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(predicate: Callable[[], T], timeout: float, interval: float = 0.02) -> T:
    """Call `predicate` until it returns something true or `timeout` passes; its last value.

    It is called at least once, and once more at the deadline, so a slow machine that
    overslept still gets its answer.
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(max(0.0, min(interval, end - time.monotonic())))
