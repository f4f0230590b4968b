"""A hash-chained audit log of what the robot did, free of personal data.

Each line is a JSON record with a sequence number, wall-clock time, a kind (state,
alert, command, fault...), a small dict of tokens and counts, the previous record's
hash and its own. Editing or removing a line breaks the chain, which `verify` finds.
Only the housekeeping thread writes it; the control loop just queues records.

An SD card wears with every write, so records are written in batches (one write and one
fsync per batch: the housekeeper gathers a second's worth) and the log is bounded: when the
file passes `max_bytes` it becomes `audit.jsonl.1` (the older ones move up to `.2`, `.3`...,
and the one past `keep` is deleted), and the chain goes on in a fresh file. `verify` checks
the kept files as one chain; only the oldest kept file may start after record 1, its
predecessors having been removed by that retention.
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
KEEP = 15  # rotated files kept beside the live one
RESUME_RETRY_S = 10.0  # a log whose end could not be read tries again this often (reading may take a while)
# Keys a record's data may carry. Anything else is refused: no free text, no names.
ALLOWED_KEYS = frozenset({
    "trigger", "source", "dest", "reason", "worker", "type", "priority", "state", "room",
    "reminder", "counter", "delta", "command", "restart_in_s", "planned", "mode", "key",
    "gesture", "boot_id", "version", "errors", "channel", "field", "lost",
})


def _digest(prev: str, body: dict[str, Any]) -> str:
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + payload).encode()).hexdigest()


class AuditLog:
    """Appends chained records to a file, continuing the chain across restarts."""

    def __init__(self, path: Path, max_bytes: int = 16 * 1024 * 1024, keep: int = KEEP) -> None:
        if keep < 1:
            raise ValueError("keep at least one rotated audit file: verify needs it to know where the chain begins")
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self.batches = 0  # writes (each one fsync) so far, for tests and status
        self.write_error: str | None = None  # why the last write failed; None once one succeeds (a storage fault)
        self._rotate_failing = False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.touch(0o644)  # the log exists from the start, even before its first batch is written
        except OSError as exc:  # a card the kernel remounted read-only: the robot must still start and call for help
            log.error("audit log %s cannot be created (%s): its records are lost until it can", path, exc)
            self.write_error = f"audit log: {exc}"
        self.seq, self.prev = 0, GENESIS
        self._resume: str | None = None  # why the chain's end is not known yet (nothing is written until it is)
        self._resume_at = 0.0
        self._cut: int | None = None  # where a torn last write is cut off, if it could not be at start
        try:
            self._start()
        except OSError as exc:  # a tail that cannot be read or cut (a bad block, a read-only card): start anyway
            log.error("audit log %s cannot be read (%s): its records are lost until it can", path, exc)
            self._resume = self.write_error = f"audit log: {exc}"

    def _start(self) -> None:
        """Find where the chain ends: the live file's last record, or the newest rotated file's."""
        self.seq, self.prev = self._tail()
        if self.seq == 0 and (older := rotated(self.path)[:-1]):
            self.seq, self.prev = _last_record(older[-1])  # the live file was just rotated away

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
            try:
                os.truncate(self.path, good_end)
            except OSError as exc:  # a card remounted read-only: cut off before the next write instead
                log.error("audit log %s: the unfinished write cannot be cut off yet (%s)", self.path, exc)
                self._cut = good_end
        return seq, prev

    @staticmethod
    def check(kind: str, data: dict[str, Any]) -> None:
        """Refuse a record whose data keys are not on the list (ValueError)."""
        bad = set(data) - ALLOWED_KEYS
        if bad:
            raise ValueError(f"audit record {kind!r} has keys that are not allowed: {sorted(bad)}")

    def append(self, kind: str, data: dict[str, Any], wall: float | None = None) -> dict[str, Any]:
        """Write one record and fsync it; unknown data keys raise ValueError."""
        return self.append_many([(kind, data, time.time() if wall is None else wall)])[0]

    def append_many(self, items: list[tuple[str, dict[str, Any], float]]) -> list[dict[str, Any]]:
        """Write (kind, data, wall time) records in one write and one fsync: all of them, or (on a
        full disk) none."""
        for kind, data, _ in items:
            self.check(kind, data)
        if self._resume is not None:  # the chain goes on from its real end, never from a guessed one
            if time.monotonic() < self._resume_at:
                raise OSError(self._resume)
            self._resume_at = time.monotonic() + RESUME_RETRY_S
            try:
                self._start()
            except OSError as exc:
                self._resume = self.write_error = f"audit log: {exc}"
                raise
            self._resume = None
        seq, prev, records, lines = self.seq, self.prev, [], []
        for kind, data, wall in items:
            body: dict[str, Any] = {"seq": seq + 1, "t": round(wall, 3), "kind": kind, "data": data, "prev": prev}
            record = {**body, "hash": _digest(prev, body)}
            records.append(record)
            lines.append(json.dumps(record, sort_keys=True) + "\n")
            seq, prev = body["seq"], record["hash"]
        blob = "".join(lines).encode()
        try:
            size = self._write(blob)
        except OSError as exc:
            self.write_error = f"audit log: {exc}"
            raise
        self.write_error = None
        self.seq, self.prev = seq, prev
        self.batches += 1
        if size + len(blob) >= self.max_bytes:
            try:
                self._rotate()
            except OSError as exc:  # the records are written: the file only grows on until a rotation works
                if not self._rotate_failing:  # retried at every batch, logged once until one works
                    log.error("audit log %s could not be rotated (%s): it grows on", self.path, exc)
                self._rotate_failing = True
            else:
                self._rotate_failing = False
        return records

    def _write(self, blob: bytes) -> int:
        """Append `blob` and fsync it, or leave the file as it was (OSError); returns the size before."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if self._cut is not None:  # the torn write found at start goes before anything is appended
                os.ftruncate(fd, self._cut)
                self._cut = None
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, blob) != len(blob):
                    raise OSError(f"short write to {self.path} (disk full?)")
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, size)  # no torn record: this batch is lost, the chain stays whole
                except OSError:
                    self._cut = size  # it could not be undone now: it is cut off before the next write
                raise
        finally:
            os.close(fd)
        return size

    def _rotate(self) -> None:
        """audit.jsonl becomes audit.jsonl.1, .1 becomes .2 ...; the one past `keep` goes."""
        name = self.path.name
        oldest = self.path.with_name(f"{name}.{self.keep}")
        oldest.unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{name}.1"))
        self.path.touch(0o644)
        log.info("audit log %s rotated at record %d (keeping %d older files)", self.path, self.seq, self.keep)


def rotated(path: Path) -> list[Path]:
    """The log's files oldest first: audit.jsonl.N ... audit.jsonl.1, then audit.jsonl if it exists."""
    numbered = [p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()]
    files = sorted(numbered, key=lambda p: -int(p.suffix[1:]))
    return files + ([path] if path.exists() else [])


def _last_record(path: Path) -> tuple[int, str]:
    """The (seq, hash) of a file's last record, (0, GENESIS) if it has none."""
    seq, prev = 0, GENESIS
    with path.open("rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
                seq, prev = int(rec["seq"]), str(rec["hash"])
            except (ValueError, KeyError, TypeError):
                continue
    return seq, prev


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a chain."""

    ok: bool
    records: int
    problem: str = ""
    first_seq: int = 1  # above 1 when older records were rotated away
    files: int = 1
    gaps: int = 0  # audit_gap records: where the log could not write for a while
    lost: int = 0  # the records they say were lost
    unclean_ends: int = 0  # boots after a record other than a stop: that run's last records may be missing


def verify(path: Path, keep: int = KEEP) -> VerifyResult:
    """Check every record's hash and link across the kept files; the first break is reported
    with its file and line. Given a rotated file (audit.jsonl.3), check that file alone.

    Records before the first kept one may be missing only as retention removes them: whole files, and
    only once `keep` rotated files are kept, each holding records. So a chain that starts after record 1
    with fewer rotated files, or an empty rotated file (a decoy that would pass for the oldest), is a
    break: older records were removed, by hand or to hide them."""
    alone = path.suffix[1:].isdigit()
    files = [path] if alone else rotated(path)
    if not files:
        raise FileNotFoundError(f"no audit log at {path}")
    prev: str | None = GENESIS if files[0] == path and not alone else None
    count, first_seq, gaps, lost_total, unclean = 0, 1, 0, 0, 0
    last_kind: str | None = None  # the record before this one; None where it is not here (the chain's start)
    for file in files:
        if not alone and file != path and not file.read_bytes().strip():
            return VerifyResult(False, count, f"{file.name}: holds no records, and a rotated file always does",
                                first_seq, len(files))
        with file.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{file.name} line {number}"
                try:
                    rec = json.loads(line)
                    body = {k: rec[k] for k in ("seq", "t", "kind", "data", "prev")}
                    stored = rec["hash"]
                except (ValueError, KeyError, TypeError) as exc:
                    return VerifyResult(False, count, f"{where}: not an audit record ({exc})", first_seq, len(files))
                if prev is None:  # the oldest kept rotated file: its predecessor was removed by retention
                    prev, first_seq = body["prev"], int(body["seq"])
                if body["prev"] != prev:
                    why = "chain broken (a record before it was changed or removed)"
                    return VerifyResult(False, count, f"{where}: {why}", first_seq, len(files))
                if _digest(prev, body) != stored:
                    return VerifyResult(False, count, f"{where}: record was altered", first_seq, len(files))
                prev, count = stored, count + 1
                if body["kind"] == "boot" and last_kind not in (None, "stop"):  # killed, power cut, last write lost
                    unclean += 1
                last_kind = str(body["kind"])
                if body["kind"] == "audit_gap" and isinstance(body["data"], dict):
                    lost = body["data"].get("lost")
                    gaps, lost_total = gaps + 1, lost_total + (lost if isinstance(lost, int) else 0)
    if not alone and first_seq > 1 and len(files) - (path in files) < keep:
        return VerifyResult(False, count, f"the chain starts at record {first_seq}, but only "
                            f"{len(files) - (path in files)} of {keep} rotated files are here: older records "
                            "were removed (retention removes them only once all are kept)", first_seq, len(files))
    return VerifyResult(True, count, "", first_seq, len(files), gaps, lost_total, unclean)
