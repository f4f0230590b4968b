"""Housekeeping: the only writer of files and the terminal in the control process.

The tick never touches a file or the terminal: it hands records and console lines to
`Housekeeper` (deque appends) and the housekeeping part, a guarded thread idle until woken,
writes the hash-chained audit log, the console and the status file.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from robot.audit import AuditLog
from robot.clock import Clock

log = logging.getLogger(__name__)

SHOWN = ("alert", "fault", "worker", "refused", "servo_lost", "servo_errors", "servo_silent", "servo_answers")


class Housekeeper:
    """Writes the audit log, the console and the status file, off the loop."""

    def __init__(self, audit: AuditLog, status_path: Path, status: Callable[[], dict[str, Any]],
                 interval_s: float, out: TextIO | None = None, clock: Clock | None = None) -> None:
        self.audit = audit
        self.clock = clock or Clock()  # console lines carry the robot's time of day
        self.status_path = status_path
        self.status = status
        self.interval_s = interval_s
        self.out = out
        self._records: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._console: collections.deque[str] = collections.deque(maxlen=100)
        self._wake = threading.Event()
        self._next_status = 0.0

    # -- any thread: never blocks -----------------------------------------------------------------

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one audit record (no personal data: the caller's duty, the schema's check)."""
        self._records.append((kind, data))
        self._wake.set()

    def console(self, line: str) -> None:
        """Queue one line for the technician's terminal, when there is one."""
        if self.out is not None:
            self._console.append(line)
            self._wake.set()

    def wake(self) -> None:
        """Wake the housekeeping step at once."""
        self._wake.set()

    # -- the housekeeping part (robot.core.guard runs `step` on its own thread) --------------------

    def step(self) -> None:
        """Wait up to 0.2 s for work, write it, refresh the status file on its interval."""
        self._wake.wait(0.2)
        self._wake.clear()
        self._flush()
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + self.interval_s
            self.write_status()

    def close(self) -> None:
        """After the last step: write what is still queued and the final status."""
        self._flush()
        self.write_status()

    def _flush(self) -> None:
        while self._records:
            kind, data = self._records.popleft()
            try:
                self.audit.append(kind, data)
            except (OSError, ValueError) as exc:
                log.error("audit log write failed: %s", exc)
            self._show(kind, data)
        while self._console:
            self._write_out(self._console.popleft())

    def _show(self, kind: str, data: dict[str, Any]) -> None:
        if self.out is None:
            return
        if kind == "state":
            line = f"state  {data['source']} -> {data['dest']}  ({data['trigger']})"
        elif kind in SHOWN:
            line = f"{kind:6s} " + " ".join(f"{k}={v}" for k, v in data.items())
        else:
            return
        self._write_out(line)

    def _write_out(self, line: str) -> None:
        if self.out is None:
            return
        try:
            self.out.write(self.clock.now().strftime("%H:%M:%S ") + line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def write_status(self) -> None:
        """Replace the status file atomically with a fresh snapshot."""
        path = self.status_path
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status(), indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)
