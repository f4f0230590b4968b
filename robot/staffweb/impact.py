"""The impact figures: is the robot helping? From anonymous activity counts and the alert lifecycle only.

Kept in a small sqlite file on the staff server (never on a robot): per activity bucket its counts, and per alert
its robot, room token, type, priority and the times it was raised, acknowledged and closed. Nothing about a named
person exists here to show. Rows older than the retention (400 days by default) are deleted.

Figures, per robot and per ISO week, and for all robots: conversations per day, help requests and their time to
acknowledgement (median and p90), reminders confirmed against reminders that became staff alerts, wellbeing
concerns, how often the robot had to ask again (when the robots send that count), and minutes of company.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COUNTS = ("conversations", "reminders_confirmed", "reminders_missed", "engagement_minutes", "help_requests",
          "wellbeing_checkins", "asked_again")
RETENTION_DAYS = 400
SCHEMA = """
CREATE TABLE IF NOT EXISTS activity (event_id TEXT PRIMARY KEY, robot TEXT NOT NULL, bucket_start REAL NOT NULL,
                                     bucket_s INTEGER NOT NULL, counts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, robot TEXT NOT NULL, room TEXT NOT NULL,
                                   type TEXT NOT NULL, priority TEXT NOT NULL, raised_ts REAL NOT NULL,
                                   ack_ts REAL, closed_ts REAL, closed_state TEXT, level INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS activity_time ON activity (bucket_start);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (raised_ts);
"""


def week_of(ts: float) -> str:
    """The ISO week of a Unix time, local to this server, as 2026-W48."""
    year, week, _ = dt.datetime.fromtimestamp(ts).isocalendar()
    return f"{year}-W{week:02d}"


class Store:
    """Activity buckets and alert lifecycles, from the web view's MQTT thread; figures for the page."""

    def __init__(self, path: Path | str, retention_days: int = RETENTION_DAYS,
                 clock: Callable[[], float] = time.time) -> None:
        self.retention_s = retention_days * 86400
        self.clock = clock  # the wall clock retention is judged by; a test pins it to the weeks it seeds
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.executescript(SCHEMA)
        self._pruned = 0.0

    def activity(self, robot: str, body: dict[str, Any]) -> None:
        self.write([("activity", robot, body)])

    def alert(self, robot: str, body: dict[str, Any]) -> None:
        self.write([("alert", robot, body)])

    def write(self, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Several updates (kind "alert" or "activity", the robot, the message) in one transaction: a burst costs
        one sync of the disk, not one per message. All or none: a disk that refuses loses the batch."""
        with self._lock, self.db:
            for kind, robot, body in batch:
                (self._alert if kind == "alert" else self._activity)(robot, body)
        self._prune()

    def _activity(self, robot: str, body: dict[str, Any]) -> None:
        counts = {k: int(v) for k, v in body["counts"].items()}
        self.db.execute("INSERT OR IGNORE INTO activity VALUES (?, ?, ?, ?, ?)",
                        (body["event_id"], robot, float(body["bucket_start"]), int(body["bucket_s"]),
                         json.dumps(counts)))

    def _alert(self, robot: str, body: dict[str, Any]) -> None:
        state, ts = body["state"], float(body["ts"])
        self.db.execute("INSERT OR IGNORE INTO alerts (alert_id, robot, room, type, priority, raised_ts, level) "
                        "VALUES (?, ?, ?, ?, ?, ?, 0)", (body["alert_id"], robot, body["room"], body["type"],
                                                         body["priority"], float(body["raised_ts"])))
        if state == "acknowledged":
            self.db.execute("UPDATE alerts SET ack_ts = ? WHERE alert_id = ? AND robot = ? AND ack_ts IS NULL",
                            (ts, body["alert_id"], robot))
        elif state in ("resolved", "cancelled"):
            self.db.execute("UPDATE alerts SET closed_ts = ?, closed_state = ? WHERE alert_id = ? AND robot = ? "
                            "AND closed_ts IS NULL", (ts, state, body["alert_id"], robot))
        self.db.execute("UPDATE alerts SET level = max(level, ?), priority = ? WHERE alert_id = ? AND robot = ?",
                        (int(body["level"]), body["priority"], body["alert_id"], robot))

    def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned < 3600:
            return
        self._pruned = now
        with self._lock, self.db:
            self.db.execute("DELETE FROM activity WHERE bucket_start < ?", (now - self.retention_s,))
            self.db.execute("DELETE FROM alerts WHERE raised_ts < ?", (now - self.retention_s,))

    def figures(self, since: float = 0.0) -> list[dict[str, Any]]:
        """One row per (week, robot), and one per week for all robots (robot "all"), newest week first."""
        with self._lock:
            acts = self.db.execute("SELECT robot, bucket_start, counts FROM activity WHERE bucket_start >= ?",
                                   (since,)).fetchall()
            alerts = self.db.execute("SELECT robot, type, raised_ts, ack_ts FROM alerts WHERE raised_ts >= ?",
                                     (since,)).fetchall()
        rows: dict[tuple[str, str], dict[str, Any]] = {}

        def row(week: str, robot: str) -> dict[str, Any]:
            return rows.setdefault((week, robot), {"week": week, "robot": robot, "days": set(),
                                                   **{c: 0 for c in COUNTS}, "asked_again_known": False,
                                                   "help_acks": [], "help_unacked": 0, "reminders_escalated": 0,
                                                   "wellbeing_concerns": 0})

        for robot, start, counts_json in acts:
            counts = json.loads(counts_json)
            for who in (robot, "all"):
                r = row(week_of(start), who)
                r["days"].add(dt.date.fromtimestamp(start))
                for c in COUNTS:
                    r[c] += int(counts.get(c, 0))
                r["asked_again_known"] |= "asked_again" in counts
        for robot, kind, raised, acked in alerts:
            for who in (robot, "all"):
                r = row(week_of(raised), who)
                if kind == "help_request":
                    if acked is None:
                        r["help_unacked"] += 1
                    else:
                        r["help_acks"].append(max(0.0, acked - raised))
                elif kind == "reminder_unacked":
                    r["reminders_escalated"] += 1
                elif kind == "wellbeing_concern":
                    r["wellbeing_concerns"] += 1
        out = []
        for (week, robot), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all", kv[0][1]),
                                       reverse=False):
            acks = sorted(r.pop("help_acks"))
            days = max(1, len(r.pop("days")))
            out.append({
                "week": week, "robot": robot,
                "conversations_per_day": round(r["conversations"] / days, 1),
                "help_requests": len(acks) + r["help_unacked"], "help_unacknowledged": r["help_unacked"],
                "ack_median_s": round(statistics.median(acks), 1) if acks else None,
                "ack_p90_s": round(acks[min(len(acks) - 1, int(0.9 * len(acks)))], 1) if acks else None,
                "reminders_confirmed": r["reminders_confirmed"], "reminders_escalated": r["reminders_escalated"],
                "wellbeing_concerns": r["wellbeing_concerns"],
                "asked_again": r["asked_again"] if r["asked_again_known"] else None,
                "company_minutes": r["engagement_minutes"],
            })
        out.sort(key=lambda x: x["week"], reverse=True)
        return out

    def csv(self, since: float = 0.0) -> str:
        rows = self.figures(since)
        buf = io.StringIO()
        fields = ["week", "robot", "conversations_per_day", "help_requests", "help_unacknowledged", "ack_median_s",
                  "ack_p90_s", "reminders_confirmed", "reminders_escalated", "wellbeing_concerns", "asked_again",
                  "company_minutes"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in fields})
        return buf.getvalue()

    def close(self) -> None:
        self.db.close()
