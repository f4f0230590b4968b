"""`carebot fleet sim`: a simulated care group, watched from the centre, with a desk that answers alerts.

The observer is what a central consumer (the dashboard, a nurse-call gateway) must do: subscribe to every site,
take each robot's identity from the topic, keep the retained state of each open alert, and find gaps in each
robot's event numbers. The desk acknowledges each help request and then resolves it, from the centre, so staff
commands go down through the bridges as they would from a central desk.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import ssl
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robot.events import InvalidMessage, encode, parse_json, validate
from robot.fleet.gaps import SeqWatch
from robot.fleet.sim import Published, RobotSpec, run_swarm, specs_for
from robot.fleet.world import CENTRAL_STAFF, HOME_STAFF, Broker, World

log = logging.getLogger(__name__)


def _client(broker: Broker, account: str, client_id: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    ctx = ssl.create_default_context(cafile=str(broker.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    c.tls_set_context(ctx)
    c.username_pw_set(account, broker.password_file(account).read_text().strip())
    return c


@dataclass
class Seen:
    topic: str
    body: dict[str, Any]
    arrived: float  # wall clock, as the robot's `ts`, on this same machine


@dataclass
class Observer:
    """A subscriber to a broker's carebot tree that checks and records what arrives."""

    broker: Broker
    account: str
    topic: str = "carebot/v1/#"
    desk: bool = False  # acknowledge each raised help request, then resolve it
    desk_delay_s: float = 1.0
    seqs: SeqWatch = field(default_factory=SeqWatch)
    events: list[Seen] = field(default_factory=list)
    bridges: dict[str, str] = field(default_factory=dict)
    invalid: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._desk: queue.Queue[tuple[float, str, str, str]] = queue.Queue()
        self.client = _client(self.broker, self.account, self.account)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self) -> Observer:
        self.client.connect("localhost", self.broker.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError(f"{self.account} could not connect to port {self.broker.port}")
        if self.desk:
            threading.Thread(target=self._answer, name="fleet-desk", daemon=True).start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(self.topic, qos=1)
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:  # an exception in a paho callback would end paho's thread, and with it this consumer
            self._take(msg)
        except Exception:
            log.exception("a message on %s could not be taken", str(msg.topic)[:120])
            self.invalid += 1

    def _take(self, msg: Any) -> None:
        parts = msg.topic.split("/")
        if len(parts) == 5 and parts[3] == "_bridge":
            self.bridges[parts[2]] = msg.payload.decode(errors="replace")
            return
        if len(parts) != 5 or parts[4] not in ("alert", "activity", "heartbeat"):
            return  # status, device, the retained alert copies: not counted here
        try:
            body = parse_json(msg.payload, msg.topic)
            validate(parts[4], body, msg.topic)
        except InvalidMessage:
            self.invalid += 1
            return
        if body.get("robot") != parts[3] or body.get("site") != parts[2]:
            self.invalid += 1  # a payload that names another robot is not believed
            return
        with self._lock:
            if self.seqs.feed(msg.topic, body):  # (a heartbeat only tells the newest event number)
                self.events.append(Seen(msg.topic, body, time.time()))
        if self.desk and parts[4] == "alert" and body["type"] == "help_request":
            due = time.monotonic() + self.desk_delay_s
            if body["state"] == "raised":
                self._desk.put((due, parts[2], parts[3], body["alert_id"]))
            elif body["state"] == "acknowledged":
                self._desk.put((due, parts[2], parts[3], "resolve:" + body["alert_id"]))

    def _answer(self) -> None:
        while True:
            due, site, robot, what = self._desk.get()
            time.sleep(max(0.0, due - time.monotonic()))
            name, alert_id = ("resolve", what.split(":", 1)[1]) if what.startswith("resolve:") else ("ack", what)
            body = {"schema": f"carebot/cmd-{name}/1", "cmd_id": uuid.uuid4().hex, "ts": round(time.time(), 3),
                    "by": "central-desk", "alert_id": alert_id}
            try:  # one command that cannot go is logged; the desk goes on answering the others
                self.client.publish(f"carebot/v1/{site}/{robot}/cmd/{name}", encode(f"cmd-{name}", body), qos=1)
            except Exception:
                log.exception("the desk could not send %s for %s/%s", name, site, robot)

    def alerts(self, state: str | None = None) -> list[Seen]:
        with self._lock:
            return [e for e in self.events
                    if e.topic.endswith("/alert") and (state is None or e.body["state"] == state)]

    def latencies_ms(self, state: str = "raised") -> list[float]:
        return [(e.arrived - float(e.body["ts"])) * 1000 for e in self.alerts(state)]


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "n": 0}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 2),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2), "n": len(ordered)}


def lost(published: list[Published], observer: Observer) -> list[Published]:
    """Events the home brokers accepted that the observer never received."""
    return [p for p in published if p.seq not in observer.seqs.seen(p.site, p.robot, p.boot_id)]


def unaccounted(published: list[Published], observer: Observer) -> list[Published]:
    """Events lost on the way that the observer does not even know are missing (not in its gaps): the one
    thing an end-to-end check of the bridges must never find."""
    gaps = observer.seqs.gaps()
    return [p for p in lost(published, observer) if p.seq not in gaps.get((p.site, p.robot, p.boot_id), [])]


def run_fleet(homes: int, robots_per_home: int, seconds: float, help_per_robot_per_min: float,
              heartbeat_s: float = 30.0, directory: Path | None = None, processes: int = 2,
              progress: Any = None) -> dict[str, Any]:
    """Build a care group, run the swarm and the desk, and return what the centre and the homes saw."""
    say = progress or (lambda text: None)
    with tempfile.TemporaryDirectory(prefix="carebot-fleet-") as tmp:
        base = directory or Path(tmp)
        say(f"fleet: setting up {homes} home brokers and a central broker in {base} ...")
        world = World.make(base, homes, robots_per_home).start()
        observers: list[Observer] = []
        try:
            assert world.central is not None
            centre = Observer(world.central, CENTRAL_STAFF, desk=True).start()
            observers.append(centre)
            for home in world.homes:  # the same alerts at each home's broker: the latency without the bridge
                observers.append(Observer(home.broker, HOME_STAFF, topic=f"carebot/v1/{home.site}/+/alert").start())
            specs = specs_for(world)
            chunks: list[list[RobotSpec]] = [specs[i::processes] for i in range(processes)]
            ctx = multiprocessing.get_context("spawn")
            results = ctx.Queue()
            procs = [ctx.Process(target=run_swarm, args=(chunk, heartbeat_s, help_per_robot_per_min, seconds,
                                                         results, i), daemon=True)
                     for i, chunk in enumerate(chunks) if chunk]
            say(f"fleet: {len(specs)} robots in {len(procs)} processes for {seconds:.0f} s ...")
            cpu_before = _cpu_seconds(world.broker_pids())
            started = time.monotonic()
            for p in procs:
                p.start()
            connected, published, refused = 0, [], 0
            for _ in procs:
                c, pub, ref = results.get(timeout=seconds + 180)
                connected, refused = connected + c, refused + ref
                published.extend(pub)
            elapsed = time.monotonic() - started
            cpu = _cpu_seconds(world.broker_pids()) - cpu_before
            rss = _rss_mb(world.broker_pids())
            for p in procs:
                p.join(10)
            time.sleep(2.0)  # the last acks and resolves through the bridges
            homes_seen = [o for o in observers[1:]]
            home_lat = [v for o in homes_seen for v in o.latencies_ms()]
            missing = lost(published, centre)
            robots = homes * robots_per_home
            return {
                "homes": homes, "robots_per_home": robots_per_home, "robots_connected": connected,
                "seconds": round(elapsed, 1), "help_per_robot_per_min": help_per_robot_per_min,
                "events_published": len(published),
                "alerts_raised": sum(1 for p in published if p.kind == "alert" and p.state == "raised"),
                "events_lost_at_centre": len(missing),
                "gaps_detected": sum(len(v) for v in centre.seqs.gaps().values()),
                "lost_and_not_detected": len(unaccounted(published, centre)),
                "acknowledged_from_centre": len(centre.alerts("acknowledged")),
                "resolved_from_centre": len(centre.alerts("resolved")),
                "commands_refused_by_robots": refused, "invalid_at_centre": centre.invalid,
                "alert_ms_robot_to_centre": percentiles(centre.latencies_ms()),
                "alert_ms_robot_to_home": percentiles(home_lat),
                "broker_cpu_ms_per_robot_per_s": round(1000 * cpu / robots / max(elapsed, 1e-9), 4),
                "broker_rss_kb_per_robot": round(1024 * rss / robots, 1),
                "broker_rss_mb_total": round(rss, 1),
            }
        finally:
            for o in observers:
                o.stop()
            world.stop()


def _cpu_seconds(pids: list[int]) -> float:
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except (OSError, ValueError):
            pass
    return total


def cmd_fleet_sim(args: Any) -> int:
    import sys

    figures = run_fleet(args.homes, args.robots_per_home, args.seconds, args.help_rate,
                        heartbeat_s=args.heartbeat, directory=args.dir, processes=args.processes,
                        progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(figures, indent=2))
    return 0 if figures["events_lost_at_centre"] == 0 else 1
