"""Which alerts become paging calls, and a durable record of what was paged (no I/O but the record's file).

High and medium alerts that are raised or escalated become ESPA 4.4.4 calls to the configured call address
for their priority, with a text of fixed words and the room token only ("Help request, room 12"). Each
escalation step is paged once more; an alert acknowledged at a step is not paged for that step; a resolved
or cancelled alert is never paged again. What was paged is kept in sqlite (one row per alert, committed
after the paging system's ACK), so a gateway that restarts and reads the alerts' retained state again
pages nothing twice and loses nothing: an open alert not yet paged at its step is paged.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware import espa
from robot.config_nursecall import NursecallSection

OPEN = ("raised", "escalated")
CLOSED = ("resolved", "cancelled")


@dataclass(frozen=True)
class PagingCall:
    """One call to the paging system for one step of one alert."""

    alert_id: str
    level: int
    priority: str  # the alert's: high or medium
    raised_ts: float
    address: str
    text: str
    block: bytes


def call_for(body: dict[str, Any], cfg: NursecallSection) -> PagingCall | None:
    """The call an alert update asks for, or None (low priority, or not open)."""
    if body["state"] not in OPEN or body["priority"] not in ("high", "medium"):
        return None
    prio = body["priority"]
    text = cfg.text(body["type"], body["room"])
    block = espa.call_block(cfg.call_address[prio], text, beep=cfg.beep.get(prio, ""), priority=cfg.priority[prio])
    return PagingCall(body["alert_id"], int(body["level"]), prio, float(body["raised_ts"]),
                      cfg.call_address[prio], text, block)


KEEP_CLOSED = 10000  # closed alerts the paged record remembers


class PagedRecord:
    """Per alert: the highest step paged or acknowledged, and whether it closed. Survives restarts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS paged (alert_id TEXT PRIMARY KEY, level INTEGER NOT NULL, "
                         "closed INTEGER NOT NULL DEFAULT 0)")
        self._lock = threading.Lock()

    def wants(self, alert_id: str, level: int) -> bool:
        """True if this step of this alert has not been paged, acknowledged or closed."""
        with self._lock:
            row = self._db.execute("SELECT level, closed FROM paged WHERE alert_id = ?", (alert_id,)).fetchone()
        return row is None or (not row[1] and level > row[0])

    def done(self, alert_id: str, level: int, closed: bool = False) -> None:
        """Record a step paged (or acknowledged), or the alert closed; committed before it returns."""
        with self._lock:
            self._db.execute("INSERT INTO paged (alert_id, level, closed) VALUES (?, ?, ?) ON CONFLICT(alert_id) "
                             "DO UPDATE SET level = MAX(level, excluded.level), closed = MAX(closed, excluded.closed)",
                             (alert_id, level, int(closed)))
            if closed:  # bounded on an SD card: an alert closed this many alerts ago is never replayed
                self._db.execute("DELETE FROM paged WHERE closed = 1 AND rowid NOT IN (SELECT rowid FROM paged "
                                 "WHERE closed = 1 ORDER BY rowid DESC LIMIT ?)", (KEEP_CLOSED,))

    def paged_steps(self) -> int:
        """How many alerts have a row (for status lines and tests)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM paged").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class Pager:
    """Alert updates in, calls out: keeps the calls still owed, highest priority and oldest first."""

    def __init__(self, cfg: NursecallSection, record: PagedRecord, own_robot: str = "") -> None:
        self.cfg = cfg
        self.record = record
        self.own_robot = own_robot  # the gateway's own alerts are for the consoles, not the pagers
        self.pending: dict[str, PagingCall] = {}

    def take(self, body: dict[str, Any]) -> None:
        """One alert update (already validated): owe a call, or forget one that no longer needs paging."""
        if (self.own_robot and body.get("robot") == self.own_robot) or body.get("fault") == "nursecall_link":
            return  # the gateway's own alerts, and a fault of the paging line itself, are not paged over it
        alert_id, level, state = body["alert_id"], int(body["level"]), body["state"]
        if state in CLOSED or state == "acknowledged":
            self.record.done(alert_id, level, closed=state in CLOSED)
            owed = self.pending.get(alert_id)
            if owed is not None and (state in CLOSED or owed.level <= level):
                del self.pending[alert_id]
            return
        call = call_for(body, self.cfg)
        if call is None or not self.record.wants(alert_id, level):
            return
        owed = self.pending.get(alert_id)
        if owed is None or owed.level < level:
            self.pending[alert_id] = call

    def closed(self, alert_id: str) -> None:
        """An alert's retained copy was cleared: it is resolved or cancelled."""
        self.record.done(alert_id, 0, closed=True)
        self.pending.pop(alert_id, None)

    def next_call(self) -> PagingCall | None:
        """The call to send next: high before medium, then the oldest alert."""
        if not self.pending:
            return None
        return min(self.pending.values(), key=lambda c: (c.priority != "high", c.raised_ts))

    def delivered(self, call: PagingCall) -> None:
        """The paging system ACKed this call: record it (committed) and stop owing it."""
        self.record.done(call.alert_id, call.level)
        if self.pending.get(call.alert_id) == call:
            del self.pending[call.alert_id]
