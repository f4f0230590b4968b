"""The robot's own ESPA 4.4.4 output: its alerts to the paging system on a serial line of its own.

For a home whose paging system's line reaches the robot (the usual case is the gateway, `carebot
nursecall`, on the home's server). With `[nursecall] enabled = true` in the robot's config, the `paging`
part owns the line: the staff channel offers it every alert update as it sends it (never blocking the
tick), and the same Pager and PagingLine as the gateway's page them. Open alerts restored after a restart
are offered again, and the record of what was paged (`record_file`) keeps them from going out twice. A line
that fails reaches the tick as the fault `nursecall_link` (a BoardFault input): staff see a robot_fault
alert and the robot carries on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from hardware import espa
from robot.config_nursecall import NursecallSection
from robot.core.inputs import BoardFault
from robot.nursecall import PagedRecord, Pager
from robot.nursecall_line import PagingLine

FAULT = "nursecall_link"


class RobotPaging:
    """The `paging` part: alert updates in from the staff channel, calls out on the robot's line."""

    def __init__(self, cfg: NursecallSection, robot: str, open_link: Callable[[], espa.Link],
                 put: Callable[[BoardFault], None]) -> None:
        self.record = PagedRecord(cfg.record_file)
        self.pager = Pager(cfg, self.record)
        self.robot = robot
        self.line = PagingLine(cfg, self.pager, open_link, lambda faulted: put(BoardFault(FAULT, faulted)))
        self._updates: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()

    def offer(self, update: dict[str, Any]) -> None:
        """An alert update the robot sends (from the tick: never blocks)."""
        self._updates.put({**update, "robot": self.robot})
        self._wake.set()

    def step(self) -> None:
        """One turn of the part: take the updates offered, then one turn of the line."""
        while True:
            try:
                self.pager.take(self._updates.get_nowait())
            except queue.Empty:
                break
        self.line.step(self._idle)

    def _idle(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def wake(self) -> None:
        """Make a waiting step return (for stopping)."""
        self._wake.set()

    def close(self) -> None:
        """Close the line and the record."""
        self.line.close()
        self.record.close()
