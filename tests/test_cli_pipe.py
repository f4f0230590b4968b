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

