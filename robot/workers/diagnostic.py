"""A diagnostic worker: echoes, loads the CPU, crashes or hangs on command.

Technicians use it through `carebot selftest` and `carebot bench loop` to check that
supervision works on a robot; the tests use it to prove restarts and clean shutdown.
"""

from __future__ import annotations

import os
import time
from typing import Any

from robot.messages import MAX_DATA_ITEMS, Message
from robot.worker import Worker


class DiagnosticWorker(Worker):
    """Answers `echo`, burns CPU on `busy`, exits on `crash`, stops heartbeating on `hang`, and
    answers any other command with `got` (what it was asked), so it can stand in for a worker."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.duty = float(self.options.get("duty", 0.0))
        self.report_hz = float(self.options.get("report_hz", 0.0))
        self._next_report = 0.0
        self.poll_s = 0.01 if self.duty or self.report_hz else 0.05

    def handle(self, msg: Message) -> None:
        if msg.kind == "echo":
            self.send("echo", sent_t=msg.t, seq=msg.seq, **msg.data)
        elif msg.kind == "busy":
            self.duty = min(1.0, max(0.0, float(msg.data.get("duty", 1.0))))
        elif msg.kind == "crash":
            os._exit(int(msg.data.get("code", 3)))
        elif msg.kind == "hang":
            time.sleep(float(msg.data.get("seconds", 3600)))  # a wedged library call
        else:  # stands in for another worker: tell the control process what it was asked
            self.send("got", command=msg.kind, **dict(list(msg.data.items())[:MAX_DATA_ITEMS - 1]))

    def step(self) -> None:
        if self.duty > 0:
            # Pure-Python work, the worst case for a shared GIL (which is why workers are processes).
            end = time.perf_counter() + self.poll_s * self.duty / max(1e-3, 1 - self.duty + 1e-3)
            x = 0
            while time.perf_counter() < end:
                x += 1
        if self.report_hz:
            now = time.monotonic()
            if now >= self._next_report:
                self._next_report = now + 1.0 / self.report_hz
                self.send("observation", score=0.5, faces=1)
