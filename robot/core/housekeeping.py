"""Housekeeping: the only writer of files and the terminal in the control process.

The tick never touches a file or the terminal: it hands records and console lines to
`Housekeeper` (deque appends) and the housekeeping part, a guarded thread idle until woken,
writes the hash-chained audit log, the console and the status file.

To spare an SD card, audit records are written in batches: the first record queued opens a
window of `audit_flush_s` (1 s on a robot), and everything queued within it goes to disk in one
write and one fsync. The console shows each record at once.
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

from robot.audit import KEEP, AuditLog
from robot.clock import Clock
from robot.config import Config

log = logging.getLogger(__name__)

AUDIT_KEEP = KEEP  # rotated audit files kept beside the live one: [log] audit_max_mb is shared among the 16
SHOWN = ("alert", "fault", "worker", "refused", "servo_lost", "servo_errors", "servo_silent", "servo_answers")


def status_path(cfg: Config) -> Path:
    """Where the status file is: [loop] status_file, or status.json in the state directory."""
    return cfg.loop.status_file or Path(cfg.robot.state_dir) / "status.json"


class Housekeeper:
    """Writes the audit log, the console and the status file, off the loop."""

    def __init__(self, audit: AuditLog, status_path: Path, status: Callable[[], dict[str, Any]],
                 interval_s: float, out: TextIO | None = None, clock: Clock | None = None,
                 audit_flush_s: float = 0.0) -> None:
        self.audit = audit
        self.audit_flush_s = audit_flush_s
        self.clock = clock or Clock()  # console lines carry the robot's time of day
        self.status_path = status_path
        self.status = status
        self.interval_s = interval_s
        self.out = out
        self._records: collections.deque[tuple[str, dict[str, Any], float]] = collections.deque()
        self._batch: list[tuple[str, dict[str, Any], float]] = []  # shown, waiting for the batch's write
        self._batch_due = 0.0
        self._lost = 0  # records the audit log could not write since its last good write
        self._console: collections.deque[str] = collections.deque(maxlen=100)
        self._wake = threading.Event()
        self._next_status = 0.0

    @classmethod
    def from_config(cls, cfg: Config, status: Callable[[], dict[str, Any]], out: TextIO | None, clock: Clock
                    ) -> Housekeeper:
        """The robot's files where its config puts them (docs/storage.md lists them all)."""
        state = Path(cfg.robot.state_dir)
        file_bytes = int(cfg.log.audit_max_mb * 1024 * 1024 / (AUDIT_KEEP + 1))
        audit = AuditLog(state / "audit.jsonl", file_bytes, AUDIT_KEEP)
        return cls(audit, status_path(cfg), status, cfg.loop.status_interval_s, out, clock, cfg.log.audit_flush_s)

    # -- any thread: never blocks -----------------------------------------------------------------

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one audit record (no personal data: the caller's duty, the schema's check)."""
        self._records.append((kind, data, time.time()))
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
        self._flush(time.monotonic())
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + self.interval_s
            self.write_status()

    def close(self) -> None:
        """After the last step: write what is still queued and the final status."""
        self._flush(None)
        self.write_status()

    def _flush(self, now: float | None) -> None:
        """Show what was queued; write the audit batch when its window has passed (`now` None: at once)."""
        while self._records:
            kind, data, wall = self._records.popleft()
            try:
                self.audit.check(kind, data)
            except ValueError as exc:
                log.error("audit record refused: %s", exc)
                continue
            if not self._batch:
                self._batch_due = (now or 0.0) + self.audit_flush_s
            self._batch.append((kind, data, wall))
            self._show(kind, data)
        if self._batch and (now is None or now >= self._batch_due):
            batch, self._batch = self._batch, []
            if self._lost:  # the chain says where records are missing, and how many
                batch.insert(0, ("audit_gap", {"lost": self._lost}, batch[0][2]))
            try:
                self.audit.append_many(batch)
            except OSError as exc:
                if not self._lost:
                    log.error("audit log write failed: %s; records are lost (and counted) until it can write, "
                              "and staff have a storage fault", exc)
                self._lost += len(batch) - (1 if self._lost else 0)
            else:
                if self._lost:
                    log.warning("audit log writes again: %d records were lost, recorded as a gap", self._lost)
                self._lost = 0
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
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.status(), indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)
