"""The stage for the fault matrix: a real broker, a real staff station and the robot as a real process.

- The broker is mosquitto with the site set-up of scripts/broker-setup.sh (TLS, accounts, ACLs),
  on a free loopback port (robot.local_broker), stopped and started at will.
- The staff station is a paho v5 client on a staff account: it records every alert it is sent
  and resolves alerts with real `cmd/resolve` commands, as a nurse station would.
- The robot is `carebot sim` in its own process, with a generated config, the servo board on a
  pty inside it, and its console on a pseudo-terminal of ours: help is asked for with
  `say ...`, so the words go through the dialog engine. The fault injector's door
  (robot.fault_door) is opened with CAREBOT_FAULT_INJECTION=1.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import termios
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robot.errors import CareBotError
from robot.local_broker import ROBOT, SITE, STAFF
from robot.local_broker import LocalBroker as Broker

ROOT = Path(__file__).resolve().parent.parent
HELP_WORDS = {"ko": "넘어졌어요 도와 주세요", "en": "I fell, help me", "de": "Ich bin gestürzt, Hilfe"}
IN_SERVICE = {"idle", "engaged", "listening", "responding", "reminding", "paused", "privacy", "sleeping"}



@dataclass
class AlertSeen:
    """One alert message as the staff station received it."""

    at: float
    body: dict[str, Any]
    retained: bool


@dataclass
class Staff:
    """A nurse station: a staff account on the broker, subscribed to the robot's topics."""

    broker: Broker
    seen: list[AlertSeen] = field(default_factory=list)
    commands_sent: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.base = f"carebot/v1/{SITE}/{ROBOT}"
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=STAFF, protocol=mqtt.MQTTv5)
        c.tls_set_context(ssl.create_default_context(cafile=str(self.broker.dir / "ca.crt")))
        c.username_pw_set(STAFF, self.broker.secret(STAFF).read_text().strip())
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(f"{self.base}/#", qos=1)
        self.subscribed = threading.Event()  # the broker has confirmed the subscription
        c.on_subscribe = lambda cl, u, mid, rcs, p: self.subscribed.set()
        c.on_message = self._on_message
        c.reconnect_delay_set(1, 2)
        self.client = c
        c.connect("localhost", self.broker.port, keepalive=10)
        c.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if "/alert" not in msg.topic or not msg.payload:
            return
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            self.seen.append(AlertSeen(time.monotonic(), body, bool(msg.retain)))

    def help_raised_since(self, t: float, exclude: set[str]) -> AlertSeen | None:
        """The first help request raised after `t` whose id is not in `exclude`."""
        with self._lock:
            for a in self.seen:
                b = a.body
                if a.at >= t and b.get("type") == "help_request" and b.get("state") == "raised" \
                        and b.get("alert_id") not in exclude:
                    return a
        return None

    def states_of(self, alert_id: str) -> list[str]:
        """Every state staff have been sent for one alert, in order."""
        with self._lock:
            return [str(a.body.get("state")) for a in self.seen if a.body.get("alert_id") == alert_id]

    def faults_raised_since(self, t: float) -> list[str]:
        """The robot faults staff were told of after `t` (how they learn that something broke)."""
        with self._lock:  # not counted: retained copies and events sent again (the same event_id)
            before = {a.body.get("event_id") for a in self.seen if a.at < t}
            return sorted({str(a.body.get("fault")) for a in self.seen if a.at >= t and not a.retained
                           and a.body.get("event_id") not in before
                           and a.body.get("type") == "robot_fault" and a.body.get("state") == "raised"})

    def send(self, name: str, payload: bytes | None = None, **fields: Any) -> None:
        """One staff command (a fresh, valid one unless `payload` is given raw)."""
        if payload is None:
            body = {"schema": f"carebot/cmd-{name}/1", "cmd_id": uuid.uuid4().hex, "ts": round(time.time(), 3),
                    "by": STAFF, **fields}
            payload = json.dumps(body).encode()
        self.client.publish(f"{self.base}/cmd/{name}", payload, qos=1)
        self.commands_sent += 1

    def resolve(self, alert_id: str, timeout: float = 30.0) -> bool:
        """Resolve an alert; True when the robot confirms it. Sent again every 5 s, as staff press again."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.send("resolve", alert_id=alert_id)
            step = time.monotonic() + 5
            while time.monotonic() < min(step, end):
                if "resolved" in self.states_of(alert_id):
                    return True
                time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def write_config(path: Path, state_dir: Path, broker: Broker, language: str) -> Path:
    """The robot's config: the shipped simulator set-up, on the bench broker."""
    text = (ROOT / "config" / "carebot.toml").read_text()
    text = "[loop]" + text.split("[loop]")[1].split("[dialogs]")[0]  # loop, servo, vision, schedule
    secret = broker.secret(ROBOT)
    path.write_text(f"""[robot]
id = "{ROBOT}"
site = "{SITE}"
room = "room-12"
language = "{language}"
state_dir = "{state_dir}"

{text}
[dialogs]
path = "{ROOT / 'dialogs'}"

[quiet_hours]
enabled = false

[mqtt]
enabled = true
host = "localhost"
port = {broker.port}
tls = true
ca_file = "{broker.dir / 'ca.crt'}"
username = "{ROBOT}"
password_file = "{secret}"
heartbeat_s = 5
outbox_min_free_mb = 1

[log]
level = "info"
""")
    return path


class RobotProcess:
    """`carebot sim` as a real process, its console on a pty of ours."""

    def __init__(self, config: Path, log: Path, speech: str | None) -> None:
        self.config, self.log, self.speech = config, log, speech
        self.proc: subprocess.Popen[bytes] | None = None
        self.master = -1

    def start(self) -> RobotProcess:
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # our own lines need not come back to us
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        env = {**os.environ, "CAREBOT_FAULT_INJECTION": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        cmd = [sys.executable, "-m", "robot.cli", "sim", "--config", str(self.config)]
        if self.speech:
            cmd += ["--speech", self.speech]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdin=slave, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.master = master
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def type(self, line: str) -> None:
        """One console line, as a technician types it."""
        os.write(self.master, (line + "\n").encode())

    def probe(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The door's view of the robot right now (None if it does not answer)."""
        if not self.running:
            return None
        start = self.log.stat().st_size
        self.type("fault probe")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.log, "rb") as f:
                f.seek(start)
                # whole lines only: the robot may be half way through writing the answer (a partial line
                # read as JSON failed the fault matrix once)
                for raw in f.read().decode(errors="replace").split("\n")[:-1]:
                    if raw.startswith("FAULTPROBE "):
                        return dict(json.loads(raw[len("FAULTPROBE "):]))
            time.sleep(0.1)
        return None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the robot process alone (its workers die with their parent)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(30)

    def stop(self) -> None:
        """A clean stop (SIGTERM), then SIGKILL for anything left of its session."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session we started: workers left behind
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def recovered(probe: dict[str, Any] | None, workers: set[str]) -> bool:
    """In service again: a normal state, no fault, every part and worker running, link and board up."""
    if probe is None:
        return False
    return (probe["state"] in IN_SERVICE and not probe["faults"] and not probe["parts_faulted"]
            and probe["help_alert"] is None and probe["servo_connected"] and not probe["servo_silent"]
            and probe["link_connected"] and set(probe["workers"]) >= workers
            and all(w[0] == "running" for w in probe["workers"].values()))


def wait_recovered(robot: RobotProcess, workers: set[str], timeout: float) -> tuple[bool, dict[str, Any] | None]:
    """Probe until the robot is back in service or the timeout passes."""
    end = time.monotonic() + timeout
    probe = None
    while time.monotonic() < end:
        probe = robot.probe()
        if recovered(probe, workers):
            return True, probe
        time.sleep(0.5)
    return False, probe


def require_tools() -> None:
    """The matrix runs from a source checkout with mosquitto installed."""
    if not (ROOT / "scripts" / "broker-setup.sh").exists():
        raise CareBotError("bench faults needs a source checkout (scripts/broker-setup.sh)")


def fill_disk(path: Path) -> int:
    """Fill the file system under `path` to the last byte with one file; its size in bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = 0
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    n = os.write(fd, block)
                except OSError:
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return written
