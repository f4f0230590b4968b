"""The service unit is valid and well sandboxed (systemd-analyze, offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

UNIT = ROOT / "systemd" / "carebot.service"
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def test_unit_verifies(tmp_path: Path) -> None:
    # Point ExecStart at this checkout's carebot so verify can check the binary exists.
    carebot = Path(sys.executable).parent / "carebot"
    unit = tmp_path / "carebot.service"
    unit.write_text(UNIT.read_text().replace("/opt/carebot/venv/bin/carebot", str(carebot)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "file:///opt/carebot" not in line]
    assert proc.returncode == 0 and not problems, problems


def test_unit_exposure_is_low() -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)],
                          capture_output=True, text=True)
    m = re.search(r"Overall exposure level for carebot.service: ([\d.]+)", proc.stdout)
    assert m, proc.stdout[-500:]
    assert float(m.group(1)) <= 3.0


def test_unit_grants_realtime_and_uses_the_watchdog() -> None:
    text = UNIT.read_text()
    assert "LimitRTPRIO=" in text and "WatchdogSec=" in text and "Type=notify" in text
