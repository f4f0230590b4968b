"""`carebot nursecall`: the gateway from a site's alerts on MQTT to the home's paging system over ESPA 4.4.4.

It runs where the serial line is, usually on the home's server, with a broker account of its own
(scripts/broker-setup.sh --nursecall NAME) that may read the site's alerts, like a staff station, and write
only its own status and alerts, like a robot. Every alert update, live or retained, is parsed strictly,
checked against its schema and its topic's robot, and given to the Pager (robot/nursecall.py); one worker
thread owns the serial line and sends the calls owed, each until the paging system ACKs it, within the
configured retries. A call that fails raises the gateway's own `robot_fault` alert (fault `nursecall_link`),
retained on its alert topic so every staff console shows it; it is resolved when a call gets through again,
and the failed call is tried again every `retry_after_s`. The retained status says online, the last will
offline, so a gateway that is down shows too.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import uuid
from typing import Any

from robot import __version__
from robot.config import Config
from robot.events import InvalidMessage, Topics, encode, parse_json, validate
from robot.mqtt_link import new_client
from robot.nursecall import PagedRecord, Pager
from robot.nursecall_line import PagingLine, open_line

log = logging.getLogger(__name__)

TOKEN = r"[a-z0-9][a-z0-9_-]{0,31}"
ALERT_TOPIC = re.compile(rf"carebot/v1/(?P<site>{TOKEN})/(?P<robot>{TOKEN})/alert(?:/(?P<alert_id>[0-9a-f]{{32}}))?")
FAULT = "nursecall_link"
BURST, PER_S = 200, 10.0  # alert messages one robot account may send at once, and per second after that
DRAIN = 100  # messages taken per turn of the loop, so that the line always gets its turn


class Gateway:
    """Alerts from the broker to the paging system; its own fault to the staff consoles."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.robot.site, cfg.robot.id)
        self.boot_id = uuid.uuid4().hex[:12]
        self.record = PagedRecord(cfg.nursecall.record_file)
        self.pager = Pager(cfg.nursecall, self.record, own_robot=cfg.robot.id)
        self.inbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.refused = 0
        self.flooded = 0  # messages dropped because their robot sent more than its budget
        self._budget: dict[str, tuple[float, float]] = {}  # robot -> (tokens, when counted)
        self.line = PagingLine(cfg.nursecall, self.pager, lambda: open_line(cfg.nursecall), lambda faulted: None)
        self.fault_alert: str | None = None  # the open fault alert's id
        self._fault_raised = 0.0
        self._seq = 0
        self._stop = threading.Event()
        self.client = new_client(cfg.mqtt, cfg.robot.id)
        self.client.will_set(self.topics.event("status"), self._status("offline"), qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._guarded(lambda c, u, f, rc, p: self._on_connect(rc))
        self.client.on_message = self._guarded(lambda c, u, m: self._receive(m.topic, bytes(m.payload)))

    def _guarded(self, callback: Any) -> Any:
        """A paho callback that cannot raise into paho's thread (which would end it)."""

        def call(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:
                log.exception("nursecall: a broker callback failed; carrying on")

        return call

    def _on_connect(self, rc: Any) -> None:
        if rc.is_failure:
            log.error("nursecall: the broker refused the connection: %s", rc)
            return
        base = f"carebot/v1/{self.cfg.robot.site}/+"
        self.client.subscribe([(f"{base}/alert", 1), (f"{base}/alert/+", 1)])
        self.client.publish(self.topics.event("status"), self._status("online"), qos=1, retain=True)
        log.info("nursecall: connected; paging the alerts of site %s", self.cfg.robot.site)

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until stop(): connect, take alert updates, keep the line (robot/nursecall_line.py). Nothing
        here ends the loop; the fault alert follows the line's state (an adopted one included)."""
        mq = self.cfg.mqtt
        self.client.connect_async(mq.host, mq.port, keepalive=mq.keepalive_s)
        self.client.loop_start()
        try:
            while not self._stop.is_set():
                try:
                    self._drain()
                    self.line.step(self._wait)
                    if self.line.faulted is not None:
                        self._fault(self.line.faulted)
                except Exception:  # a bug must not end the gateway: log, pause, go on
                    log.exception("nursecall: the paging loop failed; carrying on")
                    self._stop.wait(1.0)
        finally:
            self.line.close()
            self.client.publish(self.topics.event("status"), self._status("stopped"), qos=1, retain=True)
            time.sleep(0.2)
            self.client.disconnect()
            self.client.loop_stop()
            self.record.close()

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()

    def _wait(self, seconds: float) -> None:
        try:
            topic, payload = self.inbox.get(timeout=seconds)
        except queue.Empty:
            return
        self._take(topic, payload)

    def _receive(self, topic: str, payload: bytes) -> None:
        """On paho's thread: queue a message, unless its robot account is flooding. An honest robot sends a
        few alert updates a minute; a hostile or broken one must not keep the gateway busy with its
        messages while other robots' alerts wait behind them (each robot's budget: BURST, then PER_S)."""
        robot = topic.split("/")[3] if topic.count("/") >= 4 else ""
        now = time.monotonic()
        tokens, then = self._budget.get(robot, (float(BURST), now))
        tokens = min(float(BURST), tokens + (now - then) * PER_S)
        if tokens < 1.0:
            self._budget[robot] = (tokens, now)
            self.flooded += 1
            if self.flooded % 1000 == 1:
                log.warning("nursecall: robot %s sends more alert messages than any robot would; %d dropped",
                            robot[:32], self.flooded)
            return
        self._budget[robot] = (tokens - 1.0, now)
        self.inbox.put((topic, payload))

    def _drain(self) -> None:
        for _ in range(DRAIN):
            try:
                topic, payload = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._take(topic, payload)

    def _take(self, topic: str, payload: bytes) -> None:
        """One message from the broker; a bad one is logged with its topic and ignored."""
        try:
            where = ALERT_TOPIC.fullmatch(topic)
            if where is None or where["site"] != self.cfg.robot.site:
                raise InvalidMessage(f"{topic[:120]}: not an alert topic of site {self.cfg.robot.site}")
            if where["alert_id"] is not None and not payload:
                self.pager.closed(where["alert_id"])
                return
            body = parse_json(payload, topic)
            if not isinstance(body, dict):
                raise InvalidMessage(f"{topic}: payload must be a JSON object")
            validate("alert", body, topic)
            if body["robot"] != where["robot"] or body["site"] != where["site"] or (
                    where["alert_id"] not in (None, body["alert_id"])):
                raise InvalidMessage(f"{topic}: refused: the payload names another robot, site or alert")
            if body["robot"] == self.cfg.robot.id:
                self._adopt(body)
            else:
                self.pager.take(body)
        except InvalidMessage as exc:
            self.refused += 1
            log.warning("nursecall: ignored a message: %s", exc)

    # -- the gateway's own events ------------------------------------------------------------------

    def _status(self, state: str) -> bytes:
        return encode("status", {"robot": self.cfg.robot.id, "site": self.cfg.robot.site, "boot_id": self.boot_id,
                                 "ts": round(time.time(), 3), "state": state, "version": __version__})

    def _adopt(self, body: dict[str, Any]) -> None:
        """Our own fault alert, left open by a gateway that was killed: resolved once the line is well."""
        if body["state"] == "raised" and body.get("fault") == FAULT and self.fault_alert is None:
            self.fault_alert, self._fault_raised = body["alert_id"], float(body["raised_ts"])

    def _fault(self, on: bool) -> None:
        """Raise the link fault for staff, or resolve it; each change once."""
        if on == (self.fault_alert is not None):
            return
        alert_id = self.fault_alert or uuid.uuid4().hex
        self.fault_alert = alert_id if on else None
        if on:
            self._fault_raised = round(time.time(), 3)
        self._seq += 1
        body = {"event_id": uuid.uuid4().hex, "boot_id": self.boot_id, "seq": self._seq, "ts": round(time.time(), 3),
                "robot": self.cfg.robot.id, "site": self.cfg.robot.site, "alert_id": alert_id,
                "room": self.cfg.nursecall.fault_room, "type": "robot_fault", "priority": "high",
                "state": "raised" if on else "resolved", "level": 0, "raised_ts": self._fault_raised,
                "fault": FAULT}
        raw = encode("alert", body)
        self.client.publish(self.topics.event("alert"), raw, qos=1)
        self.client.publish(self.topics.alert_state(alert_id), raw if on else b"", qos=1, retain=True)


def status_line(gw: Gateway) -> str:
    """One line for the technician: what was paged, owed and refused."""
    return json.dumps({"sent": gw.line.sent, "owed": len(gw.pager.pending), "failures": gw.line.failures,
                       "refused": gw.refused, "flooded": gw.flooded, "fault": gw.fault_alert is not None})
