"""The technician's live view for `carebot sim --console live`: a full-screen terminal UI (textual).

It shows what the line console prints and what it cannot: the behaviour state and a timeline of its
transitions, servo positions, engagement and the face box, what the robot says, alerts and their
lifecycle, loop timing, worker health and the outbox depth. It runs in its own process
(`python -m robot.live_view FD`, started by robot.live_link), so that drawing never competes with the
100 Hz loop; the robot sends it a snapshot a few times a second and runs the commands typed here with
the line console's own handler (robot.console). Typed words are shown on this screen only; they reach
no log, file or message, as with the line console.
"""

from __future__ import annotations

import collections
import json
import socket
import sys
import threading
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, RichLog, Static

from robot.live_link import POLL_S


def _robot_panel(snap: dict[str, Any]) -> str:
    st = snap["status"]
    facts = st["facts"]
    flags = [k for k in ("person", "paused", "privacy", "quiet") if facts.get(k)]
    loop = st["loop"]
    target = snap["target"]
    box = "none" if not target else " ".join(f"{k}={v:.2f}" for k, v in zip("xywh", target, strict=False))
    if "simulator" in st:
        sim = st["simulator"]
        servos = " ".join(f"{k}={v:.0f}us" for k, v in sim["positions_us"].items())
        board = "plugged" if sim["plugged"] else "UNPLUGGED"
    else:
        servos = " ".join(f"{k}={v}deg" for k, v in st["servo"]["targets_deg"].items())
        board = "connected" if st["servo"]["connected"] else "DISCONNECTED"
    workers = " ".join(f"{name}:{h.get('state')}" + (f"(r{h['restarts']})" if h.get("restarts") else "")
                       for name, h in st["workers"].items()) or "none"
    outbox = snap["outbox"]
    link = ("no broker configured" if outbox is None else
            f"outbox {outbox[0]} pending ({outbox[1]} alerts), broker "
            f"{'connected' if snap['link'] else 'not connected' if snap['link'] is not None else '?'}")
    return "\n".join([
        f"state: {st['state']}   clock {snap['clock']} ({snap['speed']:g}x)",
        f"facts: {' '.join(flags) or '-'}   faults: {' '.join(facts['faults']) or 'none'}",
        f"engagement: {snap['engagement']}   face box: {box}",
        f"servos ({board}): {servos}",
        f"loop: {loop['rate_hz']} Hz  p50 {loop['p50_ms']} ms  p99 {loop['p99_ms']} ms  max {loop['max_ms']} ms  "
        f"missed {loop['missed_ticks']}",
        f"workers: {workers}",
        link,
    ])


def _timeline(snap: dict[str, Any]) -> str:
    count = snap["transitions"]
    lines = [f"{count - i:4d} {src} -> {dest} ({trigger})"
             for i, (trigger, src, dest) in enumerate(reversed(snap["history"]))]
    return "transitions, newest first\n" + ("\n".join(lines) if lines else "  none yet")


def _alerts(snap: dict[str, Any]) -> str:
    rows = []
    for alert_id, updates in list(snap["alerts"].items())[-6:]:
        last = updates[-1]
        trail = " > ".join(f"{u.get('state')}" + (f"@{u['level']}" if u.get("level") else "") for u in updates[-5:])
        rows.append(f"{alert_id[:8]} {last.get('type')} p={last.get('priority')}: {trail}")
    return "alerts\n" + ("\n".join(rows) if rows else "  none")


def _said(snap: dict[str, Any]) -> str:
    return "robot says\n" + ("\n".join(f"  {s}" for s in snap["said"]) if snap["said"] else "  nothing yet")


class LiveView(App[None]):
    """The screen: panels redrawn from the robot's latest snapshot, the line console's commands below."""

    TITLE = "CareBot live view"
    CSS = """
    #top { height: 1fr; }
    #left, #right { width: 1fr; }
    .panel { border: round $accent; padding: 0 1; height: auto; }
    #timeline { height: 1fr; }
    #log { height: 1fr; border: round $accent; }
    #command { dock: bottom; }
    """
    BINDINGS = [Binding("ctrl+c", "quit", "stop the robot", priority=True),
                Binding("ctrl+q", "quit", "stop the robot", show=False)]

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.latest: dict[str, Any] | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=2000)
        self.recent: collections.deque[str] = collections.deque(maxlen=20)  # left on the terminal at the end
        self.gone = False

    def compose(self) -> ComposeResult:
        """Robot and timeline on the left; speech, alerts and the event log on the right."""
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield Static("waiting for the robot...", id="robot", classes="panel")
                yield Static("", id="timeline", classes="panel")
            with Vertical(id="right"):
                yield Static("", id="said", classes="panel")
                yield Static("", id="alerts", classes="panel")
                yield RichLog(id="log", max_lines=500, wrap=True, markup=False)
        yield Input(placeholder="command (say WORDS, person enter, ack, unplug, commands, quit)", id="command")
        yield Footer()

    def on_mount(self) -> None:
        """Read the robot's messages on a thread; redraw at the snapshots' pace."""
        threading.Thread(target=self._receive, name="live-view-receive", daemon=True).start()
        self.set_interval(POLL_S, self.refresh_panels)
        self.query_one("#command", Input).focus()

    def _receive(self) -> None:
        with self.sock.makefile("r", encoding="utf-8", errors="replace") as lines:
            for raw in lines:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if "snap" in message:
                    self.latest = message["snap"]
                elif "line" in message:
                    self.lines.append(str(message["line"]))
                    self.recent.append(str(message["line"]))
                elif "quit" in message:
                    break
        self.gone = True

    def refresh_panels(self) -> None:
        """Show the latest snapshot and new lines; leave when the robot has stopped."""
        log = self.query_one("#log", RichLog)
        while self.lines:
            log.write(self.lines.popleft())
        if self.gone:
            self.exit()
            return
        snap = self.latest
        if snap is None:
            return
        self.query_one("#robot", Static).update(_robot_panel(snap))
        self.query_one("#timeline", Static).update(_timeline(snap))
        self.query_one("#said", Static).update(_said(snap))
        self.query_one("#alerts", Static).update(_alerts(snap))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Echo the command and send it to the robot, which runs it as the line console would."""
        line = event.value
        event.input.value = ""
        if line.strip():
            self.query_one("#log", RichLog).write(f"> {line}")
            try:
                self.sock.sendall((json.dumps({"command": line}) + "\n").encode())
            except OSError:
                self.gone = True

    async def action_quit(self) -> None:
        """Ctrl-C: leave; the robot sees the view go and stops, as the line console's Ctrl-C does."""
        self.exit()


def main(argv: list[str]) -> int:
    """`python -m robot.live_view FD`: the view on this terminal, talking to the robot over socket FD."""
    sock = socket.socket(fileno=int(argv[0]))
    view = LiveView(sock)
    view.run()
    sock.close()
    print("\n".join(view.recent))  # the last lines stay readable (a scenario's verdict among them)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
