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
import termios
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import serial

from hardware import espa
from robot import __version__
from robot.config import Config
from robot.events import InvalidMessage, Topics, encode, parse_json, validate
from robot.mqtt_link import new_client
from robot.nursecall import PagedRecord, Pager

log = logging.getLogger(__name__)

TOKEN = r"[a-z0-9][a-z0-9_-]{0,31}"
ALERT_TOPIC = re.compile(rf"carebot/v1/(?P<site>{TOKEN})/(?P<robot>{TOKEN})/alert(?:/(?P<alert_id>[0-9a-f]{{32}}))?")
FAULT = "nursecall_link"


def open_line(cfg: Config) -> espa.Link:
    """The serial port and the link, as configured (the port is opened here, never at import)."""
    nc = cfg.nursecall
    bits, parity, stop = int(nc.framing[0]), nc.framing[1], int(nc.framing[2])
    port = serial.Serial(nc.port, nc.baud, bytesize=bits, parity=parity, stopbits=stop, timeout=0.02,
                         write_timeout=2.0)
    return espa.Link(port, espa.LinkSettings(role=nc.role, own=nc.own_address, peer=nc.paging_address,
                                             response_timeout_s=nc.response_timeout_s, retries=nc.retries,
                                             poll_interval_s=nc.poll_interval_s))


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
        self.sent = 0
        self.failures = 0
        self.fault_alert: str | None = None  # the open fault alert's id
        self._fault_raised = 0.0
        self._link_ok: bool | None = None  # the last call's fate, None before the first
        self.line_silent = False
        self._seq = 0
        self._stop = threading.Event()
        self.client = new_client(cfg.mqtt, cfg.robot.id)
        self.client.will_set(self.topics.event("status"), self._status("offline"), qos=1, retain=True)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._guarded(lambda c, u, f, rc, p: self._on_connect(rc))
        self.client.on_message = self._guarded(lambda c, u, m: self.inbox.put((m.topic, bytes(m.payload))))

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

    def run(self, open_link: Callable[[], espa.Link]) -> None:
        """Serve until stop(): connect, take alert updates, send the calls owed. Nothing here ends the loop:
        a port that fails (an adapter pulled out) is closed and opened again with backoff, the call kept."""
        mq = self.cfg.mqtt
        self.client.connect_async(mq.host, mq.port, keepalive=mq.keepalive_s)
        self.client.loop_start()
        link: espa.Link | None = None
        next_try = next_poll = next_open = 0.0
        backoff = 1.0
        try:
            while not self._stop.is_set():
                try:
                    self._drain()
                    now = time.monotonic()
                    if link is None and now >= next_open:
                        next_open, backoff = now + backoff, min(backoff * 2, 30.0)
                        link = open_link()
                        backoff = 1.0
                        log.info("nursecall: the line %s is open", self.cfg.nursecall.port)
                    call = self.pager.next_call()
                    if link is None:
                        self._wait(0.05)
                    elif call is not None and now >= next_try:
                        next_try = 0.0 if self._page(link, call) else now + self.cfg.nursecall.retry_after_s
                    elif link.settings.role == "slave":
                        link.service(0.05)  # answer the paging system's polls
                    elif now >= next_poll:
                        link.service(0.0)
                        next_poll = now + self.cfg.nursecall.poll_interval_s
                    else:
                        self._wait(0.05)
                    self._watch_line(link)
                except (serial.SerialException, OSError, termios.error) as exc:
                    log.error("nursecall: the line %s failed or cannot be opened (%s); trying again in %.0f s: check "
                              "[nursecall] port and the adapter", self.cfg.nursecall.port, exc,
                              max(0.0, next_open - time.monotonic()))
                    link = self._close(link)
                    self._watch_line(None)
                except Exception:  # a bug must not end the gateway: log, pause, go on
                    log.exception("nursecall: the paging loop failed; carrying on")
                    self._stop.wait(1.0)
        finally:
            self._close(link)
            self.client.publish(self.topics.event("status"), self._status("stopped"), qos=1, retain=True)
            time.sleep(0.2)
            self.client.disconnect()
            self.client.loop_stop()
            self.record.close()

    @staticmethod
    def _close(link: espa.Link | None) -> None:
        if link is not None:
            try:
                link.port.close()
            except (serial.SerialException, OSError):
                pass

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()

    def _wait(self, seconds: float) -> None:
        try:
            topic, payload = self.inbox.get(timeout=seconds)
        except queue.Empty:
            return
        self._take(topic, payload)

    def _drain(self) -> None:
        while True:
            try:
                topic, payload = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._take(topic, payload)

    def _page(self, link: espa.Link, call: Any) -> bool:
        try:
            attempts = link.send(call.block)
        except espa.DeliveryFailed as exc:
            self.failures += 1
            log.error("nursecall: call for alert %s not delivered: %s", call.alert_id, exc)
            self._link_ok = False
            self._fault(True)
            return False
        self.pager.delivered(call)
        self.sent += 1
        log.info("nursecall: paged %s (step %d) to %s in %d attempt(s)", call.alert_id, call.level, call.address,
                 attempts)
        self._link_ok = True
        self._fault(self.line_silent)
        return True

    def _watch_line(self, link: espa.Link | None) -> None:
        """A line that is closed, or has said nothing for three polls and a time-out, is a fault before any
        call needs it."""
        nc = self.cfg.nursecall
        silent = link is None or link.silent_for() > 3 * nc.poll_interval_s + nc.response_timeout_s
        if silent != self.line_silent:
            self.line_silent = silent
            log.log(logging.ERROR if silent else logging.INFO, "nursecall: the paging system %s",
                    "does not answer" if silent else "answers again")
        self._fault(self.line_silent or self._link_ok is False)

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
        """Our own fault alert, left open by a gateway that was killed: resolve it when a call gets through."""
        if body["state"] == "raised" and body.get("fault") == FAULT and self.fault_alert is None:
            self.fault_alert, self._fault_raised = body["alert_id"], float(body["raised_ts"])
            if self._link_ok and not self.line_silent:
                self._fault(False)

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
    return json.dumps({"sent": gw.sent, "owed": len(gw.pager.pending), "failures": gw.failures,
                       "refused": gw.refused, "fault": gw.fault_alert is not None})
