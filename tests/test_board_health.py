"""The board's health: under-voltage, throttling, temperature and free space, read from a scratch
sysfs that holds the kernel's own file formats, and a brown-out reaching staff as a robot fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hardware.pi_health import THROTTLED, BoardHealth, flags, parse_throttled
from robot.config import Config, HealthSection
from robot.config_load import load_config
from robot.core.board import BoardWatch
from robot.core.inputs import BoardFault
from robot.runtime import Runtime
from robot.selftest import run
from robot.selftest_base import Context

from .broker import Broker, Client, alerts, robot_config
from .conftest import ROOT, wait_for


def fake_pi(root: Path, throttled: str = "0", temp_milli: int = 48312, hwmon: bool = False) -> Path:
    """A scratch /sys with a Raspberry Pi 4's files, as the kernel writes them."""
    model = root / "firmware/devicetree/base/model"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    if hwmon:
        volt = root / "class/hwmon/hwmon1"
        volt.mkdir(parents=True)
        (volt / "name").write_text("rpi_volt\n")
        (volt / "in0_lcrit_alarm").write_text("0\n")
    else:
        set_throttled(root, throttled)
    zone = root / "class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{temp_milli}\n")
    return root


def set_throttled(root: Path, word: str) -> None:
    path = root / THROTTLED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(word + "\n")  # the kernel prints "%x\n": no 0x


def test_the_throttle_word_is_read_from_sysfs_and_from_vcgencmds_format(tmp_path: Path) -> None:
    assert parse_throttled("50005\n") == parse_throttled("throttled=0x50005\n") == 0x50005
    assert flags(0x50005) == ["under_voltage", "throttled"]
    assert flags(0x50005, since_boot=True) == ["under_voltage", "throttled"]
    assert flags(0x80000, since_boot=True) == ["soft_temp_limit"] and flags(0x80000) == []

    reading = BoardHealth(fake_pi(tmp_path / "sys", "50005"), tmp_path, vcgencmd=None).read()
    assert reading.is_pi and reading.source == "sysfs" and reading.under_voltage and reading.slowed
    assert reading.temp_c == 48.3 and reading.free_mb is not None and reading.free_mb > 0
    summary = reading.summary()
    assert summary["throttled"] == "0x50005" and summary["now"] == ["under_voltage", "throttled"]
    text = reading.describe()
    assert text.startswith("Raspberry Pi 4 Model B Rev 1.4; now: under_voltage, throttled; since boot: under_voltage")
    assert "CPU 48.3 °C" in text and "MB free" in text


def test_the_hwmon_alarm_stands_in_when_the_firmware_file_is_missing(tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", hwmon=True)
    assert BoardHealth(root, vcgencmd=None).read().under_voltage is False
    (root / "class/hwmon/hwmon1/in0_lcrit_alarm").write_text("1\n")
    reading = BoardHealth(root, vcgencmd=None).read()
    assert reading.source == "hwmon" and reading.under_voltage and not reading.slowed


def test_a_machine_without_the_files_is_not_a_raspberry_pi_and_nothing_fails(tmp_path: Path) -> None:
    (tmp_path / "sys").mkdir()
    reading = BoardHealth(tmp_path / "sys", tmp_path).read()
    assert not reading.is_pi and reading.throttled is None and reading.temp_c is None
    assert reading.describe().startswith("not a Raspberry Pi; power and throttling not available")
    watch = BoardWatch(BoardHealth(tmp_path / "sys"), HealthSection(), lambda f: None)
    assert watch.conditions(reading) == set()


def test_an_unreadable_throttle_file_is_reported_not_raised(tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", "garbage")
    reading = BoardHealth(root, vcgencmd=None).read()
    assert reading.throttled is None and "not a throttle word" in reading.problem and reading.is_pi


def test_faults_rise_at_once_and_clear_only_after_the_cause_has_been_gone_a_while(tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", "0")
    put: list[BoardFault] = []
    watch = BoardWatch(BoardHealth(root, tmp_path, vcgencmd=None),
                       HealthSection(clear_after_s=10, min_free_mb=0), put.append)
    watch.look(0.0)
    assert put == []
    set_throttled(root, "50005")  # a brown-out: under-voltage now, and the firmware throttles
    watch.look(1.0)
    assert sorted(put, key=lambda f: f.reason) == [BoardFault("throttled", True), BoardFault("undervoltage", True)]
    put.clear()
    for t, word in ((2.0, "50000"), (3.0, "50005"), (4.0, "50000")):  # a flickering supply: no new alerts
        set_throttled(root, word)
        watch.look(t)
    assert put == []
    watch.look(12.9)
    assert put == []
    watch.look(13.0)  # ten seconds after it was last seen (at 3.0)
    assert sorted(put, key=lambda f: f.reason) == [BoardFault("throttled", False), BoardFault("undervoltage", False)]
    assert watch.summary()["since_boot"] == ["under_voltage", "throttled"] and watch.summary()["faults"] == []


def test_a_brownout_shorter_than_the_interval_is_seen_by_its_since_boot_bit(tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", "0")
    put: list[BoardFault] = []
    watch = BoardWatch(BoardHealth(root, vcgencmd=None), HealthSection(clear_after_s=5), put.append)
    watch.look(0.0)
    set_throttled(root, "10000")  # it came and went between two looks
    watch.look(2.0)
    assert put == [BoardFault("undervoltage", True)]
    watch.look(7.0)
    assert put[-1] == BoardFault("undervoltage", False)


def test_a_brownout_before_start_is_history_not_a_fault(tmp_path: Path) -> None:
    put: list[BoardFault] = []
    watch = BoardWatch(BoardHealth(fake_pi(tmp_path / "sys", "50000"), vcgencmd=None), HealthSection(), put.append)
    watch.look(0.0)
    watch.look(2.0)
    assert put == [] and watch.summary()["since_boot"] == ["under_voltage", "throttled"]


def test_a_filling_state_directory_is_a_fault(tmp_path: Path) -> None:
    put: list[BoardFault] = []
    watch = BoardWatch(BoardHealth(tmp_path / "none", tmp_path), HealthSection(min_free_mb=10**5), put.append)
    watch.look(0.0)
    assert put == [BoardFault("disk_low", True)]


def test_a_brownout_reaches_staff_and_clears_by_itself_and_status_shows_it(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", "0")
    cfg = robot_config(config, broker)
    cfg = cfg.model_copy(update={"health": HealthSection(interval_s=0.05, clear_after_s=0.5, sys_root=root)})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
        set_throttled(root, "50005")
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="undervoltage", state="raised"), 5)
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="throttled", state="raised"), 5)
        assert rt.behaviour.state == "idle"  # the robot carries on: a weak supply is staff's to fix, not a stop
        rt.housekeeper.write_status()
        toml = tmp_path / "status.toml"
        toml.write_text(f'[robot]\nstate_dir = "{cfg.robot.state_dir}"\n')
        shown = subprocess.run([sys.executable, "-m", "robot.cli", "status", "--config", str(toml)],
                               capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
        board = next(line for line in shown.splitlines() if line.startswith("board"))
        assert "Raspberry Pi 4" in board and "now: under_voltage, throttled" in board and "CPU 48.3 °C" in board
        assert "FAULTS throttled, undervoltage" in board
        status = json.loads((cfg.robot.state_dir / "status.json").read_text())
        assert status["board"]["throttled"] == "0x50005"
        set_throttled(root, "50000")  # the supply recovers; the history stays
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="undervoltage", state="cancelled"), 5)
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="throttled", state="cancelled"), 5)
        records = [json.loads(line) for line in (cfg.robot.state_dir / "audit.jsonl").read_text().splitlines()]
        assert {"reason": "undervoltage", "state": "raised"} in [r["data"] for r in records if r["kind"] == "fault"]
    finally:
        rt.stop()


def board_config(tmp_path: Path, sys_root: Path) -> Path:
    cfg = tmp_path / "carebot.toml"
    cfg.write_text(f'[robot]\nstate_dir = "{tmp_path / "state"}"\n[dialogs]\npath = "{ROOT / "dialogs"}"\n'
                   f'[health]\nsys_root = "{sys_root}"\n')
    return cfg


def check_board(cfg: Path) -> tuple[str, str]:
    """The board check as selftest runs it, in this process (the CLI's door is tested once, below)."""
    check = next(c for c in run(Context(cfg, load_config(cfg), False, False, 0.1), ["board"], None)
                 if c.name == "board")
    return check.status, check.detail


def test_selftest_reports_the_board_and_says_plainly_when_it_is_not_a_pi(tmp_path: Path) -> None:
    root = fake_pi(tmp_path / "sys", "50000")
    cfg = board_config(tmp_path, root)
    cli = subprocess.run([sys.executable, "-m", "robot.cli", "selftest", "--config", str(cfg), "--only", "board",
                          "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    status, text = {c["name"]: (c["status"], c["detail"]) for c in json.loads(cli.stdout)["checks"]}["board"]
    assert status == "WARN" and "since boot: under_voltage, throttled" in text and "supply" in text
    set_throttled(root, "50005")
    status, text = check_board(cfg)
    assert status == "FAIL" and "Under-voltage now" in text
    (tmp_path / "empty").mkdir()
    status, text = check_board(board_config(tmp_path, tmp_path / "empty"))
    assert status == "SKIP" and text.startswith("not a Raspberry Pi")
