"""What the staff web page shows, kept from the site's MQTT traffic: the console's view, plus the robots' health.

It is the nurse-station console's view (robot/staff.py: strict parsing, identity from the topic, redeliveries
dropped, older updates ignored, a flood per robot capped), extended with what a page needs: each robot's last
heartbeat (behaviour, faults, time), activity buckets and the alert lifecycle for the impact figures, a version
number that grows on every change, and notices the console would print, kept for the page. A change to one alert
is also told to the event streams as a delta (that alert's row and the new notices, made once in paho's thread):
a page shows a new alert without waiting for, or parsing, the whole state.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robot.events import InvalidMessage, parse_json, validate
from robot.fleet.gaps import SeqWatch
from robot.staff import CLOSED, SESSION_TAKEN_OVER, TOKEN, StaffConsole

log = logging.getLogger(__name__)

HEARTBEAT_LATE_S = 90.0  # three missed 30 s heartbeats: shown as "no heartbeat", before the broker's last will
NOTICES = 50
CLOSED_KEPT = 500  # closed alerts remembered (so a late update is known as late); older ones are forgotten
WRITE_BATCH_S = 0.25  # the impact writer's pause: past the alert's way to the pages; short, as a crash loses it
WRITE_BATCH_MAX = 1000  # updates in one transaction at most
WRITE_QUEUE_MAX = 50_000  # updates waiting at most (20 robots' outboxes replayed); beyond, dropped and counted
HANDOFF_S = 0.002  # paho's thread waits at most this for a page's stream to take an alert's change
REFUSED = "the broker refused this server's login"
RANK = {"high": 0, "medium": 1, "low": 2}  # the order of the alerts table


@dataclass
class RobotHealth:
    status: str = "unknown"  # online, offline, stopped (the retained status and last will)
    behaviour: str = ""
    faults: tuple[str, ...] = ()
    open_alerts: int = 0
    outbox_pending: int = 0
    heartbeat_at: float = 0.0  # this server's clock, when the last heartbeat came


class WebView(StaffConsole):
    """The console's view of one site, for the web page; thread-safe for readers through `snapshot`."""

    def __init__(self, site: str, client: Any, station: str, store: Any = None) -> None:
        super().__init__(site, client, io.StringIO(), station)
        self.lock = threading.RLock()
        self.version = 0
        self.delivered = threading.Event()  # set by an event stream when it has written an alert's delta
        self.loop: Any = None  # the event loop that reads the broker, when it does (robot/staffweb/mqttloop.py)
        self.loop_thread = 0
        self.plain_version = 0  # the newest version that only a whole state tells (heartbeats, status, tests...)
        self._changed: str | None = None  # the alert the message being applied changed
        self._noted: list[dict[str, Any]] = []  # the notices it added
        self.health: dict[str, RobotHealth] = {}
        # The broker link, as the page shows it: without it no alert can arrive, and an empty table must not read
        # as "nothing is wrong". since: when it came up or went down; why: what the link is waiting for.
        self.link: dict[str, Any] = {"up": False, "since": time.time(), "why": "connecting to the broker"}
        self.notices: collections.deque[tuple[float, str]] = collections.deque(maxlen=NOTICES)
        self.seqs = SeqWatch()
        self.store = store  # robot.staffweb.impact.Store: activity and the alert lifecycle, for impact figures
        # The store's writes (sqlite commits, fsyncs) on a thread of their own: an alert never waits for the disk.
        self._writes: queue.SimpleQueue[tuple[str, str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._later: list[tuple[str, str, dict[str, Any]]] = []  # the message's writes, queued once pages have it
        self._closing = threading.Event()  # the server is ending: the writer's pause is cut short
        self._dropped = self._dropped_told = self._holding = 0  # refused by a full queue; in the batch being written
        self._writer = self._start_writer() if store is not None else threading.Thread()
        # Told of every change (the streams' wake-ups), with the delta event of an alert's change, or None.
        self.listeners: list[Callable[[tuple[int, bytes] | None], None]] = []
        self._topic = ""  # the topic of the message being applied
        # Each message applied where it is read, the server's event loop (guarded: nothing can raise into it).
        client.on_message = self._guarded(lambda c, u, msg: self.apply(msg.topic, bytes(msg.payload),
                                                                        bool(msg.retain)))
        client.on_connect = self._guarded(lambda c, u, flags, rc, p: self._connected(flags.session_present, rc))

    # -- the console's hooks ------------------------------------------------------------------------------------

    def _guarded(self, callback: Any) -> Any:
        """As the console's (nothing raises into the event loop's reading of the broker; the page says it), and
        the failure is logged with its traceback: a bug here must not pass silently."""

        def call(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:
                log.exception("staff web: a broker callback failed, carrying on")
                self._say(f"internal error in a broker callback, carrying on: {type(exc).__name__}: {exc}")

        return call

    def _say(self, line: str, bell: bool = False) -> None:
        self.notices.append((time.time(), line[:300]))
        self._noted.append({"ts": self.notices[-1][0], "text": self.notices[-1][1]})
        del self._noted[:-NOTICES]  # told with the next change; a lone notice waits for it, up to NOTICES of them

    def _on_connect(self, rc: Any) -> None:
        super()._on_connect(rc)
        if not rc.is_failure:
            self.client.subscribe(f"carebot/v1/{self.site}/+/activity", qos=1)
        self.link_is(not rc.is_failure, f"{REFUSED} ({rc})")

    def _connected(self, resumed: bool, rc: Any) -> None:
        if not rc.is_failure and not resumed:
            self._start_over()
        self._on_connect(rc)

    def _start_over(self) -> None:
        """The broker kept no session for this server (a broker that lost its data, another login with this
        account, an expired session): the alerts' updates sent while the link was down are lost, and an alert
        closed meanwhile has no retained copy left to say so. As when the server starts, the open alerts are taken
        again from the robots' retained copies, which follow the subscription."""
        with self.lock:
            gone = [alert_id for alert_id, a in self.alerts.items() if a.state not in CLOSED]
            if not gone:
                return
            for alert_id in gone:
                del self.alerts[alert_id]
                self.pending.pop(alert_id, None)
            self.seen.clear()  # the retained copies repeat events already seen: they must be taken again
            self._say("the broker kept nothing for this server while it was away: the open alerts are read again")

    def _on_disconnect(self, rc: Any) -> None:
        if not self.link["up"] and self.link["why"].startswith(REFUSED):
            return  # the broker hangs up on a login it refused: the refusal is what the page must say
        super()._on_disconnect(rc)
        self.link_is(False, "another login with this staff account took over" if getattr(rc, "value", None) ==
                     SESSION_TAKEN_OVER else f"lost the broker ({rc})")

    def link_is(self, up: bool, why: str = "") -> None:
        """The broker link came up or went down (or, down, is waiting for something else): every page is told."""
        why = "" if up else why
        with self.lock:
            if (up, why) == (self.link["up"], self.link["why"]):
                return
            since = self.link["since"] if up == self.link["up"] else time.time()
            self.link = {"up": up, "since": since, "why": why}
            self.touch()
        if up:
            log.info("staff web: connected to the broker")
        else:
            log.warning("staff web: not connected to the broker: %s", why)

    def _heartbeat(self, robot: str, body: dict[str, Any]) -> None:
        super()._heartbeat(robot, body)
        h = self.health.setdefault(robot, RobotHealth())
        h.behaviour, h.faults = str(body["behaviour"]), tuple(body["faults"])
        h.open_alerts, h.outbox_pending, h.heartbeat_at = int(body["open_alerts"]), int(body["outbox_pending"]), \
            time.time()
        self.seqs.feed(f"carebot/v1/{self.site}/{robot}/heartbeat", body)

    def _take_alert(self, robot: str, body: dict[str, Any]) -> None:
        # The topic it came on: an open alert's retained copy (…/alert/ALERT_ID) repeats an event already
        # numbered, and counted as one it made every event since it look missing after the page restarted.
        self.seqs.feed(self._topic, body)
        self._later.append(("alert", robot, body))
        old = self.alerts.get(body["alert_id"])
        super()._take_alert(robot, body)
        if self.alerts.get(body["alert_id"]) is not old:  # taken (not a redelivery, a late or a refused update)
            self._changed = body["alert_id"]

    def _closed(self, alert_id: str, robot: str) -> None:
        view = self.alerts.get(alert_id)
        was = view.state if view is not None else "closed"
        super()._closed(alert_id, robot)
        if was not in CLOSED:  # else the page has it closed already
            self._changed = alert_id

    def apply(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Take one message into the view; the impact writes are queued only after the pages' streams have the
        alert's change. Read in another thread than the loop's (a test), it waits HANDOFF_S at most for a stream
        to write the change (else the woken loop waits for the GIL while this thread reads on: 0.5 ms)."""
        with self.lock:
            self._topic, self._changed = topic, None
            self.delivered.clear()
            parts = topic.split("/")
            if len(parts) == 5 and parts[4] == "activity" and parts[2] == self.site:
                self._activity(parts[3], topic, payload)
            else:
                super().apply(topic, payload, retained)
                if len(parts) == 5 and parts[4] == "status" and parts[3] in self.robots:
                    self.health.setdefault(parts[3], RobotHealth()).status = self.robots[parts[3]]
                if len(self.alerts) > 2 * CLOSED_KEPT:
                    self._forget_closed()
            handed = self.touch(self._changed)
            later, self._later = self._later, []
        on_loop = threading.get_ident() == self.loop_thread
        if handed and not on_loop:  # outside the lock, which the loop needs to make a whole state
            self.delivered.wait(HANDOFF_S)
        if later and on_loop:  # after the pages' streams, which this message has just woken
            self.loop.call_soon(self._queue, later)
        elif later:
            self._queue(later)

    def _queue(self, writes: list[tuple[str, str, dict[str, Any]]]) -> None:
        for write in writes:
            if self._writes.qsize() < WRITE_QUEUE_MAX:
                self._writes.put(write)
            else:  # a misused robot account's flood, or a stalled disk, must not grow it (memory) for good
                self._dropped += 1

    def _forget_closed(self) -> None:
        """Keep only the newest CLOSED_KEPT closed alerts. The server runs for months: without this every alert
        ever raised stays in memory, and each message costs time in proportion to them all (a robot raising and
        closing alerts by the thousand would slow every other robot's alert on its way to the page)."""
        closed = [alert_id for alert_id, a in self.alerts.items() if a.state in CLOSED]
        for alert_id in closed[:max(0, len(closed) - CLOSED_KEPT)]:
            del self.alerts[alert_id]
            self.numbers.pop(alert_id, None)
            self.pending.pop(alert_id, None)

    def touch(self, alert_id: str | None = None) -> bool:
        """The view changed: wake every event stream. A change to one alert (and the notices it added) goes to
        them as a delta event; any other change is told by the next whole state. True if a delta went to a page."""
        with self.lock:
            self.version += 1
            delta = None
            if alert_id is not None and alert_id in self.alerts:
                a = self.alerts[alert_id]
                change = {"version": self.version, "notices": self._noted}
                if a.state in CLOSED:
                    change["closed"] = alert_id
                else:
                    change["alert"] = self._row(a, time.time())
                delta = (self.version, f"event: alert\ndata: {json.dumps(change, separators=(',', ':'))}\n\n"
                                       .encode())
            else:
                self.plain_version = self.version
            self._noted = []
            for wake in list(self.listeners):
                try:
                    wake(delta)
                except RuntimeError:  # that stream's event loop has closed (the server is stopping): skip it
                    continue
        return delta is not None and bool(self.listeners)

    def _activity(self, robot: str, topic: str, payload: bytes) -> None:
        try:
            if not re.fullmatch(TOKEN, robot):
                raise InvalidMessage(f"{topic[:120]}: not a robot's topic")
            body = parse_json(payload, topic)
            if not isinstance(body, dict):
                raise InvalidMessage(f"{topic}: payload must be a JSON object")
            validate("activity", body, topic)
            if body["robot"] != robot or body["site"] != self.site:
                raise InvalidMessage(f"{topic}: refused: the payload names another robot", field="robot")
        except InvalidMessage as exc:
            self.refused += 1
            self._say(f"ignored a message: {exc}")
            return
        if self.seqs.feed(topic, body):
            self._later.append(("activity", robot, body))

    def _write(self) -> None:
        """The impact store's writer: WRITE_BATCH_S after an update, all that came in one transaction (one disk
        sync a burst, none while the alert is on its way to the pages: 0.35 ms of the page's median); a full batch
        waiting goes at once. A refused batch is tried update by update. A failing disk costs the figures, never
        an alert: the page is told once when writes fail and once when they work again. None: stop (the end)."""
        lost = 0
        while True:
            batch = [self._writes.get()]
            try:
                if batch[0] is not None and self._writes.qsize() + 1 < WRITE_BATCH_MAX:
                    self._closing.wait(WRITE_BATCH_S)
                with contextlib.suppress(queue.Empty):
                    while batch[-1] is not None and len(batch) < WRITE_BATCH_MAX:
                        batch.append(self._writes.get_nowait())
                lost = self._write_batch([b for b in batch if b is not None], lost)
            except Exception as exc:  # a bug here must not end the writer (its queue would grow for good)
                log.error("staff web: the impact writer failed, carrying on: %s: %s", type(exc).__name__, exc)
                with contextlib.suppress(Exception):
                    self._tell(f"internal error in the impact writer, carrying on: {type(exc).__name__}")
            if batch[-1] is None:
                return

    def _start_writer(self) -> threading.Thread:
        (writer := threading.Thread(target=self._write, name="staffweb-store", daemon=True)).start()
        return writer

    def _write_batch(self, updates: list[tuple[str, str, dict[str, Any]]], lost: int) -> int:
        """How many updates are lost since writes last worked (not working while the queue refuses updates)."""
        dropped, self._dropped_told = self._dropped - self._dropped_told, self._dropped
        lost = self._losing(lost, dropped, f"more than {WRITE_QUEUE_MAX} updates waiting") if dropped else lost
        if not updates:
            return lost
        self._holding = len(updates)
        try:
            self.store.write(updates)
            return self._written_again(lost, dropped)
        except Exception:
            pass
        for update in updates:
            try:
                self.store.write([update])
            except Exception as exc:
                lost = self._losing(lost, 1, f"{type(exc).__name__}: {str(exc)[:80]}")
            else:
                lost = self._written_again(lost, dropped)
        return lost

    def _losing(self, lost: int, n: int, why: str) -> int:
        if not lost:
            log.error("staff web: impact figures not written: %s", why)
            self._tell(f"impact figures are not being written ({why})")
        return lost + n

    def _written_again(self, lost: int, dropped: int) -> int:
        if lost and not dropped:
            log.warning("staff web: impact figures written again (%d updates were lost)", lost)
            self._tell(f"impact figures are written again ({lost} updates were lost)")
        return lost if dropped else 0

    def close_store(self, timeout: float = 5.0) -> bool:
        """The server's end: the writer writes what is queued, at once, and stops. False if not within `timeout`
        (a stalled disk: the log says how many were left, and the store must stay open under it)."""
        if self.store is None or not self._writer.is_alive():
            return True
        self._closing.set()
        self._writes.put(None)
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.error("staff web: up to %d impact updates not written at the end: the disk did not take them in "
                      "%g s", self._holding + max(0, self._writes.qsize() - 1), timeout)
        return not self._writer.is_alive()

    def _tell(self, line: str) -> None:
        """A notice from another thread than the one applying messages: taken under the lock, told at once."""
        with self.lock:
            self._say(line)
            self.touch()

    def pump_waiting(self, timeout: float) -> None:
        """What is left of the console's pump: messages are applied as they arrive (in paho's thread), so this
        notes, every `timeout`, the acks and resolves that the robots have not confirmed in time."""
        time.sleep(timeout)
        with self.lock:
            before = len(self.notices)
            if self.store is not None and not self._closing.is_set() and not self._writer.is_alive():
                log.error("staff web: the impact writer had stopped; started again")  # watched: never silent
                self._say("the impact writer had stopped and was started again")
                self._writer = self._start_writer()
            self.check_pending()
            if len(self.notices) != before:
                self.touch()

    # -- what the page reads ------------------------------------------------------------------------------------

    def _row(self, a: Any, now: float) -> dict[str, Any]:
        """One open alert as the page shows it (app.js sorts the rows as `snapshot` does, by RANK)."""
        return {"alert_id": a.alert_id, "robot": a.robot, "room": a.room, "type": a.type, "priority": a.priority,
                "state": a.state, "level": a.level, "age_s": max(0, int(now - a.raised_ts)),
                "raised_ts": a.raised_ts, "detail": {k: str(v) for k, v in a.extra.items()},
                "pending": self.pending.get(a.alert_id, ("", 0))[0],
                "robot_down": self.robots.get(a.robot) in ("offline", "stopped")}

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Everything the alerts and robots pages show, as plain data (the page escapes every value)."""
        now = time.time() if now is None else now
        with self.lock:
            alerts = [self._row(a, now) for a in self.alerts.values() if a.state not in CLOSED]
            alerts.sort(key=lambda a: (RANK.get(str(a["priority"]), 3), -float(str(a["raised_ts"]))))
            gaps = {robot: len(missing) for (site, robot, boot), missing in self.seqs.gaps().items()}
            robots = []
            for name in sorted(set(self.robots) | set(self.health)):
                h = self.health.get(name, RobotHealth())
                robots.append({"robot": name, "mode": robot_mode(self.robots.get(name, "unknown"), h, now),
                               "status": self.robots.get(name, "unknown"), "behaviour": h.behaviour,
                               "faults": list(h.faults), "open_alerts": h.open_alerts,
                               "heartbeat_age_s": int(now - h.heartbeat_at) if h.heartbeat_at else None,
                               "events_missing": gaps.get(name, 0),
                               "clock_off_s": round(self.clock_offset.get(name, 0.0), 1)})
            return {"site": self.site, "version": self.version, "alerts": alerts, "robots": robots,
                    "notices": [{"ts": t, "text": text} for t, text in list(self.notices)[-10:]],
                    "refused": self.refused, "broker": dict(self.link)}


def robot_mode(status: str, h: RobotHealth, now: float) -> str:
    """One word for a robot: offline, stopped, paused, privacy, problem or online."""
    if status in ("offline", "stopped"):
        return status
    if h.heartbeat_at and now - h.heartbeat_at > HEARTBEAT_LATE_S:
        return "offline"
    if h.behaviour in ("paused", "privacy"):
        return h.behaviour
    if h.faults or h.behaviour == "fault":
        return "problem"
    return "online" if status == "online" else status


__all__ = ["WebView", "RobotHealth", "robot_mode", "TOKEN"]
