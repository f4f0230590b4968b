"""The worker channel: messages from the worker processes in, commands to them out.

Each message kind has one handler in a dispatch table that the parts fill in at build time
(`on`); a kind nobody handles is logged once, loudly, instead of falling through unseen.
Workers' own life cycle (ready, fault, setup failed) is handled here: a worker that stays
down becomes a robot_fault alert for staff, cleared when it is ready again.

Commands that set a worker's state (camera, microphone, mute, grammar) are remembered as the
desired state and sent again on every `ready`: a restarted worker is never left as it starts
by default, and commands queued to a worker that died are not relied on. Those that decide
what a worker opens at start (the camera, the microphone) also become its start options, so a
restart cannot reopen what privacy closed, not even for the moment before its commands arrive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from robot.messages import Message
from robot.supervisor import WorkerSpec

log = logging.getLogger(__name__)

WORKER_ALERT_AFTER_S = 30.0  # a worker down this long becomes a robot_fault alert for staff
# Kinds that carry nothing the control process acts on (yet): accepted without a word. grammar_missing
# lists pack words the recogniser lacks, at every start; `carebot selftest` names them with their phrases.
INFORMATIONAL = frozenset({"partial", "no_speech", "playing", "camera_state", "echo", "observation", "got",
                           "grammar_missing", "playback_cut"})
# Messages that show a worker's speech path works again, clearing its speech fault.
HEARS = frozenset({"speech_started", "utterance", "no_speech"})
# Commands that set a worker's state, and the start option (if any) that carries it into a restart.
DESIRED = {("vision", "camera"): "start_on", ("speech_in", "microphone"): "microphone",
           ("speech_in", "mute"): None, ("speech_in", "grammar"): None, ("screen", "show"): None}

Handler = Callable[[Message, float], None]
Record = Callable[[str, dict[str, Any]], None]
Fault = Callable[[str, bool, float], None]


class Supervised(Protocol):
    """What the worker channel needs from the supervisor."""

    def drain(self, limit: int = 256) -> list[Message]: ...

    def send(self, name: str, kind: str, **data: Any) -> None: ...

    def restart(self, name: str, reason: str) -> None: ...

    def set_options(self, name: str, **options: Any) -> None: ...


class WorkerChannel:
    """Routes worker messages to their handlers and tracks which workers are up."""

    def __init__(self, supervisor: Supervised, specs: list[WorkerSpec], record: Record, fault: Fault,
                 alert_after_s: float = WORKER_ALERT_AFTER_S) -> None:
        self.supervisor = supervisor
        self.names = {s.name for s in specs}
        self.record = record
        self.fault = fault
        self.alert_after_s = alert_after_s
        self.ready: set[str] = set()
        self.down: dict[str, float] = {}  # worker -> when it went down (unplanned)
        self.reported: set[str] = set()  # workers whose outage staff have been told of
        self.messages_received = 0
        self.desired: dict[tuple[str, str], dict[str, Any]] = {}  # (worker, command) -> its data
        self._desired_lock = threading.Lock()  # grammar comes from the dialog thread
        self._unknown: set[str] = set()
        self.speech_faulted: set[str] = set()  # workers with an open speech fault
        self.handlers: dict[str, Handler] = {
            "ready": self._on_ready,
            "worker_fault": self._on_worker_fault,
            "setup_failed": self._on_setup_failed,
            "camera_fault": self._on_camera_fault,
            "camera_ok": self._on_camera_ok,
            "speech_fault": self._on_speech_fault,
        }

    def on(self, kind: str, handler: Handler) -> None:
        """Route messages of `kind` to `handler` (called on the control loop thread)."""
        self.handlers[kind] = handler

    def also_on(self, kind: str, handler: Handler) -> None:
        """Route `kind` to `handler` too, after the handler it has (a worker's life concerns several parts)."""
        first = self.handlers.get(kind)

        def both(msg: Message, now: float) -> None:
            if first is not None:
                first(msg, now)
            handler(msg, now)

        self.handlers[kind] = both

    @property
    def all_ready(self) -> bool:
        """True when every configured worker has said it is ready."""
        return self.ready >= self.names

    def send(self, name: str, kind: str, **data: Any) -> None:
        """Send a command to a worker, if that worker is configured (never blocks; any thread).
        A state-setting command is remembered and sent again whenever the worker is ready."""
        if name not in self.names:
            return
        if (name, kind) in DESIRED:
            with self._desired_lock:
                self.desired[(name, kind)] = data
            option = DESIRED[(name, kind)]
            if option is not None:
                self.supervisor.set_options(name, **{option: bool(data.get("on", True))})
        self.supervisor.send(name, kind, **data)

    def restart(self, name: str, reason: str) -> None:
        """Kill a worker and start it again at once (its desired state follows on ready)."""
        if name in self.names:
            self.supervisor.restart(name, reason)

    def _reapply(self, name: str) -> None:
        with self._desired_lock:
            wanted = [(kind, data) for (worker, kind), data in self.desired.items() if worker == name]
        for kind, data in wanted:
            self.supervisor.send(name, kind, **data)

    # -- the tick's side ------------------------------------------------------------------------

    def drain(self, now: float) -> None:
        """Handle every message received since the last tick."""
        for msg in self.supervisor.drain():
            self.messages_received += 1
            if msg.sender in self.speech_faulted and msg.kind in HEARS:
                self.speech_faulted.discard(msg.sender)
                self.fault(msg.sender, False, now)  # it hears again: the cause is gone
            handler = self.handlers.get(msg.kind)
            if handler is not None:
                try:
                    handler(msg, now)
                except Exception:  # one bad message must not stop the tick nor the messages after it
                    log.exception("worker %s: message %r could not be handled", msg.sender, msg.kind)
                    self.record("worker", {"worker": msg.sender, "state": "bad_message", "reason": msg.kind})
            elif msg.kind not in INFORMATIONAL and msg.kind not in self._unknown:
                self._unknown.add(msg.kind)
                log.warning("worker %s sent %r, which nothing handles", msg.sender, msg.kind)

    def check_down(self, now: float) -> None:
        """Tell staff of a worker that has stayed down too long (once a second)."""
        for name, since in self.down.items():
            if now - since >= self.alert_after_s and name not in self.reported:
                self.reported.add(name)
                self.fault(f"worker_{name}", True, now)

    # -- handlers -------------------------------------------------------------------------------

    def _on_ready(self, msg: Message, now: float) -> None:
        self._reapply(msg.sender)
        self.ready.add(msg.sender)
        self.down.pop(msg.sender, None)
        self.record("worker", {"worker": msg.sender, "state": "ready"})
        if msg.sender in self.reported:
            self.reported.discard(msg.sender)
            self.fault(f"worker_{msg.sender}", False, now)

    def _on_worker_fault(self, msg: Message, now: float) -> None:
        d = msg.data
        name = str(d.get("worker"))
        self.ready.discard(name)
        self.record("worker", {"worker": name, "state": "fault", "reason": d.get("reason"),
                               "restart_in_s": d.get("restart_in_s"), "planned": d.get("planned")})
        if not d.get("planned"):
            self.down.setdefault(name, now)  # staff hear of it if it stays down

    def _on_setup_failed(self, msg: Message, now: float) -> None:
        log.error("worker %s could not start: %s", msg.sender, msg.data.get("reason"))
        self.record("worker", {"worker": msg.sender, "state": "fault", "reason": "setup failed"})

    def _on_camera_fault(self, msg: Message, now: float) -> None:
        self.record("worker", {"worker": msg.sender, "state": "fault", "reason": "camera unavailable"})
        self.fault("camera", True, now)

    def _on_camera_ok(self, msg: Message, now: float) -> None:
        self.record("worker", {"worker": msg.sender, "state": "ready", "reason": "camera back"})
        self.fault("camera", False, now)

    def _on_speech_fault(self, msg: Message, now: float) -> None:
        """Speech in or out cannot work (no model, a bad file, no voice): staff hear of it, per
        worker, until it works again (speech in hears; speech out, see robot.core.speech)."""
        log.error("speech worker %s: %s", msg.sender, msg.data.get("detail", msg.data.get("reason")))
        if msg.sender == "speech_in":
            self.speech_faulted.add(msg.sender)
        self.fault(msg.sender, True, now)
