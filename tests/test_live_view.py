"""The live view (robot.live_view) driven as a technician drives it: `carebot sim` on a real terminal (tmux),
keys typed into it and the screen read back. The real control process and vision worker run behind it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Terminal:
    """A detached tmux session on its own server socket: keys in, the visible screen out."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]

    def start(self, command: str, cwd: Path) -> None:
        subprocess.run([*self.base, "new-session", "-d", "-s", "t", "-x", "160", "-y", "45", "-c", str(cwd),
                        command], check=True)
        subprocess.run([*self.base, "resize-window", "-t", "t", "-x", "160", "-y", "45"], check=True)

    def send(self, line: str) -> None:
        """Type a command and Enter, then wait for the view to echo it (keys that arrive in one burst
        read as a paste, so each command waits for the one before)."""
        subprocess.run([*self.base, "send-keys", "-t", "t", "-l", line], check=True)
        time.sleep(0.1)
        subprocess.run([*self.base, "send-keys", "-t", "t", "Enter"], check=True)
        self.wait(lambda s: f"> {line}" in s, f"the command {line!r} taken")

    def key(self, name: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "t", name], check=True)

    def screen(self) -> str:
        done = subprocess.run([*self.base, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True)
        return done.stdout

    def wait(self, test: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if test(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"not on screen within {timeout:.0f} s: {what}\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def terminal() -> Terminal:
    assert shutil.which("tmux"), "tmux is needed (scripts/setup.sh installs it)"
    # a server of the test's own: one closed by the test before can still be going when the next starts
    term = Terminal(f"carebot-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    yield term  # type: ignore[misc]
    term.close()


def test_a_technician_talks_to_the_robot_and_acks_its_alert_in_the_live_view(terminal: Terminal,
                                                                              tmp_path: Path) -> None:
    config = tmp_path / "carebot.toml"  # the simulator's config, its camera on an empty stage
    config.write_text((ROOT / "config" / "carebot.toml").read_text().replace(
        'scene = "demo"', 'scene = "stage"', 1).replace('"../dialogs"', f'"{ROOT}/dialogs"'))
    env = f"-u COLUMNS -u LINES PYTHONPATH={ROOT} TERM=xterm-256color"  # the view sizes itself to the terminal
    exited = tmp_path / "exited"
    terminal.start(f"env {env} {sys.executable} -m robot.cli sim --config {config} --state-dir {tmp_path / 'state'}; "
                   f"echo exit status $?; touch {exited}; sleep 60", ROOT)
    terminal.wait(lambda s: "state: idle" in s and "booting -> idle (booted)" in s, "the robot ready", 60)
    terminal.send("person enter")
    terminal.wait(lambda s: "state: engaged" in s and "engagement: ENGAGED" in s and "nothing yet" not in s,
                  "the person engaged and greeted")
    terminal.send("say what time is it")
    terminal.wait(lambda s: re.search(r"   (It's|The time is) [^│\n]+\.", s) is not None  # in `robot says`
                  and "listening -> responding (heard)" in s,
                  "the reply and the state change")
    terminal.send("say I need a nurse")
    terminal.wait(lambda s: "state: alerting" in s and "help_request p=high: raised" in s, "the help alert")
    terminal.send("ack")
    terminal.wait(lambda s: "help_request p=high: raised > acknowledged" in s, "the alert acknowledged")
    terminal.key("C-c")  # Ctrl-C stops the robot, as with the line console
    deadline = time.monotonic() + 30
    while not exited.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert exited.exists(), terminal.screen()
    assert "stopped cleanly." in terminal.screen() and "exit status 0" in terminal.screen(), terminal.screen()


def _children(pid: int) -> list[int]:
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def test_a_killed_view_leaves_the_robot_running_with_the_line_console(terminal: Terminal, tmp_path: Path) -> None:
    """The view's process killed (the OOM killer, a stray kill): the robot carries on, and a help request
    typed at the line console that takes the terminal back still raises its alert."""
    config = tmp_path / "carebot.toml"
    config.write_text((ROOT / "config" / "carebot.toml").read_text().replace(
        'scene = "demo"', 'scene = "stage"', 1).replace('"../dialogs"', f'"{ROOT}/dialogs"'))
    env = f"-u COLUMNS -u LINES PYTHONPATH={ROOT} TERM=xterm-256color"
    terminal.start(f"env {env} {sys.executable} -m robot.cli sim --config {config} --state-dir {tmp_path / 'state'}; "
                   "echo exit status $?; sleep 60", ROOT)
    terminal.wait(lambda s: "state: idle" in s, "the robot ready", 60)
    shell = int(subprocess.run([*terminal.base, "display", "-p", "-t", "t", "#{pane_pid}"], capture_output=True,
                               text=True, check=True).stdout)
    (robot,) = _children(shell)
    views = [p for p in _children(robot) if "robot.live_view" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(views) == 1
    os.kill(views[0], 9)
    terminal.wait(lambda s: "the live view has gone" in s, "the line console taking over")
    assert "stopping" not in terminal.screen()
    subprocess.run([*terminal.base, "send-keys", "-t", "t", "-l", "say I need a nurse"], check=True)
    terminal.key("Enter")
    terminal.wait(lambda s: "help_request" in s, "the help alert raised from the line console")
    subprocess.run([*terminal.base, "send-keys", "-t", "t", "-l", "quit"], check=True)
    terminal.key("Enter")
    terminal.wait(lambda s: "stopped cleanly." in s and "exit status 0" in s, "the robot stopped by `quit`")
