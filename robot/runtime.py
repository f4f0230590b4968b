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
import queue
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hardware.errors import DeviceUnavailable
from hardware.maestro import MaestroBus, Reconnector
from hardware.maestro_protocol import MaestroError, describe_errors
from hardware.maestro_sim import PtyMaestro, VirtualMaestro
from robot import __version__
from robot.activity import ActivityCounter
from robot.alerts import AlertManager, EscalationPolicy, UnknownAlert
from robot.audit import AuditLog
from robot.behaviour import Behaviour, BehaviourTimings
from robot.config import VOICES, Config, QuietHoursSection
from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack
from robot.events import Topics
from robot.intents import Gesture, Indicator, Intent, LookAt, Publish, Say, Sensors, StopSpeech
from robot.loop import ControlLoop
from robot.messages import Message
from robot.motion import MotionController
from robot.mqtt_link import MqttLink
from robot.outbox import Outbox
from robot.supervisor import Supervisor, WorkerSpec

log = logging.getLogger(__name__)

GIL_SWITCH_S = 0.0005  # see Runtime.start
ERROR_POLL_HZ = 2  # how often the tick asks the board for its error register
WORKER_ALERT_AFTER_S = 30.0  # a worker down this long becomes a robot_fault alert for staff
STAND_IN_SPEECH_S = 1.5  # shortest time the speech stand-in gives a sentence
SPEECH_WPM_STEP = 15.0  # each "slower" takes this much off, for the rest of the session


@dataclass
class _Speech:
    """Speech output until the speech-out worker is configured: it shows the response key
    and takes a fixed time, so the state machine's turn-taking runs as it will for real."""

    busy_until: float = 0.0
    queued: int = 0
    rate_wpm: float = 150.0

    def say(self, now: float, words: int = 8) -> None:
        seconds = max(STAND_IN_SPEECH_S, words * 60.0 / self.rate_wpm)
        self.busy_until = max(self.busy_until, now) + seconds
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
        self.worker_specs = default_workers(config) if workers is None else workers
        self.out = out
        self.boot_id = uuid.uuid4().hex[:12]
        self.state_dir = Path(config.robot.state_dir)
        self._inputs: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._records: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._console: collections.deque[str] = collections.deque(maxlen=100)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self.sim: PtyMaestro | None = None
        self.published: collections.deque[Publish] = collections.deque(maxlen=1000)
        self.alert_updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self._commands: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self.link: MqttLink | None = None
        self.said: collections.deque[Say] = collections.deque(maxlen=1000)
        self.started_at = 0.0

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the parts, open devices and start the threads and workers."""
        cfg = self.config
        # A thread that wants the GIL waits at most this long for another to give it up (the
        # default is 5 ms). The other threads here are near-idle, so the cost is negligible.
        sys.setswitchinterval(GIL_SWITCH_S)
        pack = load_pack(Path(cfg.dialogs.path) / cfg.robot.language)  # a bad pack is refused whole, here
        self.engine = DialogEngine(pack, accept=cfg.dialogs.accept, ask_again=cfg.dialogs.ask_again,
                                   min_confidence=cfg.dialogs.min_confidence)
        self.conversation = Conversation(self.engine, activities=cfg.schedule.activities)
        self.dialog = DialogThread(self.conversation, self._inputs,
                                   self._send_grammar if cfg.speech.enabled else None)
        self.said_text: collections.deque[str] = collections.deque(maxlen=200)
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
            confirm_timeout_s=b.help_confirm_timeout_s,
            greet_interval_s=b.greet_interval_s, wellbeing_priority=cfg.alerts.wellbeing_priority),
            room=cfg.robot.room)
        self.motion = MotionController(cfg.servo.channels)
        self.speech = _Speech()
        a = cfg.alerts
        self.alerts = AlertManager(EscalationPolicy(a.escalate_high_s, a.escalate_medium_s, a.escalate_low_s,
                                                    a.promote_medium_to_high_s))
        self.activity = ActivityCounter(cfg.mqtt.activity_bucket_s, time.time())
        self.help_alert: str | None = None
        self._fault_alerts: dict[str, str] = {}
        self._scheduled: list[tuple[float, str]] = []
        self._workers_down: dict[str, float] = {}
        self._last_minute = ""
        self._speaking = 0
        self._worker_names = {w.name for w in self.worker_specs}
        self.engagement = "UNKNOWN"
        self._next_head = 0.0
        self._head_sent = (0.0, 0.0)
        self.last_target: list[float] | None = None
        self._workers_reported: set[str] = set()
        self.quiet_hours = cfg.quiet_hours
        self._next_second = 0.0
        if cfg.mqtt.enabled:
            outbox = Outbox(self.state_dir / "outbox.sqlite", cfg.mqtt.outbox_min_free_mb)
            self.link = MqttLink(cfg.mqtt, Topics(cfg.robot.site, cfg.robot.id), self.boot_id, outbox,
                                 max_inflight=cfg.mqtt.max_inflight, heartbeat_s=cfg.mqtt.heartbeat_s)
            self.link.health = {"behaviour": "booting", "faults": [], "open_alerts": 0}
        elif not self.simulate:
            log.warning("mqtt.enabled is false: alerts reach no one but this robot's log. "
                        "Enable [mqtt] before residents use this robot.")
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
        self.dialog.start("booting")
        if self.link is not None:
            self.link.start()
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

    def hear(self, text: str, confidence: float = 1.0, typed: bool = True, alternatives: tuple[str, ...] = ()
             ) -> None:
        """An utterance (recognised, or typed by a technician) and the recogniser's other readings of it,
        for the next tick; the words are used by the dialog engine and then dropped: never logged, stored
        or sent."""
        self._inputs.append(("_utterance", {"text": text, "confidence": confidence, "typed": typed,
                                            "alternatives": alternatives}))

    def worker_specs_names(self) -> set[str]:
        """Names of the configured worker processes."""
        return {w.name for w in self.worker_specs}

    def press_button(self) -> None:
        """The robot's physical button: toggles privacy."""
        self._inputs.append(("_button", {}))

    def inject_command(self, name: str, payload: dict[str, Any]) -> None:
        """Queue a staff command (as if it came over MQTT) for the next tick."""
        self._commands.append((name, payload))

    def newest_open_alert(self) -> str | None:
        """The help alert if there is one, else the newest open alert (for the console)."""
        if self.help_alert is not None:
            return self.help_alert
        open_alerts = self.alerts.open_alerts()
        return open_alerts[-1].alert_id if open_alerts else None

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
        self.dialog.stop()
        self._watchdog.notify("STOPPING=1")
        self.supervisor.stop()
        if self.link is not None:
            self.link.stop()
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
            self._on_worker(msg, now)
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
            elif trigger == "_utterance":
                self._utterance(kwargs.pop("text"), float(kwargs["confidence"]), bool(kwargs["typed"]),
                                kwargs.pop("alternatives", ()))
            elif trigger == "_actions":
                self._act(kwargs["actions"], now)
            elif trigger == "_button":
                self._fire("privacy_off" if self.behaviour.state == "privacy" else "privacy_on")
            else:
                self._fire(trigger, **kwargs)
        if self.link is not None:
            while self.link.commands:
                self._on_command(*self.link.commands.popleft())
        while self._commands:
            self._on_command(*self._commands.popleft())
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
        fired = len(self.behaviour.history)
        self.behaviour.step(now)
        for trigger, source, dest in self.behaviour.history[fired:]:  # timeouts change states too
            if dest != source:
                self._state_changed({"trigger": trigger, "source": source})
        for intent in self.behaviour.take_intents():
            self._execute(intent, now)
        for update in self.alerts.tick(now):
            self._send_alert(update)
        self.activity.tick(self.behaviour.state, dt_s)
        if now >= self._next_second:
            self._every_second(now)
        if self.simulate and "vision" in self._worker_names and now >= self._next_head:
            self._send_head(now)
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
                self._state_changed(data)
        else:
            self._record("refused", data)
        return ok

    def _state_changed(self, data: dict[str, str]) -> None:
        """Record a state change (never words) and let the dialog thread follow it."""
        trigger, source = data["trigger"], data["source"]
        self._record("state", {**data, "dest": self.behaviour.state})
        if self.behaviour.state == "idle" and not self.behaviour.facts.person:
            self.dialog.post("end_session")
        self.dialog.post("checkin" if trigger == "checkin" else "state", state=self.behaviour.state)
        if self.behaviour.state == "listening" and source in ("idle", "engaged"):
            self.activity.count("conversations")

    def _check_boot(self, now: float) -> None:
        workers_ready = self._ready_workers >= {s.name for s in self.worker_specs}
        waited = now - self.started_at
        if (self._servo_ok and workers_ready) or waited > self.config.behaviour.boot_timeout_s:
            self._booted = True
            self._fire("booted")

    def _check_quiet(self, now: float) -> None:
        self._next_quiet_check = now + 1.0
        quiet = self.quiet_hours.contains(dt.datetime.now().time())
        if quiet != self._quiet:
            self._quiet = quiet
            self._fire("quiet_start" if quiet else "quiet_end")

    def _on_worker(self, msg: Message, now: float) -> None:
        if msg.kind == "ready":
            self._ready_workers.add(msg.sender)
            self._workers_down.pop(msg.sender, None)
            self._record("worker", {"worker": msg.sender, "state": "ready"})
            if msg.sender in self._workers_reported:
                self._workers_reported.discard(msg.sender)
                self._execute(Publish("fault", (("reason", f"worker_{msg.sender}"), ("state", "cleared"))), now)
        elif msg.kind == "worker_fault":
            d = msg.data
            name = str(d.get("worker"))
            self._ready_workers.discard(name)
            self._record("worker", {"worker": name, "state": "fault", "reason": d.get("reason"),
                                    "restart_in_s": d.get("restart_in_s"), "planned": d.get("planned")})
            if not d.get("planned"):
                self._workers_down.setdefault(name, now)  # staff hear of it if it stays down
        elif msg.kind == "vision":
            self._on_vision(msg.data)
        elif msg.kind == "camera_fault":
            self._record("worker", {"worker": msg.sender, "state": "fault", "reason": "camera unavailable"})
            self._execute(Publish("fault", (("reason", "camera"), ("state", "raised"))), now)
        elif msg.kind == "camera_ok":
            self._record("worker", {"worker": msg.sender, "state": "ready", "reason": "camera back"})
            self._execute(Publish("fault", (("reason", "camera"), ("state", "cleared"))), now)
        elif msg.kind == "setup_failed":
            log.error("worker %s could not start: %s", msg.sender, msg.data.get("reason"))
            self._record("worker", {"worker": msg.sender, "state": "fault", "reason": "setup failed"})
        elif msg.kind == "speaking_started":
            self.motion.speaking = True
            self.supervisor.send("speech_in", "mute", on=True)  # half duplex: never hear ourselves
        elif msg.kind == "speaking_finished":
            self._speaking = max(0, self._speaking - 1)
            if not self._speaking:
                self._speech_done()
        elif msg.kind == "speech_fault":
            log.error("speech worker: %s", msg.data.get("detail", msg.data.get("reason")))
            self._execute(Publish("fault", (("reason", "speech"), ("state", "raised"))), now)
        elif msg.kind == "utterance":
            self._utterance(str(msg.data.get("text", "")), float(msg.data.get("confidence", 1.0)), False,
                            tuple(str(a) for a in msg.data.get("alternatives") or ()))
        elif msg.kind == "speech_started" and self.behaviour.state in ("idle", "engaged"):
            self._fire("speech_start")

    def _speech_done(self, fire: bool = True) -> None:
        self.motion.speaking = False
        if "speech_in" in self._worker_names:
            self.supervisor.send("speech_in", "mute", on=False)
        if fire and self.behaviour.state == "responding":
            self._fire("reply_done")

    def _send_grammar(self, phrases: list[str]) -> None:
        """Called from the dialog thread when the dialog context changes (supervisor.send never blocks)."""
        self.supervisor.send("speech_in", "grammar", phrases=phrases)

    def _utterance(self, text: str, confidence: float, typed: bool = False, alternatives: tuple[str, ...] = ()
                   ) -> None:
        state = self.behaviour.state
        if state == "responding" and typed:  # a typed turn may interrupt: there is no echo to fear
            self._execute(StopSpeech(), time.monotonic())
            self._fire("reply_done")
            state = self.behaviour.state
        if state in ("idle", "engaged"):
            self._fire("speech_start")
        # Understanding takes milliseconds (3-9 ms measured): the dialog thread does it, off this tick.
        self.dialog.post("utterance", text=text, confidence=confidence, state=self.behaviour.state,
                         alternatives=alternatives)
        self._record("utterance", {"reason": "understood"})  # that something was said; never what

    def _act(self, actions: list[tuple[str, dict[str, Any]]], now: float) -> None:
        """Carry out what the dialog thread decided for one utterance."""
        for trigger, kwargs in actions:
            if trigger == "say":
                self._execute(Say(str(kwargs["key"])), now)
            else:
                self._fire(trigger, **kwargs)

    def _render(self, say: Say) -> str:
        params = dict(say.params)
        if say.key == "quiz_question":
            return str(params.get("text", ""))
        if say.key in ("reminder", "reminder_again") and "kind" in params:
            params["kind"] = self.engine.pack.kinds.get(params["kind"], params["kind"])
        return self.engine.render(say.key, params)

    def _send_head(self, now: float) -> None:
        """Tell the simulated camera where the head points (10 Hz, only when it moved)."""
        self._next_head = now + 0.1
        angles = self.motion.angles()
        head = (round(angles.get("pan", 0.0), 1), round(angles.get("tilt", 0.0), 1))
        if head != self._head_sent:
            self._head_sent = head
            self.supervisor.send("vision", "head", pan=head[0], tilt=head[1])

    def _on_vision(self, data: dict[str, Any]) -> None:
        state = str(data.get("state"))
        previous, self.engagement = self.engagement, state
        if state == "ENGAGED" and previous != "ENGAGED":
            self._fire("engage")
        elif state == "DISENGAGED" and previous in ("ENGAGED", "DISENGAGING"):
            self._fire("disengage")
            self.motion.release_look()
        target = data.get("target")
        self.last_target = target
        if (target and state in ("ENGAGING", "ENGAGED", "DISENGAGING")
                and self.behaviour.state in ("idle", "engaged", "listening", "responding", "reminding", "alerting")):
            self.motion.look_at((float(target[0]) - 0.5) * 2, (float(target[1]) - 0.5) * 2)

    def _execute(self, intent: Intent, now: float) -> None:
        if isinstance(intent, Gesture):
            self.motion.play(intent.name, now)
        elif isinstance(intent, Indicator):
            self.motion.set_indicator(intent.mode)
        elif isinstance(intent, LookAt):
            self.motion.look_at(intent.x, intent.y)
        elif isinstance(intent, Say):
            self.said.append(intent)
            text = self._render(intent)
            self.said_text.append(text)
            # "slower" and "louder" last for the session (Conversation keeps the steps)
            rate = min(180.0, max(130.0, self.config.speech.rate_wpm + SPEECH_WPM_STEP * self.conversation.rate_step))
            if "speech_out" in self._worker_names:
                self._speaking += 1
                volume = min(1.0, self.config.speech.volume + 0.15 * self.conversation.volume_step)
                self.supervisor.send("speech_out", "say", text=text, rate=rate, volume=volume, job=len(self.said))
            else:
                self.speech.rate_wpm = rate
                self.speech.say(now, len(text.split()))
            self.motion.speaking = True
            self._record("say", {"key": intent.key})
            if self.out is not None:
                self._console.append(f'says   "{text}"')
                self._wake.set()
        elif isinstance(intent, StopSpeech):
            self.speech.stop()
            if "speech_out" in self._worker_names and self._speaking:
                self._speaking = 0
                self.supervisor.restart("speech_out", "stop")  # killing it is the only sure way to silence it
                self._speech_done(fire=False)
            self.motion.speaking = False
        elif isinstance(intent, Sensors):
            self._record("sensors", {"mode": f"mic={'on' if intent.microphone else 'off'},"
                                             f"camera={'on' if intent.camera else 'off'}"})
            if "vision" in self._worker_names:
                self.supervisor.send("vision", "camera", on=intent.camera)
        elif isinstance(intent, Publish):
            self.published.append(intent)
            self._publish(intent, now)
        if not self.speech.queued:
            self.motion.speaking = False

    # -- staff channel (still the control loop thread: no I/O, only deques) -----------------------

    def _publish(self, intent: Publish, now: float) -> None:
        f = dict(intent.fields)
        if intent.kind == "alert":
            extra = {k: str(f[k]) for k in ("reminder", "concern") if k in f}
            alert, update = self.alerts.raise_alert(str(f["type"]), str(f["priority"]), self.config.robot.room,
                                                    now, time.time(), **extra)
            if alert.type == "help_request":
                self.help_alert = alert.alert_id
                self.activity.count("help_requests")
            elif alert.type == "reminder_unacked":
                self.activity.count("reminders_missed")
            self._send_alert(update)
        elif intent.kind == "fault":
            reason = str(f.get("reason", "unknown"))
            if f.get("state") == "raised" and reason not in self._fault_alerts:
                alert, update = self.alerts.raise_alert("robot_fault", "medium", self.config.robot.room, now,
                                                        time.time(), fault=_token(reason))
                self._fault_alerts[reason] = alert.alert_id
                self._send_alert(update)
            elif f.get("state") == "cleared" and reason in self._fault_alerts:
                self._send_alert(self.alerts.cancel(self._fault_alerts.pop(reason)))
        elif intent.kind == "activity":
            counter = str(f.get("counter"))
            if counter in self.activity.counts:
                self.activity.count(counter, int(f.get("delta", 1)))

    def _send_alert(self, update: dict[str, Any]) -> None:
        self.alert_updates.append(update)
        if self.link is not None:
            self.link.submit("alert", update)
        self._record("alert", {k: update[k] for k in ("type", "priority", "state", "room")})

    def _on_command(self, name: str, payload: dict[str, Any]) -> None:
        self._record("command", {"command": name})
        alert_id = str(payload.get("alert_id", ""))
        try:
            if name == "ack":
                update = self.alerts.acknowledge(alert_id)
                if update is not None:
                    self._send_alert(update)
                if alert_id == self.help_alert:
                    self._fire("ack")  # the resident hears that help is on the way
            elif name == "resolve":
                self._send_alert(self.alerts.resolve(alert_id))
                if alert_id == self.help_alert:
                    self.help_alert = None
                    self._fire("resolve")
            elif name in ("pause", "resume"):
                self._fire(name)
            elif name == "remind":
                self._scheduled.append((time.monotonic() + float(payload.get("in_s", 0)), str(payload["kind"])))
            elif name == "quiet_hours":
                self.quiet_hours = QuietHoursSection.model_validate(
                    {k: payload[k] for k in ("enabled", "start", "end")})
                self._next_quiet_check = 0.0
        except UnknownAlert as exc:
            log.warning("staff command %s rejected: %s", name, exc)
            self._record("refused", {"command": name, "reason": "unknown alert"})

    def _every_second(self, now: float) -> None:
        self._next_second = now + 1.0
        minute = dt.datetime.now().strftime("%H:%M")
        if minute != self._last_minute:
            self._last_minute = minute
            for r in self.config.schedule.reminders:
                if r.time == minute:
                    self._scheduled.append((now, r.kind))
            if minute in self.config.schedule.checkins and not self._fire("checkin"):
                self._scheduled.append((now + 60.0, "_checkin"))
        for name, since in self._workers_down.items():
            if now - since >= WORKER_ALERT_AFTER_S and name not in self._workers_reported:
                self._workers_reported.add(name)
                self._execute(Publish("fault", (("reason", f"worker_{name}"), ("state", "raised"))), now)
        due = [kind for t, kind in self._scheduled if t <= now]
        if due:
            self._scheduled = [(t, k) for t, k in self._scheduled if t > now]
            for kind in due:
                if kind == "_checkin":
                    if not self._fire("checkin"):
                        self._scheduled.append((now + 60.0, kind))
                elif not self._fire("remind", kind=kind):
                    self._scheduled.append((now + 60.0, kind))  # busy: try again in a minute
        bucket = self.activity.flush(time.time())
        if bucket is not None and self.link is not None:
            self.link.submit("activity", bucket)
        if self.link is not None:
            self.link.health = {"behaviour": self.behaviour.state,
                                "faults": sorted(_token(f) for f in self.behaviour.facts.faults),
                                "open_alerts": len(self.alerts.alerts),
                                "loop_p99_ms": self.loop.stats.histogram.percentile_ms(0.99)}

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
            while self._console:
                self._write_out(self._console.popleft())
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
        elif kind in ("alert", "fault", "worker", "refused", "servo_lost", "servo_errors"):
            line = f"{kind:6s} " + " ".join(f"{k}={v}" for k, v in data.items())
        else:
            return
        self._write_out(line)

    def _write_out(self, line: str) -> None:
        if self.out is None:
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


class DialogThread:
    """Owns the Conversation: understands utterances and follows the dialog context off the loop.

    The control tick posts utterances and state changes (a queue put); decisions come back as an
    `_actions` input for the next tick. Matching is pure Python and takes milliseconds, which a
    100 Hz tick cannot spare; with the 0.5 ms GIL switch interval the loop still wakes on time.
    """

    def __init__(self, conversation: Conversation, inputs: collections.deque[tuple[str, dict[str, Any]]],
                 on_grammar: Callable[[list[str]], None] | None) -> None:
        self.conversation = conversation
        self.inputs = inputs
        self.on_grammar = on_grammar
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dialog", daemon=True)
        self._context: str | None = None

    def start(self, state: str) -> None:
        self._thread.start()
        self.post("state", state=state)

    def post(self, kind: str, **data: Any) -> None:
        """Hand work to the dialog thread (never blocks)."""
        self._queue.put((kind, data))

    def stop(self) -> None:
        self.post("stop")
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            kind, data = self._queue.get()
            if kind == "stop":
                return
            try:
                self._handle(kind, data)
            except Exception:  # the help path is sacred: nothing in here may stop the next utterance
                log.exception("dialog thread: %s failed", kind)
                if kind == "utterance":  # it may have been a call for help: ask, never drop
                    self.inputs.append(("_actions", {"actions": [("ask_help", {"reason": "error"})]}))

    def _handle(self, kind: str, data: dict[str, Any]) -> None:
        conv = self.conversation
        if kind == "utterance":
            conv.set_context(data["state"])
            actions = conv.hear(data["text"], data["confidence"], dt.datetime.now(), data.get("alternatives", ()))
            self.inputs.append(("_actions", {"actions": actions}))
        elif kind == "state":
            conv.set_context(data["state"])
        elif kind == "checkin":
            conv.start_checkin()
        elif kind == "end_session":
            conv.end_session()
        if self.on_grammar is not None and conv.context != self._context:
            self._context = conv.context
            self.on_grammar(conv.engine.grammar(conv.context))


def default_workers(config: Config) -> list[WorkerSpec]:
    """The worker processes the config asks for."""
    specs = []
    s = config.speech
    if s.enabled:
        specs.append(WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker", {
            "model": str(s.model), "source": s.source, "device": s.device, "endpoint_s": s.endpoint_s,
            "vad_aggressiveness": s.vad_aggressiveness, "min_rms": s.min_rms, "alternatives": s.alternatives}))
        specs.append(WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker", {
            "voice": s.voice or VOICES[config.robot.language], "pitch": s.pitch,
            "out_dir": str(s.out_dir) if s.out_dir else None}))
    if config.vision.enabled:
        specs.append(WorkerSpec("vision", "robot.workers.vision:VisionWorker", config.vision.worker_options()))
    return specs


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


def _token(text: str) -> str:
    """A schema-safe token from an internal reason such as 'worker_speech_in' or 'loop_overrun'."""
    out = "".join(c if c.isalnum() or c in "_-" else "_" for c in text.lower())[:32]
    return out if out and out[0].isalnum() else "fault"
