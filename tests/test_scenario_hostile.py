"""Scenario files as a door: a broken or hostile file gets a clear error naming file, line, step and
field, never a traceback and never a hang (robot.scenario, `carebot sim --scenario`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from robot.clock import Clock, ClockError
from robot.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parent.parent
BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" for p, k in zip("abcdef", "bcdefg", strict=True))


def scenario(tmp_path: Path, body: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


def test_a_file_that_is_not_utf8_is_refused_through_carebot_sim(tmp_path: Path) -> None:
    path = scenario(tmp_path, b"name: x\nstart: 2026-11-27T07:55\nsteps:\n  - say: \"caf\xe9\"\n")
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "sim", "--scenario", str(path), "--check",
                           "--no-console"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{path}: not UTF-8 text" in proc.stderr + proc.stdout


@pytest.mark.parametrize("start", ["0001-01-01T00:01", "9999-12-31T23:59"])
def test_a_start_out_of_the_clocks_range_is_refused_with_its_line(tmp_path: Path, start: str) -> None:
    path = scenario(tmp_path, f"name: far\nstart: {start}\nsteps:\n  - say: hello\n")
    with pytest.raises(ScenarioError, match=rf"{path}:2: start: "):
        load(path)


def test_an_advance_past_the_clocks_range_is_a_clock_error() -> None:
    import datetime as dt

    clock = Clock.simulated(dt.datetime(2026, 11, 27, 7, 55), speed=1)
    with pytest.raises(ClockError, match="cannot"):
        clock.advance(1e13)
    assert clock.now().year == 2026  # untouched


def test_an_alias_bomb_is_reported_briefly(tmp_path: Path) -> None:
    path = scenario(tmp_path, "a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB
                    + "name: *g\nstart: 2026-11-27T07:55\nsteps: [{say: hi}]\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert len(str(info.value)) < 2000 and f"{path}:" in str(info.value)
