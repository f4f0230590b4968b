"""Config: typed and frozen, every problem reported with key, value, what is allowed and line."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from robot.config import Config, QuietHoursSection, read_secret
from robot.config_load import check_config, load_config
from robot.errors import ConfigError, SecretError

from .conftest import ROOT

THREE_MISTAKES = """\
[robot]
id = "robot-1"
colour = "blue"

[loop]
rate_hz = 1000

[workers]
hang_timeout_s = "soon"
"""


def write(tmp_path: Path, text: str, name: str = "carebot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_sim_config_loads_with_simulator_defaults() -> None:
    config = load_config(ROOT / "config" / "carebot.toml")
    assert config.servo.driver == "sim"
    assert config.loop.rate_hz == 100
    assert [c.name for c in config.servo.channels] == ["pan", "tilt", "indicator"]
    assert config.robot.state_dir == (ROOT / ".state").resolve()  # relative to the config file


def test_example_config_is_valid_apart_from_secret_files_this_machine_lacks() -> None:
    problems = check_config(ROOT / "config" / "robot.example.toml")
    assert {p.path for p in problems} <= {"mqtt.ca_file", "mqtt.password_file", "privacy.site_key_file",
                                          "speech.model"}
    assert all(p.message == "no such file" or "carebot model install" in p.message for p in problems)


def test_three_mistakes_are_all_reported_with_key_value_allowed_and_line(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, THREE_MISTAKES))
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {"robot.colour", "loop.rate_hz", "workers.hang_timeout_s"}
    assert "unknown key" in by_path["robot.colour"].message and by_path["robot.colour"].line == 3
    assert by_path["loop.rate_hz"].value == 1000 and "20..500" in by_path["loop.rate_hz"].message
    assert by_path["loop.rate_hz"].line == 6
    assert by_path["workers.hang_timeout_s"].value == "soon" and by_path["workers.hang_timeout_s"].line == 9


def test_config_check_cli_names_all_three_and_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, THREE_MISTAKES)
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "config", "check", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    for key in ("robot.colour", "loop.rate_hz = 1000", "workers.hang_timeout_s = 'soon'"):
        assert key in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_config_check_cli_accepts_a_good_file() -> None:
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "config", "check", "config/carebot.toml"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "OK" in proc.stdout


def test_unknown_key_suggests_the_near_miss(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, "[loop]\nrate_hx = 50\n"))
    assert len(problems) == 1 and "did you mean 'rate_hz'" in problems[0].message


def test_inline_secret_is_refused_and_never_echoed(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, '[mqtt]\npassword = "hunter2"\n'))
    assert len(problems) == 1
    text = str(problems[0])
    assert "password_file" in text and "hunter2" not in text


def test_secret_files_are_resolved_relative_to_the_config_and_read(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "ca.crt").write_text("x")
    config = load_config(write(tmp_path, '[mqtt]\nenabled = true\nca_file = "ca.crt"\npassword_file = "pw"\n'))
    assert config.mqtt.password_file == tmp_path / "pw"
    assert read_secret(config.mqtt.password_file) == "s3cret"


def test_missing_or_empty_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, '[privacy]\nsite_key_file = "nope"\n'))
    assert [(p.path, p.message) for p in problems] == [("privacy.site_key_file", "no such file")]
    (tmp_path / "empty").write_text("")
    with pytest.raises(SecretError, match="empty"):
        read_secret(tmp_path / "empty")
    with pytest.raises(SecretError, match="cannot read"):
        read_secret(tmp_path / "absent")


def test_servo_calibration_outside_the_hardware_range_is_rejected(tmp_path: Path) -> None:
    text = '[[servo.channels]]\nchannel = 0\nname = "pan"\nrole = "pan"\nmin_us = 20\nmax_us = 4000\n'
    problems = check_config(write(tmp_path, text))
    paths = {p.path for p in problems}
    assert paths == {"servo.channels.0.min_us", "servo.channels.0.max_us"}
    assert all("64.0..3280.0" in p.message for p in problems)
    assert all(p.line in (5, 6) for p in problems)


def test_duplicate_channels_and_bad_neutral_are_rejected(tmp_path: Path) -> None:
    text = ('[[servo.channels]]\nchannel = 0\nname = "pan"\nrole = "pan"\n'
            '[[servo.channels]]\nchannel = 0\nname = "tilt"\nrole = "tilt"\nneutral_us = 2500\n')
    messages = " ".join(p.message for p in check_config(write(tmp_path, text)))
    assert "neutral_us (2500.0) must lie within" in messages


def test_toml_syntax_error_has_a_line(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, "[loop]\nrate_hz = = 5\n"))
    assert len(problems) == 1 and problems[0].line == 2 and "not valid TOML" in problems[0].message


def test_load_raises_config_error_carrying_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, THREE_MISTAKES))
    assert len(info.value.problems) == 3


def test_config_objects_are_frozen() -> None:
    config = Config()
    with pytest.raises(ValidationError):
        config.loop.rate_hz = 50  # type: ignore[misc]


@pytest.mark.parametrize(("start", "end", "moment", "quiet"), [
    ("21:00", "07:00", "23:30", True), ("21:00", "07:00", "06:59", True), ("21:00", "07:00", "07:00", False),
    ("21:00", "07:00", "12:00", False), ("13:00", "14:00", "13:30", True), ("13:00", "14:00", "14:30", False),
])
def test_quiet_hours_span_midnight(start: str, end: str, moment: str, quiet: bool) -> None:
    hours = QuietHoursSection.model_validate({"start": start, "end": end})
    assert hours.contains(dt.time.fromisoformat(moment)) is quiet


def test_quiet_hours_reject_free_text(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, '[quiet_hours]\nstart = "9pm"\n'))
    assert problems[0].path == "quiet_hours.start" and "HH:MM" in problems[0].message
