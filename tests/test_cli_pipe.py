"""The command line's output piped to a reader that has gone (`carebot status --json | head -1`, a pager quit
early): the command stops quietly with the shell's code for SIGPIPE, and prints no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte is written
    try:
        return subprocess.run([sys.executable, "-m", "robot.cli", *args], cwd=ROOT, stdout=write,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(write)


def test_a_command_whose_reader_has_gone_stops_quietly() -> None:
    done = run_into_a_closed_pipe("dialogs", "check", "dialogs")
    assert done.returncode == 141, done.stderr.decode()
    assert b"Traceback" not in done.stderr and b"BrokenPipeError" not in done.stderr, done.stderr.decode()



def test_a_robot_whose_output_reader_has_gone_runs_on_and_stops_cleanly(tmp_path: Path) -> None:
    """`carebot run` (here its simulator) prints a few lines to a journal stream or a pipe: a reader that has gone
    (journald restarted, `carebot sim | head`) must not stop the robot, which calls for help; it stopped at once,
    silently (141), without its safe pose or its last audit records."""
    import signal
    import time

    read, write = os.pipe()
    os.close(read)
    try:
        child = subprocess.Popen([sys.executable, "-m", "robot.cli", "sim", "--no-console", "--state-dir",
                                  str(tmp_path / "state")], cwd=ROOT, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "state" / "status.json").exists() and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            time.sleep(0.1)
        time.sleep(2.0)
        assert child.poll() is None, f"the robot stopped ({child.returncode}) when its output's reader went"
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
    err = child.stderr.read().decode() if child.stderr else ""
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    audit = (tmp_path / "state" / "audit.jsonl").read_text()
    assert '"kind": "stop"' in audit  # stopped in order, its last records written


def test_a_command_whose_error_reader_has_gone_and_whose_output_is_closed_stops_quietly(tmp_path: Path) -> None:
    """`carebot config check FILE >&- 2>&1 | head -0` and the like: the broken pipe is stderr, stdout is closed (Python
    makes it None). Stopping quietly must not itself fail (AttributeError on None, a traceback, exit 1)."""
    bad = tmp_path / "carebot.toml"
    bad.write_text("[loop]\nrate_hz = 5\n")  # refused: its problems go to stdout, their count to stderr
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "robot.cli", "config", "check", str(bad)], cwd=ROOT,
                              stderr=write, preexec_fn=lambda: os.close(1), timeout=60, check=False)
    finally:
        os.close(write)
    assert done.returncode == 141
