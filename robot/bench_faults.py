"""`carebot bench faults`: the fault matrix. No fault may silence a call.

For each fault, a fresh robot runs against a real mosquitto (TLS, accounts and ACL from
scripts/broker-setup.sh) with a real staff subscriber. The fault is injected as a fault
injector would (an exception thrown into a thread through the real guard, a worker killed
with SIGKILL, the simulated servo board unplugged or silent, the broker stopped, a hostile
command published by a staff account); during the fault the resident asks for help in words
("I need a nurse", through the dialog engine). Per fault it reports whether the help alert
reached staff with the robot's alert_id, how long that took, whether the robot was back in
service (no fault left, every part alive, idle) once the cause was gone, and how many help
alerts were lost. Targets: 0 lost, every fault recovered.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robot.bench_mqtt import ROBOT, SITE, STAFF, _Broker, _progress

HELP_WORDS = "I need a nurse"
DELIVERY_S = 30.0  # the longest a help alert may take to reach staff before it counts as lost
RECOVERY_S = 20.0


class Staff:
    """A staff station: subscribes to the robot's whole tree and keeps every alert it receives."""

    def __init__(self, broker: _Broker) -> None:
        self.broker = broker
        self.alerts: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.client = self._client()

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=STAFF, protocol=mqtt.MQTTv5)
        client.tls_set_context(ssl.create_default_context(cafile=str(self.broker.dir / "ca.crt")))
        client.username_pw_set(STAFF, self.broker.secret(STAFF).read_text().strip())
        ready = threading.Event()

        def on_message(c: Any, u: Any, m: Any) -> None:
            if "/alert" not in m.topic or not m.payload:
                return
            try:
                body = json.loads(m.payload)
            except ValueError:
                return
            with self._lock:
                self.alerts.append((time.monotonic(), body))

        client.on_message = on_message
        client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"carebot/v1/{SITE}/{ROBOT}/#", qos=1)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.connect("localhost", self.broker.port)
        client.loop_start()
        ready.wait(5)
        return client

    def help_raised(self, alert_id: str) -> float | None:
        """When the raised help alert `alert_id` arrived, if it did."""
        with self._lock:
            for t, a in self.alerts:
                if a.get("alert_id") == alert_id and a.get("type") == "help_request" and a.get("state") == "raised":
                    return t
        return None

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Fault:
    """One row of the matrix: how to inject it, how to take the cause away, what the robot needs."""

    name: str
    inject: Callable[[Any, Any], None]        # (runtime, bench) before the help request
    clear: Callable[[Any, Any], None] = lambda rt, b: None
    vision: bool = False
    before_start: Callable[[Any], None] | None = None  # (bench) before the robot starts
    hold_s: float = 0.0  # how long the cause lasts after the help request


@dataclass
class Result:
    fault: str
    help_delivered: bool = False
    alert_id_intact: bool = False
    time_to_staff_ms: float | None = None
    recovered: bool = False
    alerts_lost: int = 0
    notes: list[str] = field(default_factory=list)


class Bench:
    """Runs the matrix: one fresh robot per fault, one broker and one staff station for all."""

    def __init__(self, tmp: Path, outage_s: float) -> None:
        self.tmp = tmp
        self.outage_s = outage_s
        self.broker = _Broker(tmp / "broker")
        self.staff = Staff(self.broker)

    def config(self, name: str, vision: bool) -> Any:
        from robot.config import Config, MqttSection, RobotSection, VisionSection, WorkersSection

        mqtt_cfg = MqttSection(enabled=True, host="localhost", port=self.broker.port,
                               ca_file=self.broker.dir / "ca.crt", username=ROBOT,
                               password_file=self.broker.secret(ROBOT), heartbeat_s=5)
        workers = WorkersSection(heartbeat_s=0.2, hang_timeout_s=2.0, backoff_initial_s=0.2, backoff_max_s=1.0)
        return Config(robot=RobotSection(id=ROBOT, site=SITE, state_dir=self.tmp / "state" / name), mqtt=mqtt_cfg,
                      workers=workers, vision=VisionSection(enabled=vision, camera="scene"))

    def run(self, fault: Fault) -> Result:
        from robot.runtime import Runtime

        result = Result(fault.name)
        if fault.before_start is not None:
            fault.before_start(self)
        rt = Runtime(self.config(fault.name, fault.vision), simulate=True)
        rt.start()
        try:
            if not _until(lambda: rt.behaviour.state in ("idle", "engaged"), 20):
                result.notes.append(f"did not boot (state {rt.behaviour.state})")
            fault.inject(rt, self)
            t0 = time.monotonic()
            rt.hear(HELP_WORDS)
            _until(lambda: rt.help_alert is not None, 5)
            alert_id = rt.help_alert
            if fault.hold_s:
                time.sleep(fault.hold_s)
            fault.clear(rt, self)
            if alert_id is None:
                result.notes.append("the robot raised no help alert")
            else:
                arrived = _wait_value(lambda: self.staff.help_raised(alert_id), DELIVERY_S)
                result.help_delivered = arrived is not None
                result.alert_id_intact = arrived is not None
                if arrived is not None:
                    result.time_to_staff_ms = round((arrived - t0) * 1000, 1)
                rt.inject_command("resolve", {"alert_id": alert_id})
            raised = {u["alert_id"] for u in rt.alert_updates if u["type"] == "help_request" and u["state"] == "raised"}
            result.alerts_lost = sum(1 for a in raised if self.staff.help_raised(a) is None)
            result.recovered = _until(lambda: _in_service(rt), RECOVERY_S)
            if not result.recovered:
                result.notes.append(f"state {rt.behaviour.state}, faults {sorted(rt.behaviour.facts.faults)}, "
                                    f"parts {[n for n, p in rt.guard.parts.items() if not p.alive or p.faulted]}")
        finally:
            rt.stop()
        return result

    def close(self) -> None:
        self.staff.close()
        self.broker.stop()


def _in_service(rt: Any) -> bool:
    parts_ok = all(p.alive and not p.faulted for p in rt.guard.parts.values())
    return (rt.behaviour.state in ("idle", "engaged") and not rt.behaviour.facts.faults and parts_ok and rt.loop.running
            and rt.link is not None and rt.link.connected)


def _until(predicate: Callable[[], object], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def _wait_value(fn: Callable[[], float | None], timeout: float) -> float | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value is not None:
            return value
        time.sleep(0.01)
    return fn()


# -- the faults -------------------------------------------------------------------------------


def _throw(part: str) -> Callable[[Any, Any], None]:
    def inject(rt: Any, b: Bench) -> None:
        rt.guard.inject(part, RuntimeError(f"fault injector: {part}"))
        if part == "mqtt_on_message":  # paho calls it when a command arrives: send one
            b.staff.publish(f"carebot/v1/{SITE}/{ROBOT}/cmd/resume", b"{}")
        time.sleep(0.3)
    return inject


def _kill_worker(name: str) -> Callable[[Any, Any], None]:
    def inject(rt: Any, b: Bench) -> None:
        _until(lambda: rt.supervisor.health()[name].pid is not None, 10)
        os.kill(rt.supervisor.health()[name].pid, signal.SIGKILL)
    return inject


def _broker_down(rt: Any, b: Bench) -> None:
    b.broker.stop()
    _until(lambda: rt.link is not None and not rt.link.connected, 10)


def _broker_up(rt: Any, b: Bench) -> None:
    b.broker.start()


def _unplug(rt: Any, b: Bench) -> None:
    rt.sim.unplug()
    _until(lambda: rt.behaviour.state == "fault", 3)


def _silent(rt: Any, b: Bench) -> None:
    rt.sim.latency_s = b.outage_s  # the board takes writes and answers nothing for this long


def _brackets(rt: Any, b: Bench) -> None:
    b.staff.publish(f"carebot/v1/{SITE}/{ROBOT}/cmd/ack", b"[" * 1000)
    time.sleep(0.5)


def _overruns(rt: Any, b: Bench) -> None:
    real = rt.motion.sample
    end = time.monotonic() + 0.5

    def slow(now: float) -> Any:
        if time.monotonic() < end:
            time.sleep(2.5 / rt.config.loop.rate_hz)
        return real(now)

    rt.motion.sample = slow
    _until(lambda: "loop_overrun" in rt.behaviour.facts.faults, 3)


def _tick_bug(rt: Any, b: Bench) -> None:
    real, calls = rt.motion.sample, [0]

    def broken(now: float) -> Any:
        calls[0] += 1
        if calls[0] <= 20:
            raise RuntimeError("fault injector: a bug in the tick")
        return real(now)

    rt.motion.sample = broken
    _until(lambda: "tick_exception" in rt.behaviour.facts.faults, 3)


def _camera_lost_in_privacy(rt: Any, b: Bench) -> None:
    rt.press_button()
    _until(lambda: rt.behaviour.state == "privacy", 3)
    rt.supervisor.send("vision", "inject", fault="unplug")


def _camera_back(rt: Any, b: Bench) -> None:
    rt.supervisor.send("vision", "inject", fault="replug")
    rt.inject("privacy_off")  # (the button would toggle: while alerting it would ask for privacy again)


def faults(outage_s: float) -> list[Fault]:
    """The matrix, in the order it runs."""
    rows = [Fault(f"thread_{p}_exception", _throw(p)) for p in
            ("dialog", "housekeeping", "servo_reconnect", "supervisor", "mqtt_link")]
    rows += [
        Fault("paho_on_message_exception", _throw("mqtt_on_message")),
        Fault("paho_on_publish_exception", _throw("mqtt_on_publish")),
        Fault("dialog_thread_wedged", lambda rt, b: rt.guard.parts["dialog"].inject_stall(outage_s)),
        Fault("worker_vision_killed", _kill_worker("vision"), vision=True),
        Fault("broker_down_at_boot", lambda rt, b: None, clear=_broker_up,
              before_start=lambda b: b.broker.stop(), hold_s=1.0),
        Fault("broker_down_mid_alert", _broker_down, clear=_broker_up, hold_s=outage_s / 4),
        Fault("servo_unplugged", _unplug, clear=lambda rt, b: rt.sim.replug(), hold_s=outage_s),
        Fault("servo_silent", _silent, clear=lambda rt, b: setattr(rt.sim, "latency_s", 0.0), hold_s=outage_s),
        Fault("command_1000_brackets", _brackets),
        Fault("loop_overrun_burst", _overruns),
        Fault("tick_exception_burst", _tick_bug),
        Fault("camera_lost_in_privacy", _camera_lost_in_privacy, clear=_camera_back, vision=True, hold_s=1.0),
    ]
    return rows


def bench_faults(args: argparse.Namespace) -> dict[str, Any]:
    """Run the fault matrix (see the module docstring)."""
    outage_s = max(1.0, 2 * float(args.seconds))  # --seconds 10 (the default): 20 s outages
    results = []
    with tempfile.TemporaryDirectory(prefix=f"carebot-bench-faults-{uuid.uuid4().hex[:4]}-") as tmp_name:
        bench = Bench(Path(tmp_name), outage_s)
        try:
            rows = faults(outage_s)
            for i, fault in enumerate(rows, 1):
                _progress(f"bench faults: [{i}/{len(rows)}] {fault.name}...")
                try:
                    results.append(bench.run(fault))
                except Exception as exc:  # a broken row is a failed row, never a traceback
                    results.append(Result(fault.name, notes=[f"{type(exc).__name__}: {exc}"]))
        finally:
            bench.close()
    lost = sum(r.alerts_lost + (0 if r.help_delivered else 1) for r in results)
    times = [r.time_to_staff_ms for r in results if r.time_to_staff_ms is not None]
    return {
        "benchmark": "faults",
        "outage_s": outage_s,
        "faults": [vars(r) for r in results],
        "summary": {"faults": len(results), "help_delivered": sum(r.help_delivered for r in results),
                    "recovered": sum(r.recovered for r in results), "alerts_lost": lost,
                    "time_to_staff_max_ms": max(times) if times else None},
        "targets_met": {"no_alert_lost": lost == 0, "every_fault_recovered": all(r.recovered for r in results)},
    }
