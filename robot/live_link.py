"""The robot's side of the live view (robot.live_view): snapshots out, console commands in.

The view draws in its own process. Drawn in the control process, its rendering threads competed with
the 100 Hz loop for the interpreter lock, and on a loaded machine a descheduled renderer holding it
stalled the loop for hundreds of milliseconds (297 missed ticks in 25 s against none with the line
console). Here the control process only takes a snapshot a few times a second (the status file's
`status()` plus tails of deques the tick appends to), sends it as one JSON line over a socket pair, and
runs the commands the view sends back with the line console's own handler. Its stdout and stderr, and
the workers' which inherit them, go to the view's event log instead of the terminal the view draws on.
"""

from __future__ import annotations

import json
import os
import queue
import select
import socket
import subprocess
import sys
import termios
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robot.fault_door import FaultDoor
    from robot.runtime import Runtime
    from robot.scenario_run import Stage

# Leave the alternate screen, show the cursor and stop mouse reports: what a killed view could not undo
LEAVE_SCREEN = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\r\n"
SEND_TIMEOUT_S = 0.2  # the longest a send waits on a view that does not read
POLL_S = 0.25  # snapshots at 4 Hz: plenty for eyes, nothing for the loop


def _tail(items: Any, n: int) -> list[Any]:
    """The last `n` items of a deque or list another thread appends to."""
    for _ in range(3):
        try:
            return list(items)[-n:]
        except RuntimeError:  # mutated while copied: try again
            continue
    return []


def snapshot(runtime: Runtime) -> dict[str, Any]:
    """What the view shows, read off the loop: the status file's snapshot and a few tails."""
    history = runtime.behaviour.history
    alerts: dict[str, list[dict[str, Any]]] = {}
    for update in _tail(runtime.alert_updates, 200):
        alerts.setdefault(str(update.get("alert_id")), []).append(
            {k: update.get(k) for k in ("type", "priority", "state", "level")})
    link = runtime.link
    return {
        "status": runtime.status(),
        "history": _tail(history[-14:], 14), "transitions": len(history),
        "said": _tail(runtime.said_text, 6),
        "engagement": runtime.engagement, "target": runtime.last_target,
        "clock": f"{runtime.clock.now():%a %H:%M:%S}", "speed": runtime.clock.speed,
        "alerts": alerts,
        "outbox": [link.outbox.pending(), link.outbox.pending_alerts()] if link is not None else None,
        "link": link.connected if link is not None else None,
    }


class Channel:
    """One JSON message a line over a socket; any thread may send, and no send blocks for long.

    A view that stops reading (stopped, or drawing to a stalled SSH link) fills the socket. Blocking
    then held the snapshot loop and, through the output pipe, every print of the robot's, its loop's
    among them. So a send gives up after SEND_TIMEOUT_S and, until the socket drains, later ones are
    dropped at once (counted). A line cut short by the timeout is not JSON: the view skips it.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(SEND_TIMEOUT_S)
        self._lock = threading.Lock()
        self.closed = False
        self.stalled = False
        self.dropped = 0
        self.spill: int | None = None  # once the view has died: where its lines go instead (the terminal)

    def send(self, **message: Any) -> None:
        """Send one message; a closed peer only marks the channel closed (lines then go to `spill`)."""
        data = (json.dumps(message, default=str) + "\n").encode()
        with self._lock:
            if self.closed and self.spill is not None and "line" in message:
                os.write(self.spill, (str(message["line"]) + "\n").encode(errors="replace"))
                return
            try:
                if self.stalled and not select.select([], [self.sock], [], 0)[1]:
                    self.dropped += 1
                    return
                self.sock.sendall(data)
                self.stalled = False
            except TimeoutError:
                self.stalled = True
                self.dropped += 1
            except OSError:
                self.closed = True


def _redirect_output(channel: Channel) -> None:
    """File descriptors 1 and 2 into the view's event log (workers started later inherit them)."""
    read, write = os.pipe()
    os.dup2(write, 1)
    os.dup2(write, 2)
    os.close(write)

    def drain() -> None:  # for the life of the process: a full pipe would stall every writer
        with os.fdopen(read, "r", errors="replace") as lines:
            for line in lines:
                channel.send(line=line.rstrip("\n"))

    threading.Thread(target=drain, name="live-output", daemon=True).start()


class LiveLink:
    """Starts the view's process on this terminal and serves it until either side stops."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.tty = os.dup(1)
        self.modes = termios.tcgetattr(0) if os.isatty(0) else None  # the line console's, for after a crash
        # The view gets the terminal (stdin, and the saved stdout as its stdout and stderr).
        self.view = subprocess.Popen([sys.executable, "-m", "robot.live_view", str(theirs.fileno())],
                                     stdout=self.tty, stderr=self.tty, pass_fds=(theirs.fileno(),))
        theirs.close()
        self.sock = ours
        self.channel = Channel(ours)
        sys.stdout.flush()
        sys.stderr.flush()
        _redirect_output(self.channel)

    def serve(self, runtime: Runtime, door: FaultDoor | None, stop: threading.Event,
              stage: Stage | None = None, check: bool = False) -> int:
        """Snapshots out and commands in until the view quits, a `quit` command or a signal sets `stop`,
        or the loop stops. A scenario, if any, plays on its own thread. 1 if the scenario failed."""
        from robot import console

        result: list[bool] = []
        if stage is not None:
            from robot.scenario_run import Player

            def play() -> None:
                result.append(Player(stage, runtime, lambda s: print(s, flush=True), stop).play())
                if check:
                    stop.set()

            threading.Thread(target=play, name="scenario", daemon=True).start()
        handle = runtime.guard.callback("console", console.handle)  # a bad line never ends the view

        commands: queue.SimpleQueue[str] = queue.SimpleQueue()

        def run_commands() -> None:
            """One at a time in the order typed, off the snapshot loop (a slow command holds no snapshot).
            A thread per command raced: `unplug` then `replug` typed quickly could run replug first."""
            while True:
                if handle(commands.get(), runtime, lambda s: self.channel.send(line=s), door) is False:
                    stop.set()

        threading.Thread(target=run_commands, name="live-commands", daemon=True).start()
        buffer = b""
        next_snap = 0.0
        while not stop.is_set() and runtime.loop.running and not self.channel.closed:
            now = time.monotonic()
            if now >= next_snap:
                next_snap = now + POLL_S
                self.channel.send(snap=snapshot(runtime))
            ready, _, _ = select.select([self.sock], [], [], max(0.0, next_snap - time.monotonic()))
            if ready:
                try:
                    data = self.sock.recv(4096)
                except OSError:  # reset: the view closed with our snapshots unread
                    data = b""
                if not data:
                    break  # the view has gone: the technician quit, or it died
                buffer += data
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    line = json.loads(raw).get("command", "")
                    commands.put(line)
        if not stop.is_set() and runtime.loop.running and self._died():
            self._fall_back(runtime, door, stop)
            while runtime.loop.running and not stop.wait(0.5):
                pass
        stop.set()
        return 0 if all(result) else 1

    def _died(self) -> bool:
        """Whether the view ended other than by the technician's quit (which exits 0): killed or crashed."""
        try:
            return self.view.wait(2) != 0
        except subprocess.TimeoutExpired:
            return False  # it closed the socket and lingers: it is leaving

    def _fall_back(self, runtime: Runtime, door: FaultDoor | None, stop: threading.Event) -> None:
        """The view died: the terminal back to lines and the line console on it; the robot carries on.

        Stopping here would have stopped the robot, help requests and all, because a view was killed.
        """
        from robot import console

        self.channel.closed = True
        self.channel.spill = self.tty
        os.write(self.tty, LEAVE_SCREEN)
        if self.modes is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, self.modes)
        os.dup2(self.tty, 1)
        os.dup2(self.tty, 2)
        print(f"the live view has gone (exit status {self.view.returncode}); the robot carries on with the line "
              "console: type 'commands' for what you can do, 'quit' to stop.", flush=True)
        console.read_stdin(runtime, door, stop)

    def close(self) -> None:
        """Close the view and give the terminal back for the lines printed while stopping."""
        self.channel.send(quit=True)
        try:
            self.view.wait(5)
        except subprocess.TimeoutExpired:
            self.view.kill()
        self.sock.close()
        os.dup2(self.tty, 1)
        os.dup2(self.tty, 2)
