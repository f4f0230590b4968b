"""The worker-process side of supervision: a base class and the process entry point.

A worker polls its pipe for commands, does its own work in `step()`, and sends a
heartbeat from the same loop. So a worker wedged inside a library call stops sending
heartbeats and the supervisor kills and restarts it. The child dies with its parent
(PR_SET_PDEATHSIG) and leaves Ctrl-C to the control process, which stops it cleanly.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from robot.messages import Message, Outgoing

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class Worker:
    """Base class for the object a worker process runs."""

    #: seconds to wait for a command before calling step() again
    poll_s = 0.05

    def __init__(self, name: str, options: dict[str, Any], out: Outgoing, conn: Connection) -> None:
        self.name = name
        self.options = options
        self._out = out
        self._conn = conn
        self.running = True

    def setup(self) -> None:
        """Open devices and load models (called once in the child)."""

    def handle(self, msg: Message) -> None:
        """React to one command from the control process."""
        log.warning("worker %s ignores command %s", self.name, msg.kind)

    def step(self) -> None:
        """Periodic work between commands."""

    def teardown(self) -> None:
        """Release devices (called once on a clean stop)."""

    def send(self, kind: str, **data: Any) -> None:
        """Send a small message to the control process."""
        self._conn.send(self._out.make(kind, **data))


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's stop() still reaps us
        pass


def resolve(target: str) -> type[Worker]:
    """Import 'package.module:Class' and check that it is a Worker."""
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Worker)):
        raise TypeError(f"{target} is not a Worker class")
    return cls


def worker_main(name: str, target: str, options: dict[str, Any], conn: Connection,
                heartbeat_s: float, parent_pid: int, log_level: int) -> None:
    """Entry point of a worker process (spawned, so nothing is inherited but these args)."""
    _die_with_parent()
    sys.dont_write_bytecode = True  # a worker writes nothing to disk, not even bytecode caches
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the control process's to handle
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s worker={name} %(message)s")
    if os.getppid() != parent_pid:  # the parent died before we could register
        return
    out = Outgoing(name)
    try:
        worker = resolve(target)(name, options, out, conn)
        worker.setup()
    except Exception as exc:  # tell the control process why, then exit: the supervisor retries with backoff
        conn.send(out.make("setup_failed", reason=f"{type(exc).__name__}: {exc}"[:300]))
        sys.exit(4)
    conn.send(out.make("ready", pid=os.getpid()))
    next_beat = 0.0
    try:
        while worker.running:
            if conn.poll(worker.poll_s):
                msg = conn.recv()
                if msg.kind == "stop":
                    break
                worker.handle(msg)
            worker.step()
            now = time.monotonic()
            if now >= next_beat:
                conn.send(out.make("heartbeat", rss_kb=_rss_kb()))
                next_beat = now + heartbeat_s
    except (EOFError, BrokenPipeError):
        return  # the control process went away
    finally:
        worker.teardown()


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0
