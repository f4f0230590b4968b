"""The worker channel: messages from the worker processes in, commands to them out.

Each message kind has one handler in a dispatch table that the parts fill in at build time
(`on`); a kind nobody handles is logged once, loudly, instead of falling through unseen.
Workers' own life cycle (ready, fault, setup failed) is handled here: a worker that stays
down becomes a robot_fault alert for staff, cleared when it is ready again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from robot.messages import Message
from robot.supervisor import WorkerSpec

log = logging.getLogger(__name__)

WORKER_ALERT_AFTER_S = 30.0  # a worker down this long becomes a robot_fault alert for staff
# Kinds that carry nothing the control process acts on (yet): accepted without a word.
INFORMATIONAL = frozenset({"partial", "no_speech", "playing", "camera_state", "echo", "observation",
                           "playback_cut"})

Handler = Callable[[Message, float], None]
Record = Callable[[str, dict[str, Any]], None]
Fault = Callable[[str, bool, float], None]


class Supervised(Protocol):
    """What the worker channel needs from the supervisor."""

    def drain(self, limit: int = 256) -> list[Message]: ...

    def send(self, name: str, kind: str, **data: Any) -> None: ...


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
        self._unknown: set[str] = set()
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
        """Send a command to a worker, if that worker is configured (never blocks)."""
        if name in self.names:
            self.supervisor.send(name, kind, **data)

    # -- the tick's side ------------------------------------------------------------------------

    def drain(self, now: float) -> None:
        """Handle every message received since the last tick."""
        for msg in self.supervisor.drain():
            self.messages_received += 1
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
        log.error("speech worker: %s", msg.data.get("detail", msg.data.get("reason")))
        self.fault("speech", True, now)
