"""`carebot bench mqtt`: alert latency, backlog drain rate and outbox write cost, with baselines.

It starts its own mosquitto (TLS, passwords, ACLs from scripts/broker-setup.sh) on a free
loopback port, so it needs a source checkout and the mosquitto packages.
- Alert latency: from a help request entering the running robot to a staff client receiving
  the alert, against two floors on the same TLS broker: mosquitto_pub -> mosquitto_sub (a process
  start and a TLS handshake per message), and the honest one, a persistent paho client publishing
  QoS 1 over one TLS session to the same subscriber. The robot's latency is split into waiting for
  the tick, the link thread's wake-up, the outbox commit and the broker round trip.
- Backlog drain: 1000 activity events waiting in the outbox, published once the link connects.
- Outbox write: one committed row (WAL, synchronous=FULL) against a bare sqlite insert and
  commit with the same durability.
"""

from __future__ import annotations

import argparse
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hardware.poll import poll_until
from robot.errors import CareBotError
from robot.local_broker import ROBOT, SITE, STAFF
from robot.local_broker import LocalBroker as _Broker


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def _ms(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples) * 1000, 2), "p90_ms": round(_pct(samples, 0.9) * 1000, 2),
            "p99_ms": round(_pct(samples, 0.99) * 1000, 2), "n": len(samples)}


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _staff_client(broker: _Broker, topic: str, arrivals: dict[str, float]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    client.tls_set_context(ssl.create_default_context(cafile=str(broker.dir / "ca.crt")))
    client.username_pw_set(STAFF, broker.secret(STAFF).read_text().strip())
    def on_message(c: Any, u: Any, m: Any) -> None:
        arrivals.setdefault(m.topic + str(len(arrivals)), time.monotonic())

    client.on_message = on_message
    ready = threading.Event()
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.connect("localhost", broker.port)
    client.loop_start()
    ready.wait(5)
    return client


def bench_mqtt(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three measurements and their baselines."""
    from robot.bench.drive import AWAKE
    from robot.config import Config, MqttSection, RobotSection
    from robot.outbox import Outbox
    from robot.runtime import Runtime

    count = max(20, min(int(args.count), 500)) if args.count else 100
    with tempfile.TemporaryDirectory(prefix="carebot-bench-mqtt-") as tmp_name:
        tmp = Path(tmp_name)
        broker = _Broker(tmp / "broker")
        try:
            # floor: mosquitto_pub -> mosquitto_sub, same broker, TLS and accounts
            _progress(f"bench mqtt: floor, {count} x mosquitto_pub -> mosquitto_sub...")
            floor = _floor(broker, count)
            _progress(f"bench mqtt: honest floor, {count} x QoS 1 from one persistent TLS session...")
            persistent = _persistent_floor(broker, count)

            _progress(f"bench mqtt: {count} help alerts through the running robot...")
            mqtt_cfg = MqttSection(enabled=True, host="localhost", port=broker.port, ca_file=broker.dir / "ca.crt",
                                   username=ROBOT, password_file=broker.secret(ROBOT), heartbeat_s=60)
            config = Config(robot=RobotSection(id=ROBOT, site=SITE, state_dir=tmp / "state"), mqtt=mqtt_cfg,
                            quiet_hours=AWAKE)  # idle at any hour: asleep, it never came to "idle"
            arrivals: dict[str, float] = {}
            staff = _staff_client(broker, f"carebot/v1/{SITE}/{ROBOT}/alert", arrivals)
            runtime = Runtime(config, simulate=True)
            runtime.start()
            latencies = []
            split: dict[str, list[float]] = {"tick_wait": [], "link_wake": [], "outbox_commit": [], "broker": []}
            try:
                _until(lambda: runtime.link is not None and runtime.link.connected
                       and runtime.behaviour.state == "idle")
                marks = _instrument(runtime)
                for _ in range(count):
                    before = len(arrivals)
                    marks.clear()
                    t0 = time.monotonic()
                    runtime.inject("help")
                    _until(lambda b=before: len(arrivals) > b)
                    arrived = max(arrivals.values())
                    latencies.append(arrived - t0)
                    if {"tick", "commit_start", "commit_end"} <= marks.keys():
                        split["tick_wait"].append(marks["tick"] - t0)
                        split["link_wake"].append(marks["commit_start"] - marks["tick"])
                        split["outbox_commit"].append(marks["commit_end"] - marks["commit_start"])
                        split["broker"].append(arrived - marks["commit_end"])
                    runtime.inject_command("resolve", {"alert_id": runtime.help_alert or ""})
                    _until(lambda b=before: len(arrivals) > b + 1 and runtime.behaviour.state == "idle")

                _progress("bench mqtt: backlog of 1000 activity events...")
                drained = _drain(runtime, broker)
            finally:
                runtime.stop()
                staff.disconnect()
                staff.loop_stop()
        finally:
            broker.stop()
        _progress("bench mqtt: outbox write cost against bare sqlite...")
        write = _outbox_cost(tmp, Outbox)

    lat = _ms(latencies)
    ratio = lat["p50_ms"] / floor["p50_ms"] if floor["p50_ms"] else None
    honest = lat["p50_ms"] / persistent["p50_ms"] if persistent["p50_ms"] else None
    return {
        "benchmark": "mqtt",
        "alert_latency": lat, "floor_mosquitto_pub_sub": floor,
        "alert_p50_ratio_to_floor": round(ratio, 2) if ratio else None,
        "floor_persistent_qos1": persistent,
        "alert_p50_ratio_to_persistent_floor": round(honest, 2) if honest else None,
        "alert_latency_split": {k: _ms(v) for k, v in split.items() if v},
        "backlog": drained, "outbox_write": write,
        "targets_met": {"alert_le_2x_floor": ratio is not None and ratio <= 2.0,
                        "alert_p99_lt_50ms": lat["p99_ms"] < 50.0},
    }


def _until(predicate: Any, timeout: float = 10.0) -> None:
    if not poll_until(predicate, timeout, 0.0005):
        raise CareBotError("bench mqtt: timed out waiting for the broker")


def _floor(broker: _Broker, count: int) -> dict[str, float]:
    topic = f"carebot/v1/{SITE}/{ROBOT}/alert"
    common = ["-h", "localhost", "-p", str(broker.port), "--cafile", str(broker.dir / "ca.crt"), "-V", "mqttv5",
              "-q", "1", "-t", topic]
    sub = subprocess.Popen(["mosquitto_sub", *common, "-u", STAFF, "-P", broker.secret(STAFF).read_text().strip()],
                           stdout=subprocess.PIPE, text=True, bufsize=1)
    time.sleep(0.5)
    password = broker.secret(ROBOT).read_text().strip()
    samples = []
    assert sub.stdout is not None
    try:
        for i in range(count):
            t0 = time.monotonic()
            subprocess.run(["mosquitto_pub", *common, "-u", ROBOT, "-P", password, "-m", str(i)], check=True)
            sub.stdout.readline()
            samples.append(time.monotonic() - t0)
    finally:
        sub.terminate()
        sub.wait(5)
    return _ms(samples)


def _persistent_floor(broker: _Broker, count: int) -> dict[str, float]:
    """The honest floor: one paho client, connected once over TLS with the robot's account, publishing
    QoS 1 to the robot's alert topic; from publish to the staff subscriber's receipt (no process start
    and no TLS handshake per message, which mosquitto_pub pays)."""
    topic = f"carebot/v1/{SITE}/{ROBOT}/alert"
    arrivals: dict[str, float] = {}
    staff = _staff_client(broker, topic, arrivals)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"floor-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    pub.tls_set_context(ssl.create_default_context(cafile=str(broker.dir / "ca.crt")))
    pub.username_pw_set(ROBOT, broker.secret(ROBOT).read_text().strip())
    connected = threading.Event()
    pub.on_connect = lambda c, u, f, rc, p: connected.set()
    pub.connect("localhost", broker.port)
    pub.loop_start()
    samples = []
    try:
        connected.wait(10)
        for i in range(count):
            before = len(arrivals)
            t0 = time.monotonic()
            pub.publish(topic, f'{{"floor": {i}}}', qos=1)
            _until(lambda b=before: len(arrivals) > b)
            samples.append(max(arrivals.values()) - t0)
    finally:
        for client in (pub, staff):
            client.disconnect()
            client.loop_stop()
    return _ms(samples)


def _instrument(runtime: Any) -> dict[str, float]:
    """Timestamps along the robot's path, for the latency split: the tick's alert update (the staff part's
    observer, called in the tick) and the link thread's outbox commit around the real `Outbox.add`."""
    marks: dict[str, float] = {}
    runtime.staff.observers.append(lambda update: marks.setdefault("tick", time.monotonic()))
    outbox = runtime.link.outbox
    add = outbox.add

    def timed_add(*args: Any, **kwargs: Any) -> bool:
        marks.setdefault("commit_start", time.monotonic())
        try:
            return bool(add(*args, **kwargs))
        finally:
            marks.setdefault("commit_end", time.monotonic())

    outbox.add = timed_add
    return marks


def _drain(runtime: Any, broker: _Broker) -> dict[str, float]:
    link = runtime.link
    fields = {"bucket_start": 1_800_000_000, "bucket_s": 900,
              "counts": {"conversations": 1, "reminders_confirmed": 0, "engagement_minutes": 0, "help_requests": 0}}
    broker.stop()  # the backlog builds while the broker is away
    _until(lambda: not link.connected, 10)
    t0 = time.monotonic()
    for _ in range(1000):
        link.submit("activity", fields)
    _until(lambda: link.outbox.pending() >= 1000, 60)
    stored = time.monotonic() - t0
    broker.start()
    _until(lambda: link.connected, 60)
    t1 = time.monotonic()
    _until(lambda: link.outbox.pending() == 0, 120)
    drain = time.monotonic() - t1
    return {"events": 1000, "store_s": round(stored, 3), "store_per_s": round(1000 / stored, 1),
            "drain_s": round(drain, 3), "drain_per_s": round(1000 / drain, 1)}


def _outbox_cost(tmp: Path, outbox_cls: Any) -> dict[str, float]:
    n = 300
    box = outbox_cls(tmp / "cost.sqlite", min_free_mb=1)
    t0 = time.perf_counter()
    for _ in range(n):
        box.add(uuid.uuid4().hex, "alert", 0, "t/alert", b"x" * 300)
    ours = (time.perf_counter() - t0) / n
    box.close()
    db = sqlite3.connect(str(tmp / "bare.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)")
    t0 = time.perf_counter()
    for _ in range(n):
        db.execute("INSERT INTO t (k, v) VALUES (?, ?)", (uuid.uuid4().hex, b"x" * 300))
    bare = (time.perf_counter() - t0) / n
    db.close()
    return {"outbox_ms": round(ours * 1000, 3), "bare_sqlite_ms": round(bare * 1000, 3),
            "ratio": round(ours / bare, 2)}
