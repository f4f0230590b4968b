"""Scenarios (robot.scenario, robot.scenario_run): each shipped one passes `carebot sim --scenario FILE --check`
against the real control process, its workers, a real mosquitto and a staff station, on the accelerated
clock; an edited expectation fails naming the step and the difference; a bad file is refused with its
file, step, field and line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from robot.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))


def check(path: Path, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """`carebot sim --scenario PATH --check`, as a technician or CI runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CAREBOT_FAULT_INJECTION", None)
    return subprocess.run([sys.executable, "-m", "robot.cli", "sim", "--scenario", str(path), "--check",
                           "--state-dir", str(state_dir), "--no-console"], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240)


#: a scenario with `speech:` runs the real speech workers in real time: see tests/conftest.py
CASES = [pytest.param(p, id=p.stem, marks=[pytest.mark.xdist_group("speech")] if "\nspeech:" in p.read_text() else [])
         for p in SHIPPED]


@pytest.mark.parametrize("path", CASES)
def test_every_shipped_scenario_passes(path: Path, tmp_path: Path) -> None:
    done = check(path, tmp_path / "state")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "every step passed" in done.stdout


def test_a_bad_scenario_is_refused_with_file_step_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstart: 2026-11-27T07:55\nsteps:\n"
                   "  - name: greet\n    person: enter\n    expect: {state: engaged}\n"
                   "  - name: two things\n    say: hello\n    button: press\n"
                   "  - name: typo\n    expect: {sayd: greeting}\n")
    with pytest.raises(ScenarioError) as err:
        load(bad)
    problems = err.value.problems
    assert any(p.startswith(f"{bad}:7: step 2 ('two things')") and "does one thing" in p for p in problems), problems
    assert any(f"{bad}:11: step 3 ('typo'): expect.sayd: Extra inputs" in p for p in problems), problems
    bad.write_text("name: bad\nstart: 2026-11-27T07:55\nsteps:\n  - staff: ack\n  - person: leave\n")
    with pytest.raises(ScenarioError) as err:
        load(bad)
    assert err.value.problems == [f"{bad}:1: step 1: staff, broker and alerts need `broker: true` (a real mosquitto); "
                                  "step 2: resident must enter before they can leave"]


def test_an_edited_expectation_fails_naming_the_step_and_the_difference(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "reminder-escalates.yaml").read_text()
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("state: raised, priority: medium, reminder: medication}]",
                                   "state: raised, priority: high, reminder: medication}]\n      within: 3"))
    done = check(edited, tmp_path / "state")
    assert done.returncode == 1, done.stdout[-4000:]
    fail = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert fail == [f"FAIL {edited}: step 4 ('after fifteen minutes staff are told'): after 3 s: alerts: expected "
                    "reminder_unacked raised (priority=high reminder=medication); staff received reminder_unacked "
                    "raised (priority=medium level=0 reminder=medication)"], done.stdout[-4000:]
    assert "  ok  step 3 ('nor for ten')" in done.stdout


def test_a_played_scenario_leaves_the_robot_running_with_its_console(tmp_path: Path) -> None:
    """What `make run` does (with the shortest scenario): play it, then the console drives the robot at real speed."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "robot.cli", "sim", "--scenario",
                             str(ROOT / "scenarios" / "reminder-escalates.yaml"), "--state-dir", str(tmp_path),
                             "--console", "line"],  # the live view is tests/test_live_view.py's
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True)
    os.close(slave)
    seen = ""

    def until(text: str, timeout: float = 60.0) -> bool:
        nonlocal seen
        end = time.monotonic() + timeout
        while text not in seen and time.monotonic() < end:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 65536).decode(errors="replace")
                except OSError:
                    break
        return text in seen

    try:
        assert until("every step passed"), seen[-3000:]
        os.write(master, b"clock\n")
        assert until("clock 2026-11-27 10:0"), seen[-3000:]  # where the scenario left it...
        assert until(" at 1x"), seen[-3000:]  # ...now at real speed
        os.write(master, b"clock 12:00\n")
        assert until("clock 2026-11-27 12:00"), seen[-3000:]
        os.write(master, b"person enter\n")
        assert until("idle -> engaged"), seen[-3000:]  # the stage's camera sees them: a real engagement
        os.write(master, b"quit\n")
        assert proc.wait(30) == 0
        assert until("stopped cleanly")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


def test_a_script_drives_the_line_console_through_a_pipe_and_its_end_stops_the_robot(tmp_path: Path) -> None:
    """`--console line` is for scripts too: commands piped in are carried out (they were ignored when stdin was
    not a terminal), and the pipe's end stops the robot as `quit` does."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    script = "clock 10:00\nsay what time is it\n"
    proc = subprocess.Popen([sys.executable, "-m", "robot.cli", "sim", "--state-dir", str(tmp_path), "--console",
                             "line"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=ROOT, env=env, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    seen: list[str] = []
    deadline = threading.Timer(60, proc.kill)  # a robot that never answers fails the test, never hangs it
    deadline.start()
    try:
        for line in proc.stdout:
            seen.append(line)
            if "(booted)" in line:
                proc.stdin.write(script)
                proc.stdin.flush()
            if 'says   "' in line and "o'clock" in line:  # the answer, in any of its wordings
                proc.stdin.close()  # the end of the script
        assert proc.wait(30) == 0, "".join(seen[-40:])
    finally:
        deadline.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = "".join(seen)
    assert re.search(r"clock \d{4}-\d\d-\d\d 10:00", text), text[-3000:]
    assert "ten o'clock in the morning" in text and "stopped cleanly." in text, text[-3000:]
