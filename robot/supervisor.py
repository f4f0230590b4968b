"""Supervision of worker processes: start, watch, restart with backoff, stop cleanly.

One supervisor thread in the control process waits on every worker's pipe and process
sentinel at once, so it is idle until something happens. It receives messages into a
deque that the control tick drains without blocking, sends queued commands only when
the pipe has room (a wedged worker can never block the control process), and turns
every death, hang or memory overrun into a `worker_fault` message and a restart after
an exponential backoff. The rest of the robot keeps running meanwhile.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
import select
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from robot.config import WorkersSection
from robot.messages import Message, Outgoing
from robot.worker import worker_main

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 64


@dataclass(frozen=True)
class WorkerSpec:
    """What to run in a worker process."""

    name: str
    target: str  # "package.module:WorkerClass"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerHealth:
    """A worker's record, as status output shows it."""

    state: str = "stopped"  # starting, running, backoff, stopped
    pid: int | None = None
    restarts: int = 0
    last_fault: str = ""
    rss_kb: int = 0
    dropped_commands: int = 0


class _Handle:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.proc: Any = None
        self.conn: Connection | None = None
        self.started_at = 0.0
        self.last_seen = 0.0
        self.next_start = 0.0
        self.backoff = 0.0
        self.outbox: collections.deque[Message] = collections.deque()
        self.health = WorkerHealth()


class Supervisor:
    """Runs a set of worker processes and keeps them alive."""

    def __init__(self, specs: list[WorkerSpec], config: WorkersSection | None = None,
                 log_level: int = logging.WARNING) -> None:
        self.config = config or WorkersSection()
        self.log_level = log_level
        self._handles = {s.name: _Handle(s) for s in specs}
        self._inbox: collections.deque[Message] = collections.deque()
        self._commands: collections.deque[tuple[str, Message | None]] = collections.deque()
        self._out = Outgoing("control")
        self._ctx = mp.get_context("spawn")
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._spawned = False
        self._closed = False
        self._overrides: dict[str, dict[str, Any]] = {}  # per worker: options that win over the spec's

    # -- the control thread's side: never blocks ----------------------------------------------

    def start(self) -> None:
        """Start every worker (from the supervisor's own thread) and begin watching.

        Not needed when a guard runs `step` as a part instead."""
        self._thread.start()

    def drain(self, limit: int = 256) -> list[Message]:
        """Messages received since the last call, oldest first (non-blocking)."""
        out: list[Message] = []
        inbox = self._inbox
        while inbox and len(out) < limit:
            out.append(inbox.popleft())
        return out

    def send(self, name: str, kind: str, **data: Any) -> None:
        """Queue a command for a worker (non-blocking; dropped and counted if it is wedged)."""
        self._commands.append((name, self._out.make(kind, **data)))
        self._wake()

    def set_options(self, name: str, **options: Any) -> None:
        """Options the worker starts with from its next start on (over the spec's): a restart then
        comes up as the robot wants it now, e.g. with the camera closed in privacy mode."""
        self._overrides[name] = {**self._overrides.get(name, {}), **options}  # one atomic swap

    def options(self, name: str) -> dict[str, Any]:
        """The options the worker `name` will start with next."""
        return {**self._handles[name].spec.options, **self._overrides.get(name, {})}

    def restart(self, name: str, reason: str) -> None:
        """Kill a worker now and start it again at once (used to cut speech off)."""
        self._commands.append((name, Message("_restart", "control", data={"reason": reason})))
        self._wake()

    def health(self) -> dict[str, WorkerHealth]:
        """Each worker's health record."""
        return {name: h.health for name, h in self._handles.items()}

    def pids(self) -> list[int]:
        """The process ids of the workers that are alive."""
        return [h.proc.pid for h in self._handles.values() if h.proc is not None and h.proc.is_alive()]

    def stop(self, timeout: float | None = None) -> None:
        """Ask every worker to stop, wait, then terminate and kill what remains."""
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._wake()
        grace = self.config.stop_grace_s
        self._thread.join(timeout if timeout is not None else grace * 3 + 2)

    # -- the supervisor thread ----------------------------------------------------------------

    def wake(self) -> None:
        """Wake the supervisor's cycle at once (never blocks)."""
        self._wake()

    def _wake(self) -> None:
        if self._closed:
            return
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # already awake (pipe full), or closed at stop

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """One cycle: start the workers the first time, then wait up to 0.1 s for pipes,
        deaths and commands and act on them. Runs on the supervisor's own thread, or as a
        guarded part of the control process (robot.core.guard)."""
        self.spawn()
        self._cycle()

    def spawn(self) -> None:
        """Start every worker, once (the first step does it if nobody did before)."""
        if not self._spawned:
            self._spawned = True
            now = time.monotonic()
            for h in self._handles.values():
                self._spawn(h, now)

    def close(self) -> None:
        """Stop every worker (after the last step) and release the wake-up pipe."""
        if self._closed:
            return
        self._closed = True
        self._shutdown()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _cycle(self) -> None:
        waitables: list[Any] = [self._wake_r]
        for h in self._handles.values():
            if h.conn is not None:
                waitables.append(h.conn)
            if h.proc is not None:
                waitables.append(h.proc.sentinel)
        ready = wait(waitables, timeout=0.1)
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        now = time.monotonic()
        for h in self._handles.values():
            self._receive(h, now)
        self._dispatch_commands(now)
        for h in self._handles.values():
            self._check(h, now)
            self._flush(h)

    def _receive(self, h: _Handle, now: float) -> None:
        conn = h.conn
        if conn is None:
            return
        try:
            while conn.poll(0):
                msg = conn.recv()
                h.last_seen = now
                if not isinstance(msg, Message):
                    self._fault(h, now, f"sent a {type(msg).__name__}, not a Message")
                    return
                if msg.kind == "heartbeat":
                    h.health.rss_kb = int(msg.data.get("rss_kb", 0))
                    continue
                if msg.kind == "ready":
                    h.health.state = "running"
                    h.health.pid = int(msg.data.get("pid", 0)) or None
                self._inbox.append(msg)
        except (EOFError, OSError):
            pass  # the sentinel check below reports the death

    def _dispatch_commands(self, now: float) -> None:
        while self._commands:
            name, msg = self._commands.popleft()
            h = self._handles.get(name)
            if h is None or msg is None:
                log.warning("command for unknown worker %s dropped", name)
                continue
            if msg.kind == "_restart":
                self._kill(h)
                self._note_fault(h, now, str(msg.data.get("reason", "restart")), restart_now=True)
                continue
            if len(h.outbox) >= OUTBOX_LIMIT:
                h.outbox.popleft()
                h.health.dropped_commands += 1
            h.outbox.append(msg)

    def _flush(self, h: _Handle) -> None:
        conn = h.conn
        while h.outbox and conn is not None and h.health.state == "running":
            try:
                _, writable, _ = select.select([], [conn], [], 0)
                if not writable:
                    return  # pipe full: the worker is slow or wedged; keep the command for later
                conn.send(h.outbox[0])
            except (OSError, ValueError):
                return
            h.outbox.popleft()

    def _check(self, h: _Handle, now: float) -> None:
        state = h.health.state
        if state == "backoff":
            if now >= h.next_start:
                self._spawn(h, now)
            return
        if state not in ("starting", "running") or h.proc is None:
            return
        if not h.proc.is_alive():
            code = h.proc.exitcode
            self._fault(h, now, f"exited with code {code}")
        elif state == "starting" and now - h.started_at > self.config.start_timeout_s:
            self._fault(h, now, f"not ready after {now - h.started_at:.1f} s")
        elif state == "running" and now - h.last_seen > self.config.hang_timeout_s:
            self._fault(h, now, f"no heartbeat for {now - h.last_seen:.1f} s")
        elif self.config.max_rss_mb and h.health.rss_kb > self.config.max_rss_mb * 1024:
            self._fault(h, now, f"memory {h.health.rss_kb // 1024} MB over the {self.config.max_rss_mb} MB limit")

    def _fault(self, h: _Handle, now: float, reason: str) -> None:
        self._kill(h)
        self._note_fault(h, now, reason)

    def _note_fault(self, h: _Handle, now: float, reason: str, restart_now: bool = False) -> None:
        cfg = self.config
        uptime = now - h.started_at
        if restart_now:
            h.backoff = 0.0
        elif uptime >= cfg.stable_after_s or h.backoff == 0.0:
            h.backoff = cfg.backoff_initial_s
        else:
            h.backoff = min(h.backoff * 2, cfg.backoff_max_s)
        h.next_start = now + h.backoff
        h.health.state = "backoff"
        h.health.last_fault = reason
        h.health.pid = None
        h.outbox.clear()
        if not restart_now:
            log.warning("worker %s fault: %s; restarting in %.1f s", h.spec.name, reason, h.backoff)
        self._inbox.append(self._out.make("worker_fault", worker=h.spec.name, reason=reason,
                                          restart_in_s=round(h.backoff, 3), planned=restart_now))

    def _spawn(self, h: _Handle, now: float) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=worker_main,
            name=f"carebot-{h.spec.name}",
            args=(h.spec.name, h.spec.target, self.options(h.spec.name), child,
                  self.config.heartbeat_s, os.getpid(), self.log_level),
            daemon=True,
        )
        try:
            proc.start()
        except (OSError, RuntimeError) as exc:
            child.close()
            parent.close()
            h.started_at = now
            self._note_fault(h, now, f"could not start: {exc}")
            return
        child.close()
        if h.proc is not None:
            h.health.restarts += 1
            try:
                h.proc.close()
            except ValueError:  # still running: it was killed but not reaped yet
                h.proc.join(1.0)
        h.proc, h.conn = proc, parent
        h.started_at = h.last_seen = now
        h.health.state = "starting"
        h.health.pid = proc.pid

    def _kill(self, h: _Handle) -> None:
        proc, conn = h.proc, h.conn
        h.conn = None
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(1.0)

    def _shutdown(self) -> None:
        grace = self.config.stop_grace_s
        for h in self._handles.values():
            if h.conn is not None and h.proc is not None and h.proc.is_alive():
                try:
                    h.conn.send(self._out.make("stop"))
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + grace
        for h in self._handles.values():
            if h.proc is not None:
                h.proc.join(max(0.0, deadline - time.monotonic()))
        for h in self._handles.values():
            if h.proc is not None and h.proc.is_alive():
                log.warning("worker %s did not stop in %.1f s; terminating", h.spec.name, grace)
                h.proc.terminate()
                h.proc.join(0.5)
            self._kill(h)
            if h.proc is not None:
                h.proc.close()
                h.proc = None
            h.health.state = "stopped"
            h.health.pid = None
