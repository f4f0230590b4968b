"""Every service unit is valid and well sandboxed (systemd-analyze, offline), the resident's screen's too."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

KIOSK = ROOT / "systemd" / "carebot-screen.service"
UNITS = sorted(u for u in (ROOT / "systemd").glob("*.service") if u != KIOSK)  # the robot's and the simulator's
pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def exposure(unit: Path) -> tuple[float, str]:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True)
    m = re.search(rf"Overall exposure level for {re.escape(unit.name)}: ([\d.]+)", proc.stdout)
    assert m, proc.stdout[-500:]
    return float(m.group(1)), proc.stdout


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


@pytest.mark.parametrize("unit", [*UNITS, KIOSK], ids=lambda u: u.name)
def test_unit_exposure_is_at_most_2(unit: Path) -> None:
    """Each shipped file as it is, unmodified: what anyone running the command on it sees."""
    score, report = exposure(unit)
    assert score <= 2.0, report
    assert "Service runs as root user" not in report


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_uses_the_watchdog_and_fails_a_filtered_call_softly(unit: Path) -> None:
    text = unit.read_text()
    assert "WatchdogSec=" in text and "Type=notify" in text and "SystemCallErrorNumber=EPERM" in text


def test_the_robot_gets_realtime_and_its_devices_and_the_simulator_none() -> None:
    robot, sim = (ROOT / "systemd/carebot.service").read_text(), (ROOT / "systemd/carebot-sim.service").read_text()
    assert "LimitRTPRIO=" in robot and "DeviceAllow=char-ttyACM rw" in robot
    assert "PrivateDevices=yes" in sim and "DeviceAllow" not in sim and "Conflicts=carebot.service" in sim
    assert "StateDirectory=carebot-sim" in sim  # never the robot's outbox or audit log


def test_the_kiosk_unit_verifies(tmp_path: Path) -> None:
    (tmp_path / KIOSK.name).write_text(KIOSK.read_text().replace("/opt/carebot/scripts/", f"{ROOT}/scripts/"))
    proc = subprocess.run(["systemd-analyze", "verify", KIOSK.name], cwd=tmp_path, capture_output=True, text=True)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "file:///opt/carebot" not in line]
    assert proc.returncode == 0 and not problems, problems


def test_the_kiosk_unit_runs_as_the_desktop_user_with_loopback_only_and_the_gpu_only() -> None:
    """A system unit, so that all of this is enforced: a user manager ignores the IP lists, ProtectProc= and
    DeviceAllow=, and refuses User= (docs/screen.md: each checked in a systemd 252 system manager)."""
    unit = KIOSK.read_text()
    assert re.search(r"(?m)^User=1000$", unit)  # Raspberry Pi OS's first user; install's drop-in names the real one
    for line in ("IPAddressDeny=any", "IPAddressAllow=localhost", "ProtectProc=invisible", "PrivateDevices=yes",
                 "DeviceAllow=char-drm rw", "PrivateUsers=yes", "SupplementaryGroups=carebot"):
        assert f"\n{line}\n" in unit, line
    assert re.findall(r"(?m)^DeviceAllow=.*$", unit) == ["DeviceAllow=char-drm rw"]
    # the display's sockets only, never the whole runtime directory with its session bus and systemd socket
    binds = re.search(r"(?m)^BindReadOnlyPaths=(.*)$", unit)
    assert binds and binds.group(1).split() == ["-/run/user/1000/wayland-0", "-/run/user/1000/wayland-1",
                                                "-/tmp/.X11-unix"]
    assert "WantedBy=graphical.target" in unit and "After=graphical.target" in unit


def test_the_kiosk_unit_forbids_writable_executable_memory_and_the_launcher_runs_v8_without_its_jit() -> None:
    """MemoryDenyWriteExecute= kills V8's JIT (it writes machine code, then runs it): the two go together."""
    unit, launcher = KIOSK.read_text(), (ROOT / "scripts" / "screen-kiosk.sh").read_text()
    assert "\nMemoryDenyWriteExecute=yes\n" in unit and "--js-flags=--jitless" in launcher
    # Chromium's own sandbox: its namespaces, its seccomp filters and its chroot stay possible.
    assert "\nRestrictNamespaces=user pid net\n" in unit and "\nSystemCallFilter=chroot\n" in unit
    allowed = re.search(r"(?m)^SystemCallFilter=@system-service.*$", unit)
    assert allowed and "seccomp" in allowed.group(0).split()
