"""Lightweight simulated robots for fleet tests: the robot's MQTT protocol, not the robot.

A `SimRobot` speaks exactly what a robot sends and takes (the same topics, schemas, retained status with a last
will, retained per-alert copies, QoS 1 events numbered by `seq` per `boot_id`, and staff commands decoded and
checked by the robot's own decoder), but has no loop, speech or servos, so a few processes can run hundreds of
them. A `Swarm` runs many in one process; `run_swarm` is its process entry point.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robot.events import InvalidMessage, SeenCommands, Topics, decode_command, encode


@dataclass(frozen=True)
class RobotSpec:
    site: str
    robot: str
    port: int
    ca: str
    password: str


@dataclass(frozen=True)
class Published:
    """One event a simulated robot had accepted by its home broker (PUBACK)."""

    site: str
    robot: str
    boot_id: str
    seq: int
    kind: str
    alert_id: str
    state: str
    ts: float


@dataclass
class SimRobot:
    spec: RobotSpec
    heartbeat_s: float = 30.0
    room: str = "room"
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seq: int = 0
    hb_seq: int = 0
    open_alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[Published] = field(default_factory=list)
    refused: int = 0
    connected: bool = False

    def __post_init__(self) -> None:
        self.topics = Topics(self.spec.site, self.spec.robot)
        self._lock = threading.Lock()
        self._pending: dict[int, Published] = {}
        self._seen = SeenCommands()
        self._next_hb = time.monotonic() + random.uniform(0, self.heartbeat_s)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.spec.robot, protocol=mqtt.MQTTv5)
        ctx = ssl.create_default_context(cafile=self.spec.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        c.tls_set_context(ctx)
        c.username_pw_set(self.spec.robot, self.spec.password)
        c.will_set(self.topics.event("status"), self._status("offline"), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: setattr(self, "connected", False)
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.reconnect_delay_set(1, 10)
        self.client = c

    def _status(self, state: str) -> bytes:
        return encode("status", {"schema": "carebot/status/1", "robot": self.spec.robot, "site": self.spec.site,
                                 "boot_id": self.boot_id, "ts": round(time.time(), 3), "state": state,
                                 "version": "fleet-sim"})

    def start(self) -> None:
        self.client.connect_async("localhost", self.spec.port, keepalive=30)
        self.client.loop_start()

    def stop(self, clean: bool = True) -> None:
        if clean and self.connected:
            self.client.publish(self.topics.event("status"), self._status("stopped"), qos=1, retain=True)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            return
        self.connected = True
        client.subscribe(self.topics.commands, qos=1)
        client.publish(self.topics.event("status"), self._status("online"), qos=1, retain=True)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._lock:
            event = self._pending.pop(mid, None)
            if event is not None and not rc.is_failure:
                self.published.append(event)

    def _event(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.seq += 1
            body = {"schema": f"carebot/{kind}/1", "event_id": uuid.uuid4().hex, "boot_id": self.boot_id,
                    "seq": self.seq, "ts": round(time.time(), 3), "robot": self.spec.robot,
                    "site": self.spec.site, **fields}
            info = self.client.publish(self.topics.event(kind), encode(kind, body), qos=1)
            self._pending[info.mid] = Published(self.spec.site, self.spec.robot, self.boot_id, self.seq, kind,
                                                str(fields.get("alert_id", "")), str(fields.get("state", "")),
                                                body["ts"])
        return body

    def _alert(self, alert: dict[str, Any], state: str) -> None:
        alert["state"] = state
        body = self._event("alert", alert)
        closed = state in ("resolved", "cancelled")
        self.client.publish(self.topics.alert_state(alert["alert_id"]), b"" if closed else encode("alert", body),
                            qos=1, retain=True)
        if closed:
            self.open_alerts.pop(alert["alert_id"], None)

    def raise_help(self) -> str:
        """A resident asks for help: a high help_request, raised."""
        alert_id = uuid.uuid4().hex
        alert = {"alert_id": alert_id, "room": self.room, "type": "help_request", "priority": "high",
                 "level": 0, "raised_ts": round(time.time(), 3)}
        self.open_alerts[alert_id] = alert
        self._alert(alert, "raised")
        return alert_id

    def resolve(self, alert_id: str) -> None:
        """Staff dealt with it (as if a resolve command had come): resolved, and its retained copy cleared."""
        alert = self.open_alerts.get(alert_id)
        if alert is not None:
            self._alert(alert, "resolved")

    def activity(self, bucket_s: int = 900) -> None:
        start = int(time.time()) // bucket_s * bucket_s
        self._event("activity", {"bucket_start": start, "bucket_s": bucket_s,
                                 "counts": {"conversations": random.randint(0, 5), "reminders_confirmed": 0,
                                            "engagement_minutes": random.randint(0, 15), "help_requests": 0}})

    def heartbeat_due(self, now: float) -> None:
        if now < self._next_hb or not self.connected:
            return
        self._next_hb = now + self.heartbeat_s
        self.hb_seq += 1
        with self._lock:  # the newest number and what is still unacknowledged, as one reading
            newest, pending = self.seq, len(self._pending)
        body = {"schema": "carebot/heartbeat/1", "robot": self.spec.robot, "site": self.spec.site,
                "boot_id": self.boot_id, "seq": self.hb_seq, "event_seq": newest, "ts": round(time.time(), 3),
                "behaviour": "idle", "faults": [], "open_alerts": len(self.open_alerts), "loop_p99_ms": 0.5,
                "outbox_pending": pending}  # as a robot's outbox: while above 0 a consumer's gap may yet fill
        self.client.publish(self.topics.event("heartbeat"), encode("heartbeat", body), qos=0)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: Any) -> None:
        try:
            name, cmd = decode_command(msg.topic, msg.payload, self.topics, retained=bool(msg.retain))
            self._seen.accept(cmd["cmd_id"], time.time(), msg.topic)
        except InvalidMessage:
            self.refused += 1
            return
        alert = self.open_alerts.get(str(cmd.get("alert_id", "")))
        if alert is None:
            return
        if name == "ack" and alert["state"] in ("raised", "escalated"):
            self._alert(alert, "acknowledged")
        elif name == "resolve":
            self._alert(alert, "resolved")


class Swarm:
    """Many simulated robots in one process, with one thread that paces their heartbeats and help requests."""

    def __init__(self, specs: list[RobotSpec], heartbeat_s: float, help_per_robot_per_min: float,
                 seed: int = 0) -> None:
        self.robots = [SimRobot(s, heartbeat_s=heartbeat_s) for s in specs]
        self.rate = help_per_robot_per_min / 60.0
        self.random = random.Random(seed)

    def start(self, stagger_s: float = 0.005) -> None:
        for r in self.robots:
            r.start()
            time.sleep(stagger_s)  # 200 TLS handshakes at once would be a test of the handshake, not the fleet

    def wait_connected(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(r.connected for r in self.robots):
            time.sleep(0.05)
        return sum(r.connected for r in self.robots)

    def run(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Heartbeats on time and help requests as a Poisson process at the configured rate."""
        end = time.monotonic() + seconds
        step = 0.05
        while time.monotonic() < end and not (stop and stop.is_set()):
            now = time.monotonic()
            for r in self.robots:
                r.heartbeat_due(now)
                if self.rate and r.connected and self.random.random() < self.rate * step:
                    r.raise_help()
            time.sleep(step)

    def stop(self) -> None:
        for r in self.robots:
            r.stop()

    def published(self) -> list[Published]:
        return [p for r in self.robots for p in r.published]


def specs_for(world: Any, sites: list[str] | None = None) -> list[RobotSpec]:
    """A RobotSpec for every robot of a fleet.world.World (or of some of its homes)."""
    out = []
    for home in world.homes:
        if sites is not None and home.site not in sites:
            continue
        for robot in home.robots:
            out.append(RobotSpec(home.site, robot, home.broker.port, str(home.broker.ca),
                                 Path(home.broker.password_file(robot)).read_text().strip()))
    return out


def run_swarm(specs: list[RobotSpec], heartbeat_s: float, help_per_robot_per_min: float, seconds: float,
              results: Any, seed: int) -> None:
    """Process entry point: run a swarm, then put (connected, published events, refused commands) on `results`."""
    swarm = Swarm(specs, heartbeat_s, help_per_robot_per_min, seed)
    swarm.start()
    connected = swarm.wait_connected(60)
    swarm.run(seconds)
    time.sleep(2.0)  # the last PUBACKs
    results.put((connected, swarm.published(), sum(r.refused for r in swarm.robots)))
    swarm.stop()
