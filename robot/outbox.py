"""The durable outbox: every event is committed to sqlite before it is published.

WAL mode with synchronous=FULL, so a committed row survives a crash or power cut. Rows
drain in priority order (alerts first, high before low), and a row is deleted only when
the broker's PUBACK says it was accepted. After a restart, whatever is left is sent
again; a duplicate carries the same event_id, so receivers drop it. When the disk runs
short, activity events are dropped (and counted); alerts never are.

The same database keeps each open alert's latest update (table `alerts`), written in the
same transaction as the outbox row that carries the update: after a crash the stored
alert state and what staff will receive agree. A closing update deletes the alert's row.

When a write fails (disk full, I/O error), an alert event is held in memory instead, in
order, still published from there, and written as soon as a write succeeds again;
`write_error` says what failed until then, for the robot to report. Activity is dropped.
The file stays small on an SD card: activity rows waiting for a broker that cannot be reached are
capped at MAX_ACTIVITY_ROWS (the oldest go first, counted as dropped; alerts are never capped), and
the write-ahead log is truncated to JOURNAL_LIMIT after each checkpoint.

When the file cannot even be opened (a robot restarting on a full disk), the same tables
live in an in-memory database, seeded from what the file holds (read as immutable, which
misses commits still in its WAL), and move to the file once it opens again.
"""

from __future__ import annotations

import collections
import json
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRIORITY = {"alert:high": 0, "alert:medium": 1, "alert:low": 2, "status": 3, "activity": 5}

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    update_json TEXT NOT NULL
);
"""
OPEN_STATES = ("raised", "escalated", "acknowledged")
RETRY_WRITE_S = 1.0  # how often a held-back write is tried again
MAX_ACTIVITY_ROWS = 2000  # three weeks of 15-minute activity buckets with no broker
JOURNAL_LIMIT = 1024 * 1024  # bytes of write-ahead log kept after a checkpoint
MAX_RETRY_S = 600.0  # the longest retry_later delay: a row due further ahead than this is from a clock stepped back


@dataclass(frozen=True)
class Row:
    """One pending event."""

    event_id: str
    kind: str
    priority: int
    topic: str
    payload: bytes
    attempts: int


@dataclass
class _Held:
    """An alert event whose write failed: kept in memory, published from here, written later."""

    row: Row
    created: float
    not_before: float = 0.0
    delivered: bool = False  # the broker has it; its alert state still waits to be written


def _alert_update(row: Row) -> dict[str, Any] | None:
    """The alert update an outbox row carries; None for other events (and for a payload that is
    not one, which is still sent: the stored state helps a restart and never gates delivery)."""
    if row.kind != "alert":
        return None
    try:
        update = json.loads(row.payload)
    except ValueError:
        return None
    if isinstance(update, dict) and isinstance(update.get("alert_id"), str):
        return update
    return None


OUTBOX_COLUMNS = "event_id, kind, priority, topic, payload, created, attempts, not_before"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT}")
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _in_memory(path: Path) -> sqlite3.Connection:
    """The tables in memory, seeded with what the file holds, when the file cannot be opened."""
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.executescript(SCHEMA)
    try:
        src = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            db.executemany(f"INSERT OR IGNORE INTO outbox ({OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           src.execute(f"SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"))
            db.executemany("INSERT OR REPLACE INTO alerts (alert_id, update_json) VALUES (?, ?)",
                           src.execute("SELECT alert_id, update_json FROM alerts"))
        finally:
            src.close()
    except sqlite3.Error as exc:
        log.error("cannot read %s either (%s): what it holds waits there until it opens", path, exc)
    return db


class Outbox:
    """A sqlite-backed queue of events waiting for the broker's acknowledgement."""

    def __init__(self, path: Path, min_free_mb: int = 50) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.min_free_mb = min_free_mb
        self.dropped_activity = 0
        self.write_error: str | None = None
        self.accepted: collections.deque[str] = collections.deque(maxlen=1024)  # alert ids, for the loop
        self._held: list[_Held] = []
        self._next_retry = 0.0
        self._lock = threading.Lock()
        self.on_disk = True
        self._sent: set[str] = set()  # while in memory: rows delivered, and alerts closed, to
        self._closed: set[str] = set()  # take out of the file when it opens again
        try:
            self._db = _connect(path)
        except sqlite3.Error as exc:
            self._failed(exc)
            self._db = _in_memory(path)
            self.on_disk = False

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _disk_short(self) -> bool:
        try:
            return shutil.disk_usage(self.path.parent).free < self.min_free_mb * 1024 * 1024
        except OSError:
            return True

    def add(self, event_id: str, kind: str, priority: int, topic: str, payload: bytes) -> bool:
        """Commit one event (and, for an alert, its state). False if dropped or a duplicate.

        An alert whose write fails is held in memory and still counts as accepted."""
        if kind == "activity" and self._disk_short():
            self.dropped_activity += 1
            return False
        row = Row(event_id, kind, priority, topic, payload, 0)
        with self._lock:
            if self._held and not self._write_held(time.monotonic(), force=True):
                added = self._hold(row, kind)  # keep order: nothing overtakes a held alert
            else:
                try:
                    added = self._write(row, time.time())
                    if self.on_disk:
                        self.write_error = None  # nothing is held (checked above), and writing works
                except sqlite3.Error as exc:
                    self._failed(exc)
                    added = self._hold(row, kind)
        update = _alert_update(row) if added else None
        if update is not None:
            self.accepted.append(update["alert_id"])  # "I've called the staff" may now be said
        elif added and kind == "activity":
            self._cap_activity()
        return added

    def _cap_activity(self) -> None:
        """Drop the oldest activity rows past MAX_ACTIVITY_ROWS (a broker out of reach for weeks)."""
        with self._lock:
            try:
                dropped = self._db.execute(
                    "DELETE FROM outbox WHERE kind = 'activity' AND id NOT IN (SELECT id FROM outbox "
                    "WHERE kind = 'activity' ORDER BY id DESC LIMIT ?)", (MAX_ACTIVITY_ROWS,)).rowcount
            except sqlite3.Error as exc:
                self._failed(exc)
                return
        self.dropped_activity += max(0, dropped)

    def _write(self, row: Row, created: float, not_before: float = 0.0, delivered: bool = False) -> bool:
        """One transaction: the outbox row (unless already delivered) and, for an alert, its latest state."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            added = delivered or db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, kind, priority, topic, payload, created, attempts, "
                "not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.event_id, row.kind, row.priority, row.topic, row.payload, created, row.attempts,
                 not_before)).rowcount == 1
            update = _alert_update(row) if added else None
            if update is not None and update.get("state") in OPEN_STATES:
                db.execute("INSERT OR REPLACE INTO alerts (alert_id, update_json) VALUES (?, ?)",
                           (update["alert_id"], row.payload.decode()))
            elif update is not None:
                db.execute("DELETE FROM alerts WHERE alert_id = ?", (update["alert_id"],))
                if not self.on_disk:
                    self._closed.add(update["alert_id"])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return added

    def _hold(self, row: Row, kind: str) -> bool:
        if kind != "alert":
            self.dropped_activity += 1
            return False
        self._held.append(_Held(row, time.time()))
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        if self.write_error is None:
            log.error("outbox write failed (%s): alerts are held in memory, sent from there and written "
                      "when the disk allows", exc)
        self.write_error = str(exc)[:120] or type(exc).__name__

    def _write_held(self, now: float, force: bool = False) -> bool:
        """Write held events in order; True when none is left. Call with the lock held. `now` is
        monotonic: a wall clock stepped back must not hold alerts off the disk for as long."""
        if not self._held or (not force and now < self._next_retry):
            return not self._held
        self._next_retry = now + RETRY_WRITE_S
        while self._held:
            held = self._held[0]
            try:
                self._write(held.row, held.created, held.not_before, held.delivered)
            except sqlite3.Error as exc:
                self._failed(exc)
                return False
            self._held.pop(0)
        log.warning("outbox writes work again: held alerts are on disk")
        self.write_error = None
        return True

    def flush(self) -> None:
        """Try again to write held alerts, or to open the file (cheap when all is well; once a second)."""
        with self._lock:
            if self.on_disk:
                self._write_held(time.monotonic())
            elif time.monotonic() >= self._next_retry:
                self._next_retry = time.monotonic() + RETRY_WRITE_S
                self._move_to_disk()

    def _move_to_disk(self) -> None:
        """Open the file again and move what memory holds into it, in one transaction."""
        try:
            disk = _connect(self.path)
        except sqlite3.Error as exc:
            self._failed(exc)
            return
        try:
            disk.execute("BEGIN IMMEDIATE")
            disk.executemany(f"INSERT OR IGNORE INTO outbox ({OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             self._db.execute(f"SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"))
            disk.executemany("DELETE FROM outbox WHERE event_id = ?", [(e,) for e in self._sent])
            disk.executemany("DELETE FROM alerts WHERE alert_id = ?", [(a,) for a in self._closed])
            disk.executemany("INSERT OR REPLACE INTO alerts (alert_id, update_json) VALUES (?, ?)",
                             self._db.execute("SELECT alert_id, update_json FROM alerts"))
            disk.execute("COMMIT")
        except sqlite3.Error as exc:
            disk.close()
            self._failed(exc)
            return
        self._db.close()
        self._db, self.on_disk = disk, True
        self._sent.clear()
        self._closed.clear()
        self.write_error = None
        log.warning("outbox file %s opens again: what memory held is on disk", self.path)

    def next(self, limit: int, exclude: set[str], now: float | None = None) -> list[Row]:
        """Up to `limit` rows in priority order, skipping those in flight or backing off."""
        now = time.time() if now is None else now
        with self._lock:
            rows = [Row(*r) for r in self._query(
                "SELECT event_id, kind, priority, topic, payload, attempts FROM outbox WHERE not_before <= ? "
                "OR not_before > ? ORDER BY priority, id LIMIT ?", (now, now + MAX_RETRY_S, limit + len(exclude)))]
            held = [h.row for h in self._held if not now < h.not_before <= now + MAX_RETRY_S and not h.delivered]
        if held:  # stable: stored rows are older than held ones of the same priority
            rows = sorted(rows + held, key=lambda r: r.priority)
        return [r for r in rows if r.event_id not in exclude][:limit]

    def done(self, event_id: str) -> None:
        """The broker accepted it: forget it."""
        with self._lock:
            for h in self._held:
                if h.row.event_id == event_id:
                    h.delivered = True  # sent, but its alert state is not on disk yet
                    return
            self._query("DELETE FROM outbox WHERE event_id = ?", (event_id,))  # if it fails: sent again
            if not self.on_disk:
                self._sent.add(event_id)

    def retry_later(self, event_id: str, delay_s: float) -> None:
        """The broker refused it: keep it, and try again after a delay (at most MAX_RETRY_S)."""
        delay_s = min(delay_s, MAX_RETRY_S)
        with self._lock:
            for h in self._held:
                if h.row.event_id == event_id:
                    h.not_before = time.time() + delay_s
                    return
            self._query("UPDATE outbox SET attempts = attempts + 1, not_before = ? WHERE event_id = ?",
                        (time.time() + delay_s, event_id))

    def pending(self) -> int:
        """How many events wait."""
        with self._lock:
            return int(self._query("SELECT COUNT(*) FROM outbox", (), [(0,)])[0][0]) + self._held_pending()

    def pending_alerts(self) -> int:
        """How many alert events wait."""
        with self._lock:
            stored = int(self._query("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'", (), [(0,)])[0][0])
            return stored + self._held_pending()

    def _query(self, sql: str, args: tuple[Any, ...], failed: list[Any] | None = None) -> list[Any]:
        """Run one statement; when the database fails, report it and go on with what memory holds."""
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._failed(exc)
            return [] if failed is None else failed

    def _held_pending(self) -> int:
        return sum(not h.delivered for h in self._held)

    def undelivered_alerts(self) -> set[str]:
        """Alerts the broker may never have had (at start: which restored alerts may not have reached staff).

        A row leaves the outbox only on the broker's receipt, so an alert reached it if its first update
        ('raised') or its latest stored one no longer waits: one whose escalation alone waits has reached staff."""
        with self._lock:
            rows = self._query("SELECT event_id, kind, priority, topic, payload, attempts FROM outbox "
                               "WHERE kind = 'alert'", ())
            latest = self._query("SELECT alert_id, update_json FROM alerts", ())
        waiting = {r[0] for r in rows}
        updates = (_alert_update(Row(*r)) for r in rows)
        raised = {u["alert_id"] for u in updates if u is not None and u.get("state") == "raised"}
        for alert_id, update_json in latest:
            try:
                event_id = json.loads(update_json).get("event_id")
            except (ValueError, AttributeError):
                continue
            if alert_id in raised and isinstance(event_id, str) and event_id not in waiting:
                raised.discard(alert_id)  # its latest update went through
        return raised

    def open_alerts(self) -> list[dict[str, Any]]:
        """The latest stored update of every open alert, oldest first (to restore them at start)."""
        with self._lock:
            rows = self._query("SELECT update_json FROM alerts", ())
        updates = [dict(json.loads(r[0])) for r in rows]
        return sorted(updates, key=lambda u: float(u.get("raised_ts", 0)))
