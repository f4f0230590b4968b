"""`carebot servo` against a simulated board: list, move, sweep, home and calibrate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robot.cli import build_parser
from robot.config_load import load_config
from robot.errors import CareBotError
from robot.servo_cli import write_limits

from .conftest import ROOT


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "carebot.toml"
    shutil.copy(ROOT / "config" / "carebot.toml", path)
    text = path.read_text().replace('state_dir = "../.state"', f'state_dir = "{tmp_path / "state"}"')
    path.write_text(text)
    return path


def test_list_shows_calibration_and_live_positions(cfg: Path) -> None:
    proc = cli("servo", "list", "--config", str(cfg), "--sim")
    assert proc.returncode == 0, proc.stderr
    assert "errors none" in proc.stdout
    lines = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[2:]}
    assert lines["pan"][-1] == "1500.0"  # at its home position
    assert lines["indicator"][-1] == "0.0"  # an output that is off


def test_move_reports_the_settled_position_and_refuses_out_of_limits(cfg: Path) -> None:
    ok = cli("servo", "move", "pan", "1700", "--config", str(cfg), "--sim")
    assert ok.returncode == 0 and "pan at 1700.0" in ok.stdout
    deg = cli("servo", "move", "tilt", "10", "--deg", "--config", str(cfg), "--sim")
    assert deg.returncode == 0 and "tilt at 1600.0" in deg.stdout  # 600 µs over 60 degrees
    bad = cli("servo", "move", "tilt", "1900", "--config", str(cfg), "--sim")
    assert bad.returncode == 2 and "outside tilt's calibrated limits 1200..1800" in bad.stderr
    missing = cli("servo", "move", "elbow", "1500", "--config", str(cfg), "--sim")
    assert missing.returncode == 2 and "pan (0), tilt (1), indicator (5)" in missing.stderr


def test_sweep_visits_min_max_and_neutral(cfg: Path) -> None:
    proc = cli("servo", "sweep", "tilt", "--config", str(cfg), "--sim")
    assert proc.returncode == 0, proc.stderr
    got = [line.split()[1:3] for line in proc.stdout.splitlines()]
    assert got == [["min", "1200.0"], ["max", "1800.0"], ["neutral", "1500.0"]]


def test_home_sends_everything_home(cfg: Path) -> None:
    proc = cli("servo", "home", "--config", str(cfg), "--sim")
    assert proc.returncode == 0
    assert "pan at 1500.0" in proc.stdout and "indicator at 0.0" in proc.stdout


def test_calibrate_walks_channels_and_writes_limits_back_keeping_comments(cfg: Path) -> None:
    script = "\n".join(["-", "-", "--", "min", "1800", "max", "1510", "neutral", "next",  # pan
                        "++", "max", "next"]) + "\n"                                      # tilt
    proc = cli("servo", "calibrate", "--config", str(cfg), "--sim", stdin=script)
    assert proc.returncode == 0, proc.stderr
    assert "wrote limits for 2 channel(s)" in proc.stdout
    config = load_config(cfg)
    pan, tilt = config.servo.channels[0], config.servo.channels[1]
    assert (pan.min_us, pan.max_us, pan.neutral_us) == (1430, 1800, 1510)
    assert (tilt.min_us, tilt.max_us, tilt.neutral_us) == (1200, 1550, 1500)
    assert "# the simulated board's watchdog" in cfg.read_text()


def test_calibrate_refuses_inconsistent_limits(cfg: Path) -> None:
    proc = cli("servo", "calibrate", "--channel", "pan", "--config", str(cfg), "--sim",
               stdin="1400\nmax\nnext\n")
    assert "min < neutral < max does not hold" in proc.stdout and "nothing changed" in proc.stdout


def test_write_limits_validates_the_new_file_before_replacing(cfg: Path) -> None:
    before = cfg.read_text()
    with pytest.raises(CareBotError):
        write_limits(cfg, {0: {"min_us": 10, "max_us": 2000, "neutral_us": 1500}})
    assert cfg.read_text() == before


def test_servo_parser_has_every_action() -> None:
    parser = build_parser()
    for action in ("list", "move", "sweep", "home", "calibrate"):
        extra = ["pan", "1500"] if action == "move" else ["pan"] if action == "sweep" else []
        args = parser.parse_args(["servo", action, *extra, "--sim"])
        assert args.sim and callable(args.func)


def test_a_missing_board_gives_one_clear_line(cfg: Path) -> None:
    text = cfg.read_text().replace('driver = "sim"', 'driver = "maestro"\nport = "/dev/serial/by-id/usb-Pololu-gone"')
    cfg.write_text(text)
    run = cli("servo", "list", "--config", str(cfg))
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "/dev/serial/by-id/usb-Pololu-gone" in run.stderr, run.stderr
