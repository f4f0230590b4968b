"""The control process: builds every part once, runs the loop, stops cleanly.

The control loop thread does, each tick: drain worker messages and injected events,
step the state machine, carry out its intents, sample motion and write one servo
packet (the board's heartbeat). Everything that may block (files, the terminal,
reconnecting the serial port, starting processes) happens on other threads that sit
idle until there is work: the housekeeping thread (audit log, console, status file),
the servo reconnector and the worker supervisor.
"""

from __future__ import annotations

import collections
import datetime as dt
import gc
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hardware.errors import DeviceUnavailable
from hardware.maestro import MaestroBus, Reconnector
from hardware.maestro_protocol import MaestroError, describe_errors
from hardware.maestro_sim import PtyMaestro, VirtualMaestro
from robot import __version__
from robot.audit import AuditLog
from robot.behaviour import Behaviour, BehaviourTimings
from robot.config import Config
from robot.intents import Gesture, Indicator, Intent, LookAt, Publish, Say, Sensors, StopSpeech
from robot.loop import ControlLoop
from robot.messages import Message
from robot.motion import MotionController
from robot.supervisor import Supervisor, WorkerSpec

log = logging.getLogger(__name__)

GIL_SWITCH_S = 0.0005  # see Runtime.start
ERROR_POLL_HZ = 2  # how often the tick asks the board for its error register
STAND_IN_SPEECH_S = 1.5  # duration the speech stand-in gives each sentence


@dataclass
class _Speech:
    """Speech output until the speech-out worker is configured: it shows the response key
    and takes a fixed time, so the state machine's turn-taking runs as it will for real."""

    busy_until: float = 0.0
    queued: int = 0

    def say(self, now: float) -> None:
        self.busy_until = max(self.busy_until, now) + STAND_IN_SPEECH_S
        self.queued += 1

    def stop(self) -> None:
        self.busy_until = 0.0
        self.queued = 0

    def finished(self, now: float) -> bool:
        if self.queued and now >= self.busy_until:
            self.queued = 0
            return True
        return False


class Runtime:
    """One robot: config in, devices and workers built at start, stopped on request."""

    def __init__(self, config: Config, *, simulate: bool = False, workers: list[WorkerSpec] | None = None,
                 out: TextIO | None = None) -> None:
        self.config = config
        self.simulate = simulate or config.servo.driver == "sim"
        self.worker_specs = workers or []
        self.out = out
        self.boot_id = uuid.uuid4().hex[:12]
        self.state_dir = Path(config.robot.state_dir)
        self._inputs: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._records: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self.sim: PtyMaestro | None = None
        self.published: collections.deque[Publish] = collections.deque(maxlen=1000)
        self.said: collections.deque[Say] = collections.deque(maxlen=1000)
        self.started_at = 0.0

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the parts, open devices and start the threads and workers."""
        cfg = self.config
        # A thread that wants the GIL waits at most this long for another to give it up (the
        # default is 5 ms). The other threads here are near-idle, so the cost is negligible.
        sys.setswitchinterval(GIL_SWITCH_S)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        self.audit = AuditLog(self.state_dir / "audit.jsonl")
        port = cfg.servo.port
        if self.simulate:
            self.sim = PtyMaestro(self.make_board(cfg), link=self.state_dir / "sim" / "maestro").start()
            port = self.sim.port
        limits = {c.channel: (c.speed, c.acceleration) for c in cfg.servo.channels if c.role != "led"}
        device = cfg.servo.device_number if cfg.servo.protocol == "pololu" else None
        self.bus = MaestroBus(port, device_number=device, baud=cfg.servo.baud,
                              reply_timeout_s=cfg.servo.reply_timeout_ms / 1000, limits=limits)
        self.reconnector = Reconnector(self.bus, max_s=cfg.servo.reconnect_max_s)
        self.supervisor = Supervisor(self.worker_specs, cfg.workers, logging.getLogger().level)
        b = cfg.behaviour
        self.behaviour = Behaviour(BehaviourTimings(
            listen_timeout_s=b.listen_timeout_s, respond_timeout_s=b.respond_timeout_s,
            greet_interval_s=b.greet_interval_s), room=cfg.robot.room)
        self.motion = MotionController(cfg.servo.channels)
        self.speech = _Speech()
        self._servo_ok = False
        self._ready_workers: set[str] = set()
        self._booted = False
        self._quiet: bool | None = None
        self._next_quiet_check = 0.0
        self._ticks = 0
        self.messages_received = 0
        self._error_every = max(1, cfg.loop.rate_hz // ERROR_POLL_HZ)
        self._watchdog = _Watchdog()
        self.loop = ControlLoop(self._tick, cfg.loop.rate_hz, overrun_fault_after=cfg.loop.overrun_fault_after,
                                realtime=cfg.loop.realtime, rt_priority=cfg.loop.rt_priority,
                                on_fault=lambda reason: self.inject("fault", reason=reason))
        self._record("boot", {"boot_id": self.boot_id, "version": __version__})
        self._housekeeper = threading.Thread(target=self._housekeeping, name="housekeeping", daemon=True)
        self._housekeeper.start()
        self.reconnector.start()
        self.supervisor.start()
        # Everything built so far lives as long as the robot: move it out of the collector's
        # reach, so a full collection (which holds the GIL) stays short and rare.
        gc.collect()
        gc.freeze()
        self.loop.start()
        self._watchdog.notify("READY=1")

    @staticmethod
    def make_board(cfg: Config) -> VirtualMaestro:
        """A virtual Maestro set up as a technician would set up the real one."""
        board = VirtualMaestro(device_number=cfg.servo.device_number,
                               serial_timeout_s=cfg.servo.serial_timeout_ms / 1000)
        for c in cfg.servo.channels:
            home = c.neutral_us if c.home == "neutral" else None
            board.configure(c.channel, min_us=c.min_us, max_us=c.max_us, home_us=home,
                            speed=c.speed, acceleration=c.acceleration)
        return board

    def inject(self, trigger: str, **kwargs: Any) -> None:
        """Queue a trigger for the next tick (thread-safe; for consoles, MQTT and tests)."""
        self._inputs.append((trigger, kwargs))

    def inject_gesture(self, name: str) -> None:
        """Play a pose or gesture on the next tick (console and servo tools)."""
        self._inputs.append(("_gesture", {"name": name}))

    def inject_look(self, x: float, y: float) -> None:
        """Look at a point in normalised image coordinates on the next tick."""
        self._inputs.append(("_look", {"x": x, "y": y}))

    def stop(self) -> None:
        """Stop in order: behaviour to stopping, the loop, workers, devices, housekeeping."""
        if self._stopped.is_set():
            return
        self.inject("stop")
        deadline = time.monotonic() + 1.0
        while self.behaviour.state != "stopping" and time.monotonic() < deadline and self.loop.running:
            time.sleep(0.01)
        time.sleep(0.05)  # let the safe-pose packet go out
        self.loop.stop()
        self._watchdog.notify("STOPPING=1")
        self.supervisor.stop()
        self.reconnector.stop()
        if self.bus.connected:
            try:
                self.bus.go_home()
            except DeviceUnavailable:
                pass
        self.bus.close()
        if self.sim is not None:
            self.sim.stop()
        self._record("stop", {"boot_id": self.boot_id})
        self._stopped.set()
        self._wake.set()
        self._housekeeper.join(3)

    # -- the tick (control loop thread) ---------------------------------------------------------

    def _tick(self, now_ns: int, dt_s: float) -> None:
        now = now_ns / 1e9
        for msg in self.supervisor.drain():
            self.messages_received += 1
            self._on_worker(msg)
        inputs = self._inputs
        while inputs:
            trigger, kwargs = inputs.popleft()
            if trigger == "_gesture":
                try:
                    self.motion.play(kwargs["name"], now)
                except KeyError as exc:
                    log.warning("%s", exc.args[0])
            elif trigger == "_look":
                self.motion.look_at(kwargs["x"], kwargs["y"])
            else:
                self._fire(trigger, **kwargs)
        connected = self.bus.connected
        if connected != self._servo_ok:
            self._servo_ok = connected
            self._fire("recover" if connected else "fault", reason="servo")
        if not self._booted:
            self._check_boot(now)
        if now >= self._next_quiet_check:
            self._check_quiet(now)
        if self.speech.finished(now) and self.behaviour.state == "responding":
            self._fire("reply_done")
        self.behaviour.step(now)
        for intent in self.behaviour.take_intents():
            self._execute(intent, now)
        targets = self.motion.sample(now)
        self._ticks += 1
        if connected:
            try:
                self.bus.write_targets(targets, query_errors=self._ticks % self._error_every == 0)
                errors = self.bus.poll_errors()
            except DeviceUnavailable as exc:
                self._record("servo_lost", {"reason": str(exc)[:120]})
                self.reconnector.lost()
            else:
                if errors:
                    self._record("servo_errors", {"errors": ",".join(describe_errors(errors))})
                    if errors & MaestroError.SERIAL_TIMEOUT:
                        self._record("servo_errors", {"reason": "board watchdog fired: loop writes were late"})
        if self.behaviour.state != "fault" and self._ticks % max(1, self.config.loop.rate_hz) == 0:
            self._watchdog.notify("WATCHDOG=1")  # only a healthy loop feeds systemd's watchdog

    def _fire(self, trigger: str, **kwargs: Any) -> bool:
        source = self.behaviour.state
        ok = self.behaviour.fire(trigger, **kwargs)
        data = {"trigger": trigger, "source": source}
        if "reason" in kwargs:
            data["reason"] = str(kwargs["reason"])
        if ok:
            if self.behaviour.state != source:
                self._record("state", {**data, "dest": self.behaviour.state})
        else:
            self._record("refused", data)
        return ok

    def _check_boot(self, now: float) -> None:
        workers_ready = self._ready_workers >= {s.name for s in self.worker_specs}
        waited = now - self.started_at
        if (self._servo_ok and workers_ready) or waited > self.config.behaviour.boot_timeout_s:
            self._booted = True
            self._fire("booted")

    def _check_quiet(self, now: float) -> None:
        self._next_quiet_check = now + 1.0
        quiet = self.config.quiet_hours.contains(dt.datetime.now().time())
        if quiet != self._quiet:
            self._quiet = quiet
            self._fire("quiet_start" if quiet else "quiet_end")

    def _on_worker(self, msg: Message) -> None:
        if msg.kind == "ready":
            self._ready_workers.add(msg.sender)
            self._record("worker", {"worker": msg.sender, "state": "ready"})
        elif msg.kind == "worker_fault":
            d = msg.data
            self._ready_workers.discard(str(d.get("worker")))
            self._record("worker", {"worker": d.get("worker"), "state": "fault", "reason": d.get("reason"),
                                    "restart_in_s": d.get("restart_in_s"), "planned": d.get("planned")})
            if not d.get("planned"):
                self.published.append(Publish("fault", (("reason", f"worker_{d.get('worker')}"),
                                                        ("state", "raised"))))
        elif msg.kind in ("engaged", "disengaged", "speech_started", "utterance", "speech_finished"):
            trigger = {"engaged": "engage", "disengaged": "disengage", "speech_started": "speech_start",
                       "utterance": "heard", "speech_finished": "reply_done"}[msg.kind]
            self._fire(trigger)

    def _execute(self, intent: Intent, now: float) -> None:
        if isinstance(intent, Gesture):
            self.motion.play(intent.name, now)
        elif isinstance(intent, Indicator):
            self.motion.set_indicator(intent.mode)
        elif isinstance(intent, LookAt):
            self.motion.look_at(intent.x, intent.y)
        elif isinstance(intent, Say):
            self.said.append(intent)
            self.speech.say(now)
            self.motion.speaking = True
            self._record("say", {"key": intent.key})
        elif isinstance(intent, StopSpeech):
            self.speech.stop()
            self.motion.speaking = False
        elif isinstance(intent, Sensors):
            self._record("sensors", {"mode": f"mic={'on' if intent.microphone else 'off'},"
                                             f"camera={'on' if intent.camera else 'off'}"})
        elif isinstance(intent, Publish):
            self.published.append(intent)
            self._record(intent.kind, {k: v for k, v in intent.fields if k != "delta" or intent.kind == "activity"})
        if not self.speech.queued:
            self.motion.speaking = False

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        self._records.append((kind, data))
        self._wake.set()

    # -- housekeeping thread: the only writer of files and the terminal -------------------------

    def _housekeeping(self) -> None:
        next_status = 0.0
        interval = self.config.loop.status_interval_s
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            while self._records:
                kind, data = self._records.popleft()
                try:
                    self.audit.append(kind, data)
                except (OSError, ValueError) as exc:
                    log.error("audit log write failed: %s", exc)
                self._show(kind, data)
            now = time.monotonic()
            if now >= next_status:
                next_status = now + interval
                self._write_status()
            if self._stopped.is_set() and not self._records:
                self._write_status()
                return

    def _show(self, kind: str, data: dict[str, Any]) -> None:
        if self.out is None:
            return
        if kind == "state":
            line = f"state  {data['source']} -> {data['dest']}  ({data['trigger']})"
        elif kind == "say":
            line = f"says   [{data['key']}]"
        elif kind in ("alert", "fault", "worker", "refused", "servo_lost", "servo_errors"):
            line = f"{kind:6s} " + " ".join(f"{k}={v}" for k, v in data.items())
        else:
            return
        try:
            self.out.write(time.strftime("%H:%M:%S ") + line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot for `carebot status` and the status file."""
        behaviour = self.behaviour
        status: dict[str, Any] = {
            "version": __version__,
            "boot_id": self.boot_id,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "state": behaviour.state,
            "facts": {"person": behaviour.facts.person, "paused": behaviour.facts.paused,
                      "privacy": behaviour.facts.privacy, "quiet": behaviour.facts.quiet,
                      "faults": sorted(behaviour.facts.faults)},
            "refused_transitions": len(behaviour.refused),
            "loop": {"rate_hz": self.config.loop.rate_hz, **self.loop.stats.summary()},
            "servo": {"port": self.bus.port, "connected": self.bus.connected,
                      "last_errors": describe_errors(self.bus.last_errors),
                      "protocol_faults": self.bus.protocol_faults,
                      "targets_us": {str(k): round(v, 1) for k, v in self.motion.last_output.items()}},
            "workers": {name: vars(h).copy() for name, h in self.supervisor.health().items()},
        }
        if self.sim is not None:
            positions = self.sim.board.positions_us()
            status["simulator"] = {
                "plugged": self.sim.plugged, "timeouts": self.sim.board.timeouts,
                "positions_us": {c.name: round(positions[c.channel], 1) for c in self.config.servo.channels},
            }
        return status

    def _write_status(self) -> None:
        path = self.state_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.status(), indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)


class _Watchdog:
    """sd_notify over $NOTIFY_SOCKET, when systemd gave us one; a no-op otherwise."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "")
        self.sock: socket.socket | None = None
        if addr:
            self.addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.setblocking(False)

    def notify(self, message: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto(message.encode(), self.addr)
        except OSError:
            pass
