"""Housekeeping: the only writer of files and the terminal in the control process.

The tick never touches a file or the terminal: it hands records and console lines to
`Housekeeper` (deque appends) and the housekeeping thread, idle until woken, writes the
hash-chained audit log, the console and the status file.
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

log = logging.getLogger(__name__)

SHOWN = ("alert", "fault", "worker", "refused", "servo_lost", "servo_errors", "servo_silent", "servo_answers")


class Housekeeper:
    """Writes the audit log, the console and the status file from its own thread."""

    def __init__(self, audit: AuditLog, status_path: Path, status: Callable[[], dict[str, Any]],
                 interval_s: float, out: TextIO | None = None) -> None:
        self.audit = audit
        self.status_path = status_path
        self.status = status
        self.interval_s = interval_s
        self.out = out
        self._records: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._console: collections.deque[str] = collections.deque(maxlen=100)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self.run, name="housekeeping", daemon=True)

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

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the housekeeping thread."""
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Write what is queued and the last status, then end the thread."""
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout)

    # -- the housekeeping thread ------------------------------------------------------------------

    def run(self) -> None:
        """The thread body: wait for work, write it, refresh the status file on its interval."""
        next_status = 0.0
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            while self._records:
                kind, data = self._records.popleft()
                try:
                    self.audit.append(kind, data)
                except (OSError, ValueError) as exc:
                    log.error("audit log write failed: %s", exc)
                self._show(kind, data)
            while self._console:
                self._write_out(self._console.popleft())
            now = time.monotonic()
            if now >= next_status:
                next_status = now + self.interval_s
                self.write_status()
            if self._stopped.is_set() and not self._records:
                self.write_status()
                return

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
            self.out.write(time.strftime("%H:%M:%S ") + line + "\n")
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
