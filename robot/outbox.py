"""The durable outbox: every event is committed to sqlite before it is published.

WAL mode with synchronous=FULL, so a committed row survives a crash or power cut. Rows
drain in priority order (alerts first, high before low), and a row is deleted only when
the broker's PUBACK says it was accepted. After a restart, whatever is left is sent
again; a duplicate carries the same event_id, so receivers drop it. When the disk runs
short, activity events are dropped (and counted); alerts never are.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
"""


@dataclass(frozen=True)
class Row:
    """One pending event."""

    event_id: str
    kind: str
    priority: int
    topic: str
    payload: bytes
    attempts: int


class Outbox:
    """A sqlite-backed queue of events waiting for the broker's acknowledgement."""

    def __init__(self, path: Path, min_free_mb: int = 50) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.min_free_mb = min_free_mb
        self.dropped_activity = 0
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

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
        """Commit one event. False if it was dropped (activity under disk pressure) or a duplicate."""
        if kind == "activity" and self._disk_short():
            self.dropped_activity += 1
            return False
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, kind, priority, topic, payload, created) "
                "VALUES (?, ?, ?, ?, ?, ?)", (event_id, kind, priority, topic, payload, time.time()))
            return cur.rowcount == 1

    def next(self, limit: int, exclude: set[str], now: float | None = None) -> list[Row]:
        """Up to `limit` rows in priority order, skipping those in flight or backing off."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, kind, priority, topic, payload, attempts FROM outbox "
                "WHERE not_before <= ? ORDER BY priority, id LIMIT ?", (now, limit + len(exclude))).fetchall()
        return [Row(*r) for r in rows if r[0] not in exclude][:limit]

    def done(self, event_id: str) -> None:
        """The broker accepted it: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))

    def retry_later(self, event_id: str, delay_s: float) -> None:
        """The broker refused it: keep it, and try again after a delay."""
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1, not_before = ? WHERE event_id = ?",
                             (time.time() + delay_s, event_id))

    def pending(self) -> int:
        """How many events wait."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def pending_alerts(self) -> int:
        """How many alert events wait."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").fetchone()[0])
