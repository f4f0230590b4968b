"""The staff channel: paho-mqtt 2 (MQTT v5, TLS) behind a durable outbox.

Three threads meet here and none of them waits on another:
- the control loop calls `submit()` (a deque append) and drains `commands`;
- paho's network thread runs the protocol; its callbacks only put events on a queue;
- the link thread does the rest: stamps and validates each event, commits it to the
  outbox, publishes from the outbox in priority order with a bounded number in flight,
  deletes a row on a successful PUBACK, keeps it on a reason code >= 0x80, sends it again if no
  PUBACK came in `puback_timeout_s`, validates incoming commands, and sends the heartbeat.
The link thread is a guarded part and paho's callbacks are guarded callbacks (robot.core.guard):
an exception is logged with its traceback and reported as a fault, and the link carries on; each
step is bounded in time, so the guard can tell a wedged link from a busy one.
The retained status topic says online, the last will offline, a clean stop stopped. With `home_assistant` on,
it announces the robot's status entities by Home Assistant discovery and keeps their retained `device` state current.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from robot import __version__
from robot.alerts import OPEN_STATES
from robot.command_intake import CommandIntake
from robot.config import MqttSection, read_secret
from robot.core.guard import Guard
from robot.events import InvalidMessage, Topics, encode
from robot.ha_discovery import device_state, discovery_messages
from robot.outbox import PRIORITY, Outbox, Row

log = logging.getLogger(__name__)

FAULT_SHOWN_S = 60.0   # a caught error shows as the fault "mqtt_link" in heartbeats this long
STEP_BUDGET_S = 0.3    # work per step of the link thread, well inside the guard's stall limit
RETAINED_MEMORY = 4096  # alerts whose retained copy's order is remembered
SESSION_TAKEN_OVER = 0x8E


def new_client(cfg: MqttSection, client_id: str) -> mqtt.Client:
    """A paho v5 client with the config's TLS (CA and host name verified) and credentials."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if cfg.tls:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cfg.ca_file) if cfg.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        client.tls_set_context(context)  # verifies the CA and the broker's host name
    if cfg.username:
        password = read_secret(Path(cfg.password_file)) if cfg.password_file else None
        client.username_pw_set(cfg.username, password)
    return client


@dataclass(frozen=True)
class Submission:
    """An event from the control loop, before it is stamped and stored."""

    kind: str            # alert or activity
    fields: dict[str, Any]


@dataclass(frozen=True)
class Delivered:
    """An alert update the broker has accepted (its PUBACK): it reached the staff channel."""

    alert_id: str
    event_id: str
    state: str


class MqttLink:
    """Publishes events durably and receives staff commands.

    For the control loop to drain (deque appends and pops are thread-safe):
    - `commands`: (name, payload) of each staff command that passed every check (robot.command_intake);
    - `refusals`: a Refusal for each command that did not;
    - `delivered`: a Delivered for each alert update the broker accepted, in PUBACK order.
    Open alerts are also kept retained, one topic per alert (Topics.alert_state), from the moment
    their update is accepted, and cleared by an empty retained message when they close, so a staff
    console that starts late sees them.
    """

    def __init__(self, config: MqttSection, topics: Topics, boot_id: str, outbox: Outbox,
                 *, max_inflight: int = 8, heartbeat_s: float = 30.0, retry_s: float = 5.0,
                 guard: Guard | None = None) -> None:
        self.config = config
        self.topics = topics
        self.boot_id = boot_id
        self.outbox = outbox
        self.max_inflight = max_inflight
        self.heartbeat_s = heartbeat_s
        self.retry_s = retry_s
        self.wall: Callable[[], float] = time.time  # the wall clock events are stamped with
        self.intake = CommandIntake(topics)
        self.commands = self.intake.commands
        self.refusals = self.intake.refusals
        self.delivered: collections.deque[Delivered] = collections.deque(maxlen=1024)
        self.disconnects = 0
        self.refused_publishes = 0
        self.connected = False
        self.health: dict[str, Any] = {}
        self._submissions: collections.deque[Submission] = collections.deque()
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._inflight: dict[int, Row] = {}
        self._sent_at: dict[int, float] = {}  # mid -> when it went out (monotonic)
        self._retained: collections.OrderedDict[str, tuple[int, float, int]] = collections.OrderedDict()
        self._seq = 0
        self._hb_seq = 0
        self._device_key: tuple[Any, ...] | None = None
        self._stamped: tuple[str, str, int, str, bytes] | None = None
        self._next_heartbeat = 0.0
        self.guard = guard or Guard()  # the runtime's, which watches it; else one of its own
        self._part = self.guard.part("mqtt_link", self._step, close=self._close, wake=self._wake.set)
        self._callbacks: list[Any] = []
        self.client = self._make_client()

    # -- set-up -----------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = new_client(self.config, f"carebot-{self.topics.site}-{self.topics.robot}")
        client.will_set(self.topics.event("status"), self._status("offline"), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=self.config.reconnect_max_s)  # paho's 120 s held calls
        client.max_inflight_messages_set(self.max_inflight)
        client.on_connect = self._guarded("on_connect", lambda c, u, f, rc, p: self._queue("connect", rc))
        client.on_disconnect = self._guarded("on_disconnect", lambda c, u, f, rc, p: self._queue("disconnect", rc))
        client.on_publish = self._guarded("on_publish", lambda c, u, mid, rc, p: self._queue("puback", (mid, rc)))
        client.on_message = self._guarded(
            "on_message", lambda c, u, msg: self._queue("message", (msg.topic, msg.payload, msg.retain)))
        client.on_subscribe = self._guarded("on_subscribe", lambda c, u, mid, rcs, p: self._queue("suback", rcs))
        return client

    def _guarded(self, name: str, callback: Callable[..., None]) -> Callable[..., None]:
        """A paho callback that cannot raise into paho's network thread (which would end it)."""
        guarded = self.guard.callback(f"mqtt_{name}", callback)
        self._callbacks.append(guarded)
        return guarded

    @property
    def errors(self) -> int:
        """Exceptions caught in the link thread and in paho's callbacks so far."""
        return int(self._part.errors) + sum(int(cb.errors) for cb in self._callbacks)

    def faults(self) -> list[str]:
        """The link's own faults for the heartbeat, each shown for FAULT_SHOWN_S: an exception caught in it
        (mqtt_link; also while faulted), and a command refused for its age, so a clock is wrong (command_clock)."""
        now = time.monotonic()
        out = []
        clock = self.intake.clock_refused_at
        if clock is not None and now - clock < FAULT_SHOWN_S:
            out.append("command_clock")
        recent = self._part.errors and now - self._part.last_error_at < FAULT_SHOWN_S
        if recent or self._part.faulted or any(cb.faulted for cb in self._callbacks):
            out.append("mqtt_link")
        return out

    @property
    def rejected_commands(self) -> int:
        """Staff commands refused so far."""
        return self.intake.refused

    def alive(self) -> bool:
        """True while the link thread runs (it ends only on stop())."""
        return self._part.alive

    def _status(self, state: str) -> bytes:
        return encode("status", {"robot": self.topics.robot, "site": self.topics.site, "boot_id": self.boot_id,
                                 "ts": round(self.wall(), 3), "state": state, "version": __version__})

    def _queue(self, kind: str, data: Any) -> None:
        self._events.put((kind, data))
        self._wake.set()

    # -- the control loop's side --------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start draining the outbox."""
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        self._next_heartbeat = time.monotonic() + self.heartbeat_s
        self._part.start()

    def submit(self, kind: str, fields: dict[str, Any]) -> None:
        """Queue an alert update or activity bucket (non-blocking; stored by the link thread)."""
        self._submissions.append(Submission(kind, fields))
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Store what was submitted, say 'stopped', and disconnect cleanly."""
        self._part.stop(timeout + 2)
        self.outbox.close()

    # -- the link thread ------------------------------------------------------------------------------

    def _step(self) -> None:
        """One bounded piece of the link's work (the guard calls it again and again)."""
        self._wake.wait(0.2)
        self._wake.clear()
        end = time.monotonic() + STEP_BUDGET_S
        self._store_submissions(end)
        self.outbox.flush()  # alerts held in memory after a failed write go to disk when it allows
        self._handle_events(end)
        self._fill()
        if self.connected and time.monotonic() >= self._next_heartbeat:
            self._next_heartbeat = time.monotonic() + self.heartbeat_s
            self._heartbeat()
            self._device(force=True)
        elif self.connected:
            self._device()  # a change of mode shows in Home Assistant at once

    def _close(self) -> None:
        """The part's last act: store what was submitted, say 'stopped', disconnect."""
        try:
            self._store_submissions(float("inf"))
        finally:
            self._shutdown()

    def _store_submissions(self, end: float) -> None:
        while self._submissions:
            if time.monotonic() > end:
                self._wake.set()  # the rest in the next step
                return
            if self._stamped is None:
                try:
                    self._stamped = self._stamp(self._submissions[0])
                except Exception:  # it can never be sent: drop it, and let the guard report the bug
                    self._submissions.popleft()
                    raise
            if self._stamped is not None:  # an outbox error raises here: the event stays first in line
                event_id, kind, priority, topic, payload = self._stamped
                if not self.outbox.add(event_id, kind, priority, topic, payload):
                    log.warning("activity event dropped: disk space is short")
            self._stamped = None
            self._submissions.popleft()

    def _stamp(self, sub: Submission) -> tuple[str, str, int, str, bytes] | None:
        """The outbox row of a submission, stamped once; None if it does not match its schema."""
        self._seq += 1
        event_id = uuid.uuid4().hex
        body = {"event_id": event_id, "boot_id": self.boot_id, "seq": self._seq, "ts": round(self.wall(), 3),
                "robot": self.topics.robot, "site": self.topics.site, **sub.fields}
        try:
            payload = encode(sub.kind, body)
        except InvalidMessage as exc:  # a bug upstream: never send it, say so loudly
            log.error("event not sent, it does not match its schema: %s", exc)
            return None
        key = f"alert:{sub.fields.get('priority')}" if sub.kind == "alert" else sub.kind
        return event_id, sub.kind, PRIORITY.get(key, 5), self.topics.event(sub.kind), payload

    def _handle_events(self, end: float) -> None:
        while True:
            if time.monotonic() > end:
                self._wake.set()  # the rest in the next step
                return
            try:
                kind, data = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "connect":
                self._on_connect(data)
            elif kind == "disconnect":
                if self.connected:
                    self.disconnects += 1
                    if getattr(data, "value", None) == SESSION_TAKEN_OVER:
                        log.error("another client logged in with this robot's account and took its session: "
                                  "is the password file copied elsewhere? reconnecting")
                    else:
                        log.warning("broker connection lost (%s); reconnecting", data)
                self.connected = False
                self._inflight.clear()  # rows stay in the outbox and go again after reconnecting
            elif kind == "puback":
                self._on_puback(*data)
            elif kind == "message":
                topic, raw, retained = data
                self.intake.take(topic, raw, retained, now=self.wall())
            elif kind == "suback":
                bad = [str(rc) for rc in data if getattr(rc, "is_failure", False)]
                if bad:
                    log.error("broker refused the command subscription: %s", ", ".join(bad))

    def _on_connect(self, rc: ReasonCode) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            return
        self.connected = True
        self._inflight.clear()
        log.info("connected to the staff broker %s:%s", self.config.host, self.config.port)
        self.client.subscribe(self.topics.commands, qos=1)
        self.client.publish(self.topics.event("status"), self._status("online"), qos=1, retain=True)
        if self.config.home_assistant:
            for topic, payload in discovery_messages(self.topics, self.config.discovery_prefix, __version__):
                self.client.publish(topic, payload, qos=1, retain=True)
            self._device(force=True)

    def _on_puback(self, mid: int, rc: ReasonCode) -> None:
        row = self._inflight.pop(mid, None)
        self._sent_at.pop(mid, None)
        if row is None:
            return  # status, heartbeat or a retained alert copy
        if rc.is_failure:  # v5 reason code >= 0x80: keep the row, report the fault, try later
            self.refused_publishes += 1
            log.error("broker refused event %s: %s; keeping it and retrying in %.0f s", row.event_id, rc,
                      self.retry_s)
            self.outbox.retry_later(row.event_id, self.retry_s)
        else:
            self.outbox.done(row.event_id)
            if row.kind == "alert":
                self._alert_delivered(row.payload)
        self._wake.set()

    def _alert_delivered(self, payload: bytes) -> None:
        """Say the update arrived, and keep the alert's retained copy current (empty once it closed)."""
        body = json.loads(payload)  # our own, checked against its schema before it was stored
        alert_id, state = body["alert_id"], body["state"]
        self.delivered.append(Delivered(alert_id, body["event_id"], state))
        # This boot's updates are ordered by seq (its wall clock may step back: NTP on a board without an RTC),
        # and come after any replayed from an earlier boot; those are ordered by the clock they were stamped with.
        mine = body["boot_id"] == self.boot_id
        order = (1, 0.0, int(body["seq"])) if mine else (0, float(body["ts"]), int(body["seq"]))
        if alert_id in self._retained and order <= self._retained[alert_id]:
            return  # an older update accepted late (after a refusal): the newer copy stands
        self._retained[alert_id] = order
        self._retained.move_to_end(alert_id)
        while len(self._retained) > RETAINED_MEMORY:
            self._retained.popitem(last=False)
        closed = state not in OPEN_STATES
        self.client.publish(self.topics.alert_state(alert_id), b"" if closed else payload, qos=1, retain=True)

    def _fill(self) -> None:
        if not self.connected:
            return
        now, lost_after = time.monotonic(), self.config.puback_timeout_s
        for mid in [m for m, at in self._sent_at.items() if now - at > lost_after or m not in self._inflight]:
            del self._sent_at[mid]
            if (row := self._inflight.pop(mid, None)) is not None:  # no PUBACK came: it goes again (same event_id)
                log.warning("no PUBACK for event %s in %.0f s; sending it again", row.event_id, lost_after)
        free = self.max_inflight - len(self._inflight)
        if free <= 0:
            return
        for row in self.outbox.next(free, {r.event_id for r in self._inflight.values()}):
            props = Properties(mqtt.PacketTypes.PUBLISH)
            props.MessageExpiryInterval = 24 * 3600
            info = self.client.publish(row.topic, row.payload, qos=1, properties=props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return  # not connected after all; the rows wait
            self._inflight[info.mid] = row
            self._sent_at[info.mid] = now

    def _heartbeat(self) -> None:
        self._hb_seq += 1
        fields = {"robot": self.topics.robot, "site": self.topics.site, "boot_id": self.boot_id,
                  "seq": self._hb_seq, "event_seq": self._seq, "ts": round(self.wall(), 3),
                  "outbox_pending": self.outbox.pending(), **self.health}
        fields["faults"] = sorted(set(fields.get("faults", [])) | set(self.faults()))
        try:
            self.client.publish(self.topics.event("heartbeat"), encode("heartbeat", fields), qos=0)
        except InvalidMessage as exc:
            log.error("heartbeat not sent: %s", exc)

    def _device(self, force: bool = False) -> None:
        """Publish the retained Home Assistant state when it changed (or when forced)."""
        if not self.config.home_assistant:
            return
        state = device_state({**self.health, "faults": [*self.health.get("faults", []), *self.faults()]})
        key = (state["mode"], state["problem"])
        if key == self._device_key and not force:
            return
        fields = {"robot": self.topics.robot, "site": self.topics.site, "boot_id": self.boot_id,
                  "ts": round(self.wall(), 3), "outbox_pending": self.outbox.pending(), **state}
        try:
            self.client.publish(self.topics.event("device"), encode("device", fields), qos=1, retain=True)
        except InvalidMessage as exc:
            log.error("device state not sent: %s", exc)
            return
        self._device_key = key

    def _shutdown(self) -> None:
        if self.connected:
            info = self.client.publish(self.topics.event("status"), self._status("stopped"), qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
