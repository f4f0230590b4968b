"""The whole control process against the simulator: boot, behaviour, faults, recovery, shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from robot.audit import verify
from robot.config import Config
from robot.runtime import Runtime
from robot.supervisor import WorkerSpec

from .broker import free_port
from .conftest import ROOT, alive, children_of, wait_for


def test_boots_to_idle_with_servos_connected(runtime: Runtime) -> None:
    assert runtime.behaviour.state == "idle"
    assert runtime.servos.connected
    assert runtime.loop.stats.realtime is (os.geteuid() == 0)  # root here; LimitRTPRIO on a robot
    assert wait_for(lambda: runtime.sim is not None and runtime.sim.board.commands > 50, 3)


def test_help_request_raises_a_high_alert_and_tells_the_resident(runtime: Runtime) -> None:
    runtime.inject("engage")
    runtime.inject("help")
    assert wait_for(lambda: runtime.behaviour.state == "alerting" and runtime.said, 2)
    alerts = [p for p in runtime.published if p.kind == "alert"]
    assert alerts and alerts[0].get("type") == "help_request" and alerts[0].get("priority") == "high"
    assert [s.key for s in runtime.said][-1] == "help_called"
    runtime.inject("ack")
    assert wait_for(lambda: [s.key for s in runtime.said][-1] == "help_coming", 2)


def test_servo_unplug_is_a_fault_and_replug_recovers(runtime: Runtime) -> None:
    sim = runtime.sim
    assert sim is not None
    runtime.inject("engage")
    assert wait_for(lambda: runtime.behaviour.state == "engaged", 2)
    sim.unplug()
    assert wait_for(lambda: runtime.behaviour.state == "fault", 2)
    assert "servo" in runtime.behaviour.facts.faults
    sim.replug()
    assert wait_for(lambda: runtime.behaviour.state == "engaged", 5), runtime.behaviour.state

    def faults() -> list[tuple[object, object]]:
        return [(p.get("reason"), p.get("state")) for p in runtime.published if p.kind == "fault"]

    assert wait_for(lambda: len(faults()) == 2, 1)  # intents run later in the tick that changed state
    assert faults() == [("servo", "raised"), ("servo", "cleared")]
    commands = sim.board.commands
    assert wait_for(lambda: sim.board.commands > commands + 20, 2)  # streaming again


def test_a_stopped_loop_lets_the_board_watchdog_send_servos_home_within_half_a_second(runtime: Runtime) -> None:
    sim = runtime.sim
    assert sim is not None
    runtime.inject_look(0.9, 0.0)  # turn the head well away from home
    assert wait_for(lambda: abs(sim.board.positions_us()[0] - 1500) > 100, 3)
    runtime.loop.stop()
    # The board's own watchdog: its serial timeout is a quarter of a second (the config sets it). How soon the
    # simulated board's thread notices is the simulator's scheduling on a loaded machine, not the robot's.
    assert sim.board.serial_timeout_s == runtime.config.servo.serial_timeout_ms / 1000 <= 0.5
    assert wait_for(lambda: sim.board.timeouts == 1, 10)
    assert wait_for(lambda: sim.board.channels[0].target == 1500 * 4, 10)
    # the indicator LED is an output homed to "off"
    assert sim.board.channels[5].target == 0


def test_status_file_and_audit_log_are_written_without_personal_data(runtime: Runtime) -> None:
    runtime.inject("engage")
    runtime.inject("speech_start")
    runtime.inject("heard")  # typed or recognised words never enter the runtime
    runtime.inject("help")
    assert wait_for(lambda: runtime.behaviour.state == "alerting", 2)
    status_path = runtime.state_dir / "status.json"
    assert wait_for(lambda: status_path.exists() and json.loads(status_path.read_text())["state"] == "alerting",
                    runtime.config.loop.status_interval_s + 2)
    status = json.loads(status_path.read_text())
    assert status["servo"]["connected"] and status["loop"]["ticks"] > 0
    assert set(status["simulator"]["positions_us"]) == {"pan", "tilt", "indicator"}
    audit = runtime.state_dir / "audit.jsonl"
    assert wait_for(lambda: '"dest": "alerting"' in audit.read_text(), 2)
    assert verify(audit).ok


def test_worker_crash_is_reported_and_the_robot_keeps_running(config: Config) -> None:
    rt = Runtime(config, simulate=True,
                 workers=[WorkerSpec("diag", "robot.workers.diagnostic:DiagnosticWorker")])
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 15)  # boot waits for the worker
        rt.supervisor.send("diag", "crash")
        audit = rt.state_dir / "audit.jsonl"
        assert wait_for(lambda: '"reason": "exited with code 3"' in audit.read_text(), 5)
        assert wait_for(lambda: rt.supervisor.health()["diag"].restarts == 1
                        and rt.supervisor.health()["diag"].state == "running", 10)
        assert rt.behaviour.state == "idle" and rt.loop.running
        rt.inject("help")
        assert wait_for(lambda: rt.behaviour.state == "alerting", 2)
    finally:
        rt.stop()
    assert not rt.supervisor.pids()


def test_loop_overrun_run_is_a_fault(config: Config) -> None:
    rt = Runtime(config, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 10)
        rt.loop.on_fault("loop_overrun")  # what the loop calls after N overruns in a row
        assert wait_for(lambda: rt.behaviour.state == "fault", 2)
    finally:
        rt.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_carebot_sim_stops_cleanly_on_signal_with_no_processes_left(tmp_path: Path, sig: int) -> None:
    config = tmp_path / "carebot.toml"  # with the resident's screen, on a port of its own
    config.write_text((ROOT / "config" / "carebot.toml").read_text().replace('"../dialogs"', f'"{ROOT}/dialogs"')
                      .replace("port = 8090", f"port = {free_port()}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot.cli", "sim", "--no-console", "--screen", "--config", str(config),
         "--state-dir", str(tmp_path / "state")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        status = tmp_path / "state" / "status.json"
        assert wait_for(lambda: status.exists() and json.loads(status.read_text())["state"] == "idle", 20)
        children = children_of(proc.pid)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "state  booting -> idle" in out and "stopped cleanly." in out
    assert "Traceback" not in out
    # not on a terminal (carebot-sim.service: its output goes to the journal, which the adm group reads): the
    # screen's key stays in its file
    key = (tmp_path / "state" / "screen.key").read_text().strip()
    assert key not in out and f"with the key in {tmp_path / 'state' / 'screen.key'}" in out
    # the vision worker, and multiprocessing's resource tracker, which exits once its pipe closes
    assert children
    assert wait_for(lambda: all(not alive(pid) for pid in children), 3)


def test_run_refuses_a_bad_config_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[loop]\nrate_hz = 5\n")
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "run", "--config", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert proc.returncode == 2
    assert "loop.rate_hz = 5" in proc.stderr and "Traceback" not in proc.stderr


def test_version_and_help_on_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "robot.cli", "version"], capture_output=True, text=True,
                         cwd=ROOT)  # the entry point, in an interpreter of its own: it builds every subcommand
    assert out.stdout.startswith("carebot ")
    from robot.cli import main  # the same parser, without an interpreter's start for each subcommand

    for sub in (["run"], ["sim"], ["config", "check"], ["bench"], ["status"], ["servo", "move"],
                ["servo", "maestro", "calibrate"], ["audit", "verify"]):
        with pytest.raises(SystemExit) as done:
            main([*sub, "--help"])
        assert done.value.code == 0 and "usage: carebot" in capsys.readouterr().out, sub


def test_no_child_processes_leak_from_this_test_module() -> None:
    leftovers = [p for p in children_of(os.getpid()) if alive(p)]
    # multiprocessing's resource tracker may legitimately live on, and so may the session's one browser
    # (tests/browser.py: Playwright's driver, and Chromium under it, live until the session ends); nothing else
    names = []
    for pid in leftovers:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            names.append(f.read().replace(b"\0", b" ").decode())
    assert all("resource_tracker" in n or "playwright/driver" in n for n in names), names



def test_logging_writes_to_stderr_as_it_is_now_not_to_a_closed_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process `carebot run` (as tests do) set logging up on a test's captured stderr, which closed with
    the test: every later record failed with "--- Logging error ---". Records go to sys.stderr as it is."""
    import io
    import logging

    from robot.logs import setup_logging, stop_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    try:
        setup_logging("info")
        first.close()  # the capture the logging was set up on is gone
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("carebot.test").warning("after the capture closed")
        stop_logging()  # flushes the queue
        assert "after the capture closed" in second.getvalue()
        assert "Logging error" not in second.getvalue()
    finally:
        stop_logging()
        for h in list(logging.getLogger().handlers):
            if isinstance(h, logging.handlers.QueueHandler):
                logging.getLogger().removeHandler(h)
