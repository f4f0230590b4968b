"""The control process: builds every part once, starts them, stops them cleanly.

The parts live in robot.core, one job each: the tick (what the real-time loop does each
period), the state machine's door, carrying out intents, the speech channel, the staff
channel, the schedule, perception, the worker channel, the servo output, housekeeping (the
only writer of files and the terminal), the dialog thread and systemd's watchdog. Everything
that may block (files, the terminal, reconnecting the serial port, starting processes)
happens on threads other than the loop's, which sit idle until there is work.
"""

from __future__ import annotations

import collections
import gc
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from hardware.errors import DeviceUnavailable
from hardware.maestro_pty import PtyMaestro
from hardware.pi_health import BoardHealth
from hardware.reconnect import Reconnector
from robot import __version__
from robot.activity import ActivityCounter
from robot.alerts import Alert, AlertManager, EscalationPolicy
from robot.behaviour import Behaviour, BehaviourTimings
from robot.clock import Clock
from robot.config import Config
from robot.conversation import Conversation
from robot.core.actions import Executor
from robot.core.barge_in import BargeIn
from robot.core.board import BoardWatch
from robot.core.delivery import HelpDelivery
from robot.core.dialog_thread import DialogThread
from robot.core.guard import Guard, Part
from robot.core.housekeeping import Housekeeper
from robot.core.inputs import ButtonPress, Inbox, LookAtPoint, PartFault, PlayGesture, StaffCommand, Trigger, Utterance
from robot.core.machine import StateMachine
from robot.core.paging import RobotPaging
from robot.core.perception import Perception
from robot.core.privacy import SensorControl
from robot.core.schedule import Schedule
from robot.core.screen import ScreenChannel
from robot.core.servo import ServoOutput
from robot.core.speech import SpeechChannel
from robot.core.staff import StaffChannel
from robot.core.tick import Parts, Tick
from robot.core.watchdog import Watchdog
from robot.core.worker_specs import default_workers
from robot.core.workers import WorkerChannel
from robot.devices import make_servos
from robot.dialog_engine import DialogEngine
from robot.dialog_help_check import load_checked_pack
from robot.events import Topics
from robot.intents import Publish, Say
from robot.loop import GIL_SWITCH_S, ControlLoop
from robot.messages import Message
from robot.motion import MotionController
from robot.mqtt_link import MqttLink
from robot.nursecall_line import open_line, worst_send_s
from robot.outbox import Outbox
from robot.supervisor import Supervisor, WorkerSpec

log = logging.getLogger(__name__)



class Runtime:
    """One robot: config in, parts built and started at start, stopped on request."""

    def __init__(self, config: Config, *, simulate: bool = False, workers: list[WorkerSpec] | None = None,
                 out: TextIO | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.simulate = simulate or config.servo.driver == "sim"
        self.on_robot = not simulate  # `carebot run`: no config makes its speech a simulation unseen
        # Only `carebot sim` runs the simulator's clock: no config can make a real robot's escalations run fast.
        self.clock = clock or Clock.for_robot(config.sim, simulate)
        self.worker_specs = default_workers(config) if workers is None else workers
        self.out = out
        self.boot_id = uuid.uuid4().hex[:12]
        self.state_dir = Path(config.robot.state_dir)
        self.inbox = Inbox()
        self.sim: PtyMaestro | None = None
        self.link: MqttLink | None = None
        self.paging: RobotPaging | None = None  # the robot's own ESPA output, when configured
        self.published: collections.deque[Publish] = collections.deque(maxlen=1000)
        self.alert_updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.said: collections.deque[Say] = collections.deque(maxlen=1000)
        self.started_at = 0.0
        self._stopped = False
        self._restored: list[Alert] = []  # alerts still open from before a restart
        self._undelivered: set[str] = set()  # ... and those of them the broker has not accepted yet
        # Every thread but the loop's is a guarded part; its fault reaches the tick, and staff as a robot_fault.
        self.guard = Guard(lambda part, raised: self.inbox.put(PartFault(part, raised)))

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the parts, open devices, start threads and workers (first: speech in loads its model meanwhile)."""
        cfg = self.config
        # A thread that wants the GIL waits at most this long for another (default 5 ms); the others idle.
        sys.setswitchinterval(GIL_SWITCH_S)
        # a bad pack is refused whole, here: its form, and any call for help it no longer hears
        pack = load_checked_pack(Path(cfg.dialogs.path) / cfg.robot.language)
        self.supervisor = Supervisor(self.worker_specs, cfg.workers, logging.getLogger().level)
        self.supervisor.spawn()
        try:
            self._start(cfg, pack)
        except BaseException:
            self.supervisor.close()  # no worker outlives a start that failed
            raise

    def _start(self, cfg: Config, pack: Any) -> None:
        self.engine = DialogEngine(pack, accept=cfg.dialogs.accept, ask_again=cfg.dialogs.ask_again,
                                   min_confidence=cfg.dialogs.min_confidence)
        self.conversation = Conversation(self.engine, activities=cfg.schedule.activities)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        self.housekeeper = Housekeeper.from_config(cfg, self.status, self.out, self.clock)
        record = self.housekeeper.record
        self._build_devices()
        hears = "speech_in" in self.worker_specs_names()
        self.dialog = DialogThread(self.conversation, self.inbox, self._send_grammar if hears else None, self.clock)
        b = cfg.behaviour
        self.behaviour = Behaviour(BehaviourTimings(
            listen_timeout_s=b.listen_timeout_s, respond_timeout_s=b.respond_timeout_s,
            confirm_timeout_s=b.help_confirm_timeout_s, question_speak_max_s=b.help_question_speak_max_s,
            greet_interval_s=b.greet_interval_s, wellbeing_priority=cfg.alerts.wellbeing_priority),
            room=cfg.robot.room)
        self.motion = MotionController(self.servos.joints)
        a = cfg.alerts
        self.alerts = AlertManager(EscalationPolicy(a.escalate_high_s, a.escalate_medium_s, a.escalate_low_s,
                                                    a.promote_medium_to_high_s))
        activity = ActivityCounter(cfg.mqtt.activity_bucket_s, self.clock.time())
        self._build_link()
        machine = StateMachine(self.behaviour, record, self.dialog.post, activity)
        schedule = Schedule(cfg.schedule, cfg.quiet_hours, machine.fire, self.clock)
        self.staff = StaffChannel(cfg.robot.room, self.alerts, activity, self.link, record, machine.fire, schedule,
                                  self.published, self.alert_updates, self.clock)
        self.staff.adopt(self._restored)
        self.staff.audit_error = lambda: self.housekeeper.audit.write_error
        if self.on_robot and cfg.speech.simulated():  # a simulator's config on a robot: deaf or mute
            log.error("speech simulated on a robot (%s): set [speech] for the robot's own devices",
                      ", ".join(cfg.speech.simulated()))
            self.staff.fault("speech_simulated", True, time.monotonic())
        self._build_paging()
        self.workers = WorkerChannel(self.supervisor, self.worker_specs, record, self.staff.fault)
        self.screen = ScreenChannel(self.workers, self.inbox, record)
        self.workers.on("screen_press", self.screen.on_press)
        self.speech = SpeechChannel(cfg.speech, self.engine, self.conversation, self.workers,
                                    self.workers.names, self.motion, record, self.housekeeper.console, self.said,
                                    self.staff.fault, started=self.screen.spoken, clock=self.clock)
        self.perception = Perception(self.inbox, machine.fire, lambda: machine.state, self.motion, self.workers.send)
        self._route_worker_messages(machine)
        link = self.link
        self.delivery = HelpDelivery(self.speech.say, lambda: self.staff.help_alert, cfg.alerts.not_reached_s,
                                     link.outbox.accepted if link else None, link.delivered if link else None)
        for alert in self._restored:
            if alert.type == "help_request":
                self.delivery.restored(alert.alert_id, alert.alert_id not in self._undelivered, time.monotonic())
        sensors = SensorControl(self.workers, cfg.privacy.microphone, record, self.speech.say, lambda: machine.state)
        executor = Executor(self.motion, self.speech, self.staff, sensors.apply, record, self.delivery.say,
                            shown=self.screen.indicator)
        self.servo = ServoOutput(self.servos, self.reconnector, record)
        self._watchdog = Watchdog()
        self.board = BoardWatch(BoardHealth(cfg.health.sys_root, self.state_dir), cfg.health, self.inbox.put)
        parts = Parts(self.inbox, machine, executor, self.workers, self.perception, self.staff, self.delivery,
                      schedule, self.speech, self.servo, self.motion, activity, self._watchdog, self.guard,
                      self.dialog.post, record, self.clock)
        self.tick = Tick(parts, rate_hz=cfg.loop.rate_hz, boot_timeout_s=cfg.behaviour.boot_timeout_s,
                         started_at=self.started_at, follow_head=self.simulate and "vision" in self.workers.names,
                         loop_p99_ms=lambda: self.loop.stats.histogram.percentile_ms(0.99))
        self.loop = ControlLoop(self.tick, cfg.loop.rate_hz, overrun_fault_after=cfg.loop.overrun_fault_after,
                                realtime=cfg.loop.realtime, rt_priority=cfg.loop.rt_priority,
                                on_fault=lambda reason: self.inject("fault", reason=reason),
                                on_recover=lambda reason: self.inject("recover", reason=reason))
        record("boot", {"boot_id": self.boot_id, "version": __version__})
        self._parts = self._guarded_parts()
        for part in self._parts:
            part.start()
        self.dialog.post("state", state="booting")
        if self.link is not None:
            self.link.start()
        # Everything built so far lives as long as the robot: out of the collector's reach (it holds the GIL).
        gc.collect()
        gc.freeze()
        self.loop.start()
        self._watchdog.notify("READY=1")

    def _guarded_parts(self) -> list[Part]:
        """The threads of the control process (the loop's aside), each a guarded part."""
        g = self.guard
        return [
            g.part("housekeeping", self.housekeeper.step, close=self.housekeeper.close, wake=self.housekeeper.wake),
            g.part("servo_reconnect", self.reconnector.step, wake=self.reconnector.lost),
            g.part("supervisor", self.supervisor.step, close=self.supervisor.close, wake=self.supervisor.wake),
            # a wedged utterance must not deafen the robot: a fresh thread takes the next one
            g.part("dialog", self.dialog.step, wake=self.dialog.wake, replace_on_stall=True),
            g.part("board", self.board.step, wake=self.board.wake),
        ] + ([g.part("paging", self.paging.step, close=self.paging.close, wake=self.paging.wake,
                     stall_s=worst_send_s(self.config.nursecall))] if self.paging else [])

    def _build_paging(self) -> None:
        """The robot's own ESPA output, when its config enables one (robot/core/paging.py)."""
        nc = self.config.nursecall
        if nc.enabled:
            self.paging = RobotPaging(nc, self.config.robot.id, lambda: open_line(nc), self.inbox.put)
            self.staff.observers.append(self.paging.offer)
            for alert in self._restored:
                self.paging.offer(alert.update())

    def _build_devices(self) -> None:
        cfg = self.config
        self.servos, self.sim = make_servos(cfg, simulate=self.simulate, link=self.state_dir / "sim" / "maestro")
        self.reconnector = Reconnector(self.servos, max_s=cfg.servo.reconnect_max_s)

    def _build_link(self) -> None:
        cfg = self.config
        if cfg.mqtt.enabled:
            outbox = Outbox(self.state_dir / "outbox.sqlite", cfg.mqtt.outbox_min_free_mb)
            self._restored = self.alerts.restore(outbox.open_alerts(), self.clock.monotonic(), self.clock.time())
            self._undelivered = outbox.undelivered_alerts()
            self.link = MqttLink(cfg.mqtt, Topics(cfg.robot.site, cfg.robot.id), self.boot_id, outbox,
                                 max_inflight=cfg.mqtt.max_inflight, heartbeat_s=cfg.mqtt.heartbeat_s,
                                 guard=self.guard)
            self.link.health = {"behaviour": "booting", "faults": [], "open_alerts": 0}
        elif not self.simulate:
            log.warning("mqtt.enabled is false: alerts reach no one but this robot's log. "
                        "Enable [mqtt] before residents use this robot.")

    def _route_worker_messages(self, machine: StateMachine) -> None:
        """Fill the worker channel's dispatch table with the parts that act on each kind."""
        w, speech, perception = self.workers, self.speech, self.perception

        def speech_out(msg: Message, now: float) -> None:
            if speech.on_message(msg, now):
                machine.speech_done()

        for kind in ("speaking_started", "speaking_finished", "speaking_failed"):
            w.on(kind, speech_out)
        for kind in ("ready", "worker_fault"):  # speech out's life decides what is still to be said
            w.also_on(kind, speech_out)
        w.on("vision", perception.on_vision)
        w.on("speech_started", perception.on_speech_started)
        self.barge = b = BargeIn(self.engine, speech, w.send, self.dialog.post, perception.on_utterance,
                                 machine.fire, lambda: machine.state, self.housekeeper.record)
        for kind, handler in (("utterance", b.on_utterance), ("barge_in", b.on_barge_in),
                              ("barge_in_silenced", b.on_silenced), ("playback", b.on_playback)):
            w.on(kind, handler)
        w.also_on("speaking_started", b.on_speaking_started)
        w.also_on("ready", b.on_speech_in_ready)

    def _send_grammar(self, phrases: list[str]) -> None:
        """Called from the dialog thread when the dialog context changes (never blocks)."""
        self.workers.send("speech_in", "grammar", phrases=phrases)

    def stop(self) -> None:
        """Stop in order: behaviour to stopping, the loop, workers, devices, housekeeping."""
        if self._stopped:
            return
        self._stopped = True
        self.inject("stop")
        deadline = time.monotonic() + 1.0
        while self.behaviour.state != "stopping" and time.monotonic() < deadline and self.loop.running:
            time.sleep(0.01)
        time.sleep(0.05)  # let the safe-pose packet go out
        self.loop.stop()
        self._watchdog.notify("STOPPING=1")
        parts = {p.name: p for p in self._parts}
        parts["dialog"].stop()
        parts["supervisor"].stop(self.config.workers.stop_grace_s * 3 + 2)
        if self.link is not None:
            self.link.stop()
        parts["servo_reconnect"].stop()
        parts["board"].stop()
        for part in parts.values():  # every other part (the paging line): none may outlive the robot's stop
            if part.name != "housekeeping":  # the last: it writes what the others did as they stopped
                part.stop()
        if self.servos.connected:
            try:
                self.servos.go_home()
            except DeviceUnavailable:
                pass
        self.servos.close()
        if self.sim is not None:
            self.sim.stop()
        for spec in self.worker_specs:  # the robot's last words, held for the echo canceller
            if spec.options.get("far_ring"):
                try:
                    Path(spec.options["far_ring"]).unlink(missing_ok=True)
                except OSError as exc:  # a read-only card: the stop goes on (the next start replaces it)
                    log.warning("cannot remove %s: %s", spec.options["far_ring"], exc)
        self.housekeeper.record("stop", {"boot_id": self.boot_id})
        parts["housekeeping"].stop()

    # -- inputs (thread-safe; for consoles, MQTT and tests) ---------------------------------------

    def inject(self, trigger: str, **kwargs: Any) -> None:
        """Queue a trigger for the next tick."""
        self.inbox.put(Trigger(trigger, kwargs))

    def hear(self, text: str, confidence: float = 1.0, typed: bool = True, alternatives: tuple[str, ...] = ()
             ) -> None:
        """An utterance (recognised, or typed by a technician), with the recogniser's other readings, for
        the next tick; its words are used by the dialog engine and then dropped: never logged, stored or sent."""
        self.inbox.put(Utterance(text, confidence, typed, alternatives))

    def press_button(self) -> None:
        """The robot's physical button: toggles privacy."""
        self.inbox.put(ButtonPress())

    def inject_command(self, name: str, payload: dict[str, Any]) -> None:
        """Queue a staff command (as if it came over MQTT) for the next tick."""
        self.inbox.put(StaffCommand(name, payload))

    def inject_gesture(self, name: str) -> None:
        """Play a pose or gesture on the next tick (console and servo tools)."""
        self.inbox.put(PlayGesture(name))

    def inject_look(self, x: float, y: float) -> None:
        """Look at a point in normalised image coordinates on the next tick."""
        self.inbox.put(LookAtPoint(x, y))

    # -- what the parts know, for consoles, benches and tests -------------------------------------

    def worker_specs_names(self) -> set[str]:
        """Names of the configured worker processes."""
        return {w.name for w in self.worker_specs}

    def newest_open_alert(self) -> str | None:
        """The help alert if there is one, else the newest open alert (for the console)."""
        return self.staff.newest_open_alert()

    @property
    def help_alert(self) -> str | None:
        """The open help request's alert id, if any."""
        return self.staff.help_alert

    @property
    def said_text(self) -> collections.deque[str]:
        """The words of the latest sentences, as rendered."""
        return self.speech.said_text

    @property
    def engagement(self) -> str:
        """Vision's latest engagement state."""
        return self.perception.engagement

    @property
    def last_target(self) -> list[float] | None:
        """Vision's latest target box centre, if any."""
        return self.perception.last_target

    @property
    def messages_received(self) -> int:
        """Worker messages the tick has handled."""
        return self.workers.messages_received

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot for `carebot status` and the status file."""
        behaviour = self.behaviour
        servo = self.servos.health()
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
            "servo": {"port": servo.where, "connected": servo.connected, "silent": servo.silent,
                      "last_errors": list(servo.faults), "protocol_faults": servo.protocol_faults,
                      "targets_deg": {k: round(v, 1) for k, v in self.motion.last_output.angles.items()}},
            "workers": {name: vars(h).copy() for name, h in self.supervisor.health().items()},
            "parts": self.guard.snapshot(),
            "turns": self.barge.metrics(),  # timings and counts, never words
            "speech": {**self.speech.jobs.summary(), "simulated": self.config.speech.simulated()},
            "board": self.board.summary(),
        }
        if self.sim is not None:
            positions = self.sim.board.positions_us()
            status["simulator"] = {
                "plugged": self.sim.plugged, "timeouts": self.sim.board.timeouts,
                "positions_us": {c.name: round(positions[c.channel], 1) for c in self.config.servo.channels},
            }
        return status
