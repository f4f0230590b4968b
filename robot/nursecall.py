"""Which alerts become paging calls, and a durable record of what was paged (no I/O but the record's file).

High and medium alerts that are raised or escalated become ESPA 4.4.4 calls to the configured call address
for their priority, with a text of fixed words and the room token only ("Help request, room 12"). Each
escalation step is paged once more; an alert acknowledged at a step is not paged for that step; a resolved
or cancelled alert is never paged again. What was paged is kept in sqlite (one row per alert, committed
after the paging system's ACK), so a gateway that restarts and reads the alerts' retained state again
pages nothing twice and loses nothing: an open alert not yet paged at its step is paged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware import espa
from robot.config_nursecall import NursecallSection

log = logging.getLogger(__name__)

OPEN = ("raised", "escalated")
CLOSED = ("resolved", "cancelled")


@dataclass(frozen=True)
class PagingCall:
    """One call to the paging system for one step of one alert."""

    alert_id: str
    robot: str
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
    return PagingCall(body["alert_id"], body.get("robot", ""), int(body["level"]), prio, float(body["raised_ts"]),
                      cfg.call_address[prio], text, block)


KEEP_CLOSED = 10000  # closed alerts the paged record remembers
MAX_OWED_PER_ROBOT = 16  # an honest robot has a handful of open alerts; a flood from one account stops here


class PagedRecord:
    """Per alert: the highest step paged or acknowledged, and whether it closed. Survives restarts.

    The file is the SD card's or the server's disk, and it can fail: a full disk, a file damaged by a brown-out.
    A step whose commit fails is kept in memory and written with the alert's next commit, so a call is never
    paged again and again in this process; only a restart before the disk is freed may page it once more
    (sending twice is chosen over losing a call). A damaged file is moved aside and a new one started, so
    paging, and the robot it runs in, go on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._unsaved: dict[str, tuple[int, bool]] = {}  # steps whose commit failed, per alert
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except sqlite3.OperationalError as exc:  # a full disk or I/O error: the file may be sound, keep it
            log.error("nursecall: the record %s cannot be opened (%s): what was paged is kept in memory only",
                      path, exc)
        except sqlite3.DatabaseError as exc:  # "file is not a database": damaged
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            log.error("nursecall: the record %s is damaged (%s): moved to %s, starting a new one; open alerts "
                      "may be paged once more", path, exc, aside.name)
            try:
                path.replace(aside)
                self._db = self._open()
            except (sqlite3.Error, OSError) as again:
                log.error("nursecall: no record at %s (%s): what was paged is kept in memory only", path, again)
        except OSError as exc:
            log.error("nursecall: no record at %s (%s): what was paged is kept in memory only", path, exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS paged (alert_id TEXT PRIMARY KEY, level INTEGER NOT NULL, "
                       "closed INTEGER NOT NULL DEFAULT 0)")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def wants(self, alert_id: str, level: int) -> bool:
        """True if this step of this alert has not been paged, acknowledged or closed."""
        with self._lock:
            row = None
            if self._db is not None:
                try:
                    row = self._db.execute("SELECT level, closed FROM paged WHERE alert_id = ?",
                                           (alert_id,)).fetchone()
                except sqlite3.Error as exc:
                    log.error("nursecall: cannot read the record %s: %s", self.path, exc)
            unsaved = self._unsaved.get(alert_id)
        if unsaved is not None:
            row = (max(unsaved[0], row[0]), unsaved[1] or row[1]) if row else unsaved
        return row is None or (not row[1] and level > row[0])

    def done(self, alert_id: str, level: int, closed: bool = False) -> None:
        """Record a step paged (or acknowledged), or the alert closed: committed before it returns, or, when
        the disk fails, kept in memory until a later commit of the same alert succeeds. Never raises."""
        with self._lock:
            was_level, was_closed = self._unsaved.pop(alert_id, (level, closed))
            level, closed = max(level, was_level), closed or was_closed
            try:
                if self._db is None:
                    raise sqlite3.OperationalError("no record file")
                self._db.execute("INSERT INTO paged (alert_id, level, closed) VALUES (?, ?, ?) ON CONFLICT(alert_id) "
                                 "DO UPDATE SET level = MAX(level, excluded.level), "
                                 "closed = MAX(closed, excluded.closed)", (alert_id, level, int(closed)))
                if closed:  # bounded on an SD card: an alert closed this many alerts ago is never replayed
                    self._db.execute("DELETE FROM paged WHERE closed = 1 AND rowid NOT IN (SELECT rowid FROM paged "
                                     "WHERE closed = 1 ORDER BY rowid DESC LIMIT ?)", (KEEP_CLOSED,))
            except sqlite3.Error as exc:
                self._unsaved[alert_id] = (level, closed)
                if self._db is not None:
                    log.error("nursecall: cannot record alert %s step %d in %s (%s; a full disk?): kept in memory, "
                              "so it is not paged again unless this process restarts first", alert_id, level,
                              self.path, exc)

    def paged_steps(self) -> int:
        """How many alerts have a row (for status lines and tests)."""
        with self._lock:
            if self._db is None:
                return len(self._unsaved)
            return int(self._db.execute("SELECT COUNT(*) FROM paged").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()


class Pager:
    """Alert updates in, calls out: keeps the calls still owed, highest priority first, then the robot served
    least recently, then the oldest alert.

    Taking turns between robots, and a cap on the calls owed to each, is what keeps one hostile or broken
    account on the broker (a flood of alerts, each claiming to be the oldest) from holding back the calls of
    every other robot: a real help request waits for one call of the flood at most."""

    def __init__(self, cfg: NursecallSection, record: PagedRecord, own_robot: str = "") -> None:
        self.cfg = cfg
        self.record = record
        self.own_robot = own_robot  # the gateway's own alerts are for the consoles, not the pagers
        self.pending: dict[str, PagingCall] = {}
        self._served: dict[str, int] = {}  # robot -> the turn its last call went out
        self._turns = 0

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
        if owed is None and sum(c.robot == call.robot for c in self.pending.values()) >= MAX_OWED_PER_ROBOT:
            log.warning("nursecall: robot %s already has %d calls owed; alert %s is not paged (a flood?)",
                        call.robot, MAX_OWED_PER_ROBOT, alert_id)
        elif owed is None or owed.level < level:
            self.pending[alert_id] = call

    def closed(self, alert_id: str) -> None:
        """An alert's retained copy was cleared: it is resolved or cancelled."""
        self.record.done(alert_id, 0, closed=True)
        self.pending.pop(alert_id, None)

    def next_call(self, skip: Container[str] = ()) -> PagingCall | None:
        """The call to send next, of those not in `skip` (held back after a failure): high before medium, then
        the robot served least recently, then the oldest."""
        owed = [c for c in self.pending.values() if c.alert_id not in skip]
        return min(owed, key=lambda c: (c.priority != "high", self._served.get(c.robot, 0), c.raised_ts),
                   default=None)

    def delivered(self, call: PagingCall) -> None:
        """The paging system ACKed this call: record it (committed) and stop owing it."""
        self.record.done(call.alert_id, call.level)
        self._turns += 1
        self._served[call.robot] = self._turns
        if self.pending.get(call.alert_id) == call:
            del self.pending[call.alert_id]
