"""A hash-chained audit log of what the robot did, free of personal data.

Each line is a JSON record with a sequence number, wall-clock time, a kind (state,
alert, command, fault...), a small dict of tokens and counts, the previous record's
hash and its own. Editing or removing a line breaks the chain, which `verify` finds.
Only the housekeeping thread writes it; the control loop just queues records.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        if not self.path.exists():
            return 0, GENESIS
        last = None
        with self.path.open("rb") as f:
            for line in f:
                if line.strip():
                    last = line
        if last is None:
            return 0, GENESIS
        rec = json.loads(last)
        return int(rec["seq"]), str(rec["hash"])

    def append(self, kind: str, data: dict[str, Any], wall: float | None = None) -> dict[str, Any]:
        """Write one record and fsync it; unknown data keys raise ValueError."""
        bad = set(data) - ALLOWED_KEYS
        if bad:
            raise ValueError(f"audit record {kind!r} has keys that are not allowed: {sorted(bad)}")
        body: dict[str, Any] = {"seq": self.seq + 1, "t": round(time.time() if wall is None else wall, 3),
                "kind": kind, "data": data, "prev": self.prev}
        record = {**body, "hash": _digest(self.prev, body)}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
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
