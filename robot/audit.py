"""A hash-chained audit log of what the robot did, free of personal data.

Each line is a JSON record with a sequence number, wall-clock time, a kind (state,
alert, command, fault...), a small dict of tokens and counts, the previous record's
hash and its own. Editing or removing a line breaks the chain, which `verify` finds.
Only the housekeeping thread writes it; the control loop just queues records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# Keys a record's data may carry. Anything else is refused: no free text, no names.
ALLOWED_KEYS = frozenset({
    "trigger", "source", "dest", "reason", "worker", "type", "priority", "state", "room",
    "reminder", "counter", "delta", "command", "restart_in_s", "planned", "mode", "key",
    "gesture", "boot_id", "version", "errors", "channel", "field",
})


def _digest(prev: str, body: dict[str, Any]) -> str:
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + payload).encode()).hexdigest()


class AuditLog:
    """Appends chained records to a file, continuing the chain across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq, self.prev = self._tail()

    def _tail(self) -> tuple[int, str]:
        """The chain's last record. A last line without its newline is a write that never finished
        (a full disk, a crash or power loss mid-write): it was never a record, so it is cut off.
        Any other unreadable line is left for `verify` to report; the chain goes on from the last
        good record, for a robot that cannot start is worse than a log with a flagged line."""
        if not self.path.exists():
            return 0, GENESIS
        seq, prev, good_end, end = 0, GENESIS, 0, 0
        with self.path.open("rb") as f:
            for line in f:
                end += len(line)
                if not line.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(line)
                    seq, prev = int(rec["seq"]), str(rec["hash"])
                except (ValueError, KeyError, TypeError):
                    if line.strip():
                        log.error("audit log %s: unreadable record at byte %d; verify will report it",
                                  self.path, end - len(line))
                good_end = end
        if end > good_end:
            log.warning("audit log %s: cutting off an unfinished last write (%d bytes)", self.path, end - good_end)
            os.truncate(self.path, good_end)
        return seq, prev

    def append(self, kind: str, data: dict[str, Any], wall: float | None = None) -> dict[str, Any]:
        """Write one record and fsync it; unknown data keys raise ValueError."""
        bad = set(data) - ALLOWED_KEYS
        if bad:
            raise ValueError(f"audit record {kind!r} has keys that are not allowed: {sorted(bad)}")
        body: dict[str, Any] = {"seq": self.seq + 1, "t": round(time.time() if wall is None else wall, 3),
                "kind": kind, "data": data, "prev": self.prev}
        record = {**body, "hash": _digest(self.prev, body)}
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(f"short write to {self.path} (disk full?)")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # no torn record: this one is lost, the chain stays whole
                raise
        finally:
            os.close(fd)
        self.seq, self.prev = body["seq"], record["hash"]
        return record


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a chain."""

    ok: bool
    records: int
    problem: str = ""


def verify(path: Path) -> VerifyResult:
    """Check every record's hash and link; the first break is reported with its line."""
    prev, count = GENESIS, 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                body = {k: rec[k] for k in ("seq", "t", "kind", "data", "prev")}
                stored = rec["hash"]
            except (ValueError, KeyError, TypeError) as exc:
                return VerifyResult(False, count, f"line {number}: not an audit record ({exc})")
            if body["prev"] != prev:
                why = "chain broken (a record before it was changed or removed)"
                return VerifyResult(False, count, f"line {number}: {why}")
            if _digest(prev, body) != stored:
                return VerifyResult(False, count, f"line {number}: record was altered")
            prev, count = stored, count + 1
    return VerifyResult(True, count)
