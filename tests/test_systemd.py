"""Every service unit is valid and well sandboxed (systemd-analyze, offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

UNITS = sorted((ROOT / "systemd").glob("*.service"))
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def test_both_units_are_there() -> None:
    assert [u.name for u in UNITS] == ["carebot-sim.service", "carebot.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    # Point ExecStart at this checkout's carebot so verify can check the binary exists.
    carebot = Path(sys.executable).parent / "carebot"
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/carebot/venv/bin/carebot", str(carebot)))
    for other in UNITS:  # Conflicts= names the other unit: let verify find it
        if other != unit:
            (tmp_path / other.name).write_text(other.read_text())
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, cwd=tmp_path)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "file:///opt/carebot" not in line and "/opt/carebot/venv/bin/carebot" not in line]
    assert proc.returncode == 0 and not problems, problems


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_exposure_is_at_most_2(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                          capture_output=True, text=True)
    m = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", proc.stdout)
    assert m, proc.stdout[-500:]
    assert float(m.group(1)) <= 2.0


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_uses_the_watchdog_and_fails_a_filtered_call_softly(unit: Path) -> None:
    text = unit.read_text()
    assert "WatchdogSec=" in text and "Type=notify" in text and "SystemCallErrorNumber=EPERM" in text


def test_the_robot_gets_realtime_and_its_devices_and_the_simulator_none() -> None:
    robot, sim = (ROOT / "systemd/carebot.service").read_text(), (ROOT / "systemd/carebot-sim.service").read_text()
    assert "LimitRTPRIO=" in robot and "DeviceAllow=char-ttyACM rw" in robot
    assert "PrivateDevices=yes" in sim and "DeviceAllow" not in sim and "Conflicts=carebot.service" in sim
    assert "StateDirectory=carebot-sim" in sim  # never the robot's outbox or audit log
