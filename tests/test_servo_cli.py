"""`carebot servo` against a simulated board: list, move, jog, centre, limits and home in degrees through the
servo interface, and the Maestro backend's own calibration in µs (`carebot servo maestro`)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robot.cli import build_parser
from robot.config_load import load_config
from robot.errors import CareBotError
from robot.servo_maestro_cli import write_limits

from .conftest import ROOT, wait_for


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def run(cfg: Path, *argv: str, stdin: str = "") -> str:
    """One `carebot servo` command in this process (quicker than a new one); what it printed."""
    args = build_parser().parse_args(["servo", *argv, "--config", str(cfg), "--sim"])
    out = io.StringIO()
    if stdin:
        assert args.func(args, out, io.StringIO(stdin)) == 0
    else:
        assert args.func(args, out) == 0
    return out.getvalue()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "carebot.toml"
    shutil.copy(ROOT / "config" / "carebot.toml", path)
    text = path.read_text().replace('state_dir = "../.state"', f'state_dir = "{tmp_path / "state"}"')
    # The simulated board answers from a thread of this process, on two cores the suite keeps busy: 219 ms
    # at worst measured under load (a real board: under 1 ms). Its watchdog is lengthened to match, so a
    # keep-alive held up behind a late reply does not send the head home.
    text = text.replace("serial_timeout_ms = 250", "serial_timeout_ms = 3000\nreply_timeout_ms = 1000")
    path.write_text(text)
    return path


def test_list_shows_limits_and_positions_in_degrees(cfg: Path) -> None:
    proc = cli("servo", "list", "--config", str(cfg), "--sim")  # through the real door once
    assert proc.returncode == 0, proc.stderr
    assert "faults none" in proc.stdout
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:]}
    assert lines["pan"][2:] == ["-60.0°", "60.0°", "0.0°"]  # 1000..2000 µs over 120°, at its home (neutral)
    assert lines["tilt"][2:] == ["-30.0°", "30.0°", "0.0°"]
    assert lines["indicator"][2:] == ["(light)"]
    assert "µs" not in proc.stdout


def test_move_reports_the_settled_angle_and_refuses_what_it_cannot_do(cfg: Path) -> None:
    assert run(cfg, "move", "pan", "20") == "pan at 20.0°\n"
    assert run(cfg, "move", "tilt", "-12.5") == "tilt at -12.5°\n"
    with pytest.raises(CareBotError, match="40° is outside tilt's limits -30..30°$"):
        run(cfg, "move", "tilt", "40")
    with pytest.raises(CareBotError, match="degrees from neutral; pulse widths are .*carebot servo maestro"):
        run(cfg, "move", "pan", "1500")  # µs typed by habit
    with pytest.raises(CareBotError, match=r"no joint 'elbow'; joints: pan \(-60..60°\), tilt \(-30..30°\)"):
        run(cfg, "move", "elbow", "3")
    with pytest.raises(CareBotError, match="indicator is a light"):
        run(cfg, "move", "indicator", "3")


def test_jog_steps_in_degrees_within_the_limits_and_reads_back(cfg: Path) -> None:
    said = run(cfg, "jog", stdin="+\n++\n-\n12.5\n61\nnext\n--\nquit\n")
    assert [line for line in said.splitlines() if "->" in line] == [
        "pan -> 1.0°", "pan -> 6.0°", "pan -> 5.0°", "pan -> 12.5°", "tilt -> -5.0°"]
    assert "61° is outside pan's limits -60..60°" in said


def test_centre_limits_and_home(cfg: Path) -> None:
    assert run(cfg, "centre") == "pan at 0.0°\ntilt at 0.0°\n"
    got = [line.split()[1:3] for line in run(cfg, "limits", "tilt").splitlines()]
    assert got == [["low", "-30.0°"], ["high", "30.0°"], ["neutral", "0.0°"]]
    assert run(cfg, "home") == "pan at 0.0°\ntilt at 0.0°\n"  # both channels' home is neutral


def test_maestro_list_shows_the_calibration_in_microseconds(cfg: Path) -> None:
    said = run(cfg, "maestro", "list")
    lines = {line.split()[1]: line.split() for line in said.splitlines()[2:]}
    assert lines["pan"][3:6] == ["1000", "1500", "2000"] and lines["pan"][-1] == "1500.0"
    assert lines["indicator"][-1] == "0.0"  # an output that is off


def test_maestro_calibrate_walks_channels_and_writes_limits_back_keeping_comments(cfg: Path) -> None:
    script = "\n".join(["-", "-", "--", "min", "1800", "max", "1510", "neutral", "next",  # pan
                        "++", "max", "next"]) + "\n"                                      # tilt
    proc = cli("servo", "maestro", "calibrate", "--config", str(cfg), "--sim", stdin=script)
    assert proc.returncode == 0, proc.stderr
    assert "wrote limits for 2 channel(s)" in proc.stdout
    config = load_config(cfg)
    pan, tilt = config.servo.channels[0], config.servo.channels[1]
    assert (pan.min_us, pan.max_us, pan.neutral_us) == (1430, 1800, 1510)
    assert (tilt.min_us, tilt.max_us, tilt.neutral_us) == (1200, 1550, 1500)
    assert "# the simulated board's watchdog" in cfg.read_text()


def test_maestro_calibrate_refuses_inconsistent_limits(cfg: Path) -> None:
    said = run(cfg, "maestro", "calibrate", "--channel", "pan", stdin="1400\nmax\nnext\n")
    assert "min < neutral < max does not hold" in said and "nothing changed" in said


def test_maestro_calibrate_on_a_full_disk_keeps_the_config_and_shows_the_values(cfg: Path) -> None:
    """The disk fills while the technician calibrates: no traceback, no half-written file left beside the
    config, the config untouched, and the values found printed to be typed in by hand. The full disk is
    real to the process: a file size limit (RLIMIT_FSIZE) below the config's size, which writes hit."""
    import resource

    before = cfg.read_text()
    limit = len(before.encode()) // 2
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "servo", "maestro", "calibrate", "--channel", "pan",
                           "--config", str(cfg), "--sim"], input="-\nmin\nnext\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=60,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert str(cfg) in proc.stderr and "min_us = 1490" in proc.stderr, proc.stderr
    assert cfg.read_text() == before and [p.name for p in cfg.parent.iterdir() if "calibrating" in p.name] == []


def test_write_limits_validates_the_new_file_before_replacing(cfg: Path) -> None:
    before = cfg.read_text()
    with pytest.raises(CareBotError):
        write_limits(cfg, {0: {"min_us": 10, "max_us": 2000, "neutral_us": 1500}})
    assert cfg.read_text() == before


def test_servo_parser_has_every_action() -> None:
    parser = build_parser()
    for action in (["list"], ["move", "pan", "10"], ["jog"], ["jog", "pan"], ["centre"], ["center"],
                   ["limits", "pan"], ["sweep", "pan"], ["home"], ["maestro", "list"], ["maestro", "calibrate"]):
        args = parser.parse_args(["servo", *action, "--sim"])
        assert args.sim and callable(args.func)


def test_limits_refuses_a_wait_that_is_no_wait(capsys: pytest.CaptureFixture[str]) -> None:
    # --timeout -1 read each stop before the joint moved: "pan low 0.0°, high 0.0°", a joint that seemed stuck
    for bad in ("-1", "0", "nan", "inf", "1e9"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["servo", "limits", "pan", "--timeout", bad, "--sim"])
        assert "seconds between 0 and 60" in capsys.readouterr().err, bad
    assert build_parser().parse_args(["servo", "limits", "pan", "--timeout", "2.5"]).timeout == 2.5


def test_a_missing_board_gives_one_clear_line(cfg: Path) -> None:
    text = cfg.read_text().replace('driver = "sim"', 'driver = "maestro"\nport = "/dev/serial/by-id/usb-Pololu-gone"')
    cfg.write_text(text)
    run = cli("servo", "list", "--config", str(cfg))
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "/dev/serial/by-id/usb-Pololu-gone" in run.stderr, run.stderr


def test_a_keep_alive_that_fails_once_says_so_and_keeps_beating(caplog: pytest.LogCaptureFixture) -> None:
    """A resend that raises something other than an unplugged board (a driver bug, a garbled reply) must not end
    the keep-alive silently: the watchdog would send the servos home under the technician's hands, unexplained."""
    from robot.servo_hold import HeldSession

    class Flaky(HeldSession):
        def __init__(self) -> None:
            super().__init__()
            self.beats = 0

        def _open(self) -> None:
            pass

        def _close(self) -> None:
            pass

        def _resend(self) -> None:
            self.beats += 1
            if self.beats == 1:
                raise ValueError("a garbled reply")

    session = Flaky().start()
    try:
        assert wait_for(lambda: session.beats >= 3, 5)
    finally:
        session.close()
    assert [r for r in caplog.records if "keep-alive" in r.getMessage() and r.exc_info], caplog.text
