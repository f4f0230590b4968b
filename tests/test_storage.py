"""SD-card wear: every file the robot writes is listed in docs/storage.md, and each bound holds
(audit batches and rotation, the outbox's activity cap, the status file in RAM, the nurse-call record)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import robot.nursecall as nursecall
import robot.outbox as outbox_module
from robot.audit import AuditLog, verify
from robot.config import Config, LoopSection
from robot.config_screen import ScreenSection
from robot.core.housekeeping import Housekeeper
from robot.outbox import PRIORITY, Outbox
from robot.runtime import Runtime

from .broker import Broker, Client, alerts, free_port, robot_config
from .conftest import ROOT, wait_for

DOC = ROOT / "docs" / "storage.md"


def documented() -> list[str]:
    """The file patterns in the first column of docs/storage.md's table (STATE/... paths)."""
    patterns = []
    for line in DOC.read_text().splitlines():
        if line.startswith("| `STATE/"):
            for name in re.findall(r"`(STATE/[^`]+)`", line.split("|")[1]):
                patterns.append(re.sub(r"\b(NAME|LANG|NNNNN|N)\b", "*", name).rstrip("/") + "*")
            patterns += [f"STATE/outbox.sqlite{s}" for s in re.findall(r"`(-\w+)`", line.split("|")[1])]
    return patterns


def test_every_file_the_robot_leaves_is_documented_and_the_status_file_is_not_on_the_card(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    run = tmp_path / "run"  # what /run/carebot is on a robot: RAM
    cfg = robot_config(config, broker)
    cfg = cfg.model_copy(update={"loop": LoopSection(status_interval_s=0.2, status_file=run / "status.json"),
                                 # with the resident's screen on, so that its files are held to the list too
                                 "screen": ScreenSection(enabled=True, port=free_port())})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
        rt.hear("help me please, I fell")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10)
        assert wait_for(lambda: (run / "status.json").exists(), 3)
        toml = tmp_path / "status.toml"  # `carebot status` finds it where the config says
        status_file = run / "status.json"
        toml.write_text(f'[robot]\nstate_dir = "{cfg.robot.state_dir}"\n[loop]\nstatus_file = "{status_file}"\n')
        shown = subprocess.run([sys.executable, "-m", "robot.cli", "status", "--config", str(toml)],
                               capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert shown.returncode == 0 and "alerting" in shown.stdout.splitlines()[0], shown.stdout + shown.stderr
    finally:
        rt.stop()
    state = Path(cfg.robot.state_dir)
    left = ["STATE/" + str(p.relative_to(state)) for p in state.rglob("*") if not p.is_dir()]
    assert "STATE/audit.jsonl" in left and "STATE/outbox.sqlite" in left
    assert "STATE/status.json" not in left
    patterns = documented()
    assert [f for f in left if not any(fnmatch.fnmatch(f, p) for p in patterns)] == [], patterns


def test_the_audit_log_is_rotated_bounded_and_still_verifies_as_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=2000, keep=3)
    for i in range(200):
        log.append("state", {"dest": "idle", "counter": i})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    assert all(p.stat().st_size < 2000 + 300 for p in tmp_path.iterdir())  # one record past the limit at most
    result = verify(path, keep=3)
    kept = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert result.ok and result.records == kept and result.files == 4 and result.first_seq == 200 - kept + 1

    again = AuditLog(path, max_bytes=2000, keep=3)  # a restart goes on with the chain
    assert again.seq == 200
    robot = tmp_path / "robot" / "audit.jsonl"  # the command checks a robot's log: 15 rotated files kept
    full = AuditLog(robot, max_bytes=2000)
    for i in range(0, 400, 4):
        full.append_many([("state", {"dest": "idle", "counter": i + n}, 0.0) for n in range(4)])
    cli = subprocess.run([sys.executable, "-m", "robot.cli", "audit", "verify", str(robot)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert cli.returncode == 0 and "in 16 files" in cli.stdout and "rotated away" in cli.stdout, cli.stdout

    middle = tmp_path / "audit.jsonl.2"
    lines = middle.read_text().splitlines(keepends=True)
    middle.write_text("".join(lines[:1] + lines[2:]))  # a record removed from a kept file shows
    result = verify(path, keep=3)
    assert not result.ok and result.problem.startswith("audit.jsonl.2 line 2: chain broken")


def test_a_rotated_log_whose_live_file_lost_its_head_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=1500, keep=2)
    for i in range(40):
        log.append("state", {"dest": "idle", "counter": i})
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) > 1
    path.write_text("".join(lines[1:]))
    assert not verify(path, keep=2).ok
    path.write_text("".join(lines))
    assert verify(path, keep=2).ok  # retention removed the files before .2: that is not tampering
    oldest = tmp_path / "audit.jsonl.2"
    kept = oldest.read_bytes()
    oldest.unlink()  # but the oldest kept file removed by hand is: retention always keeps two here
    result = verify(path, keep=2)
    assert not result.ok and "only 1 of 2 rotated files" in result.problem
    oldest.write_bytes(b"")  # nor does an empty decoy pass for the oldest file
    result = verify(path, keep=2)
    assert not result.ok and result.problem.startswith("audit.jsonl.2: holds no records")
    oldest.write_bytes(kept)
    assert verify(path, keep=2).ok


def test_audit_records_are_written_in_one_batch_per_window_and_shown_at_once(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    shown: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            shown.append(text)

        def flush(self) -> None:
            pass

    keeper = Housekeeper(audit, tmp_path / "status.json", dict, 60, Out(), audit_flush_s=0.5)
    for i in range(10):
        keeper.record("state", {"source": "idle", "dest": "engaged", "trigger": "engage", "counter": i})
    keeper.step()
    assert len([s for s in shown if "engaged" in s]) == 10  # the technician sees them now
    assert audit.batches == 0 and (tmp_path / "audit.jsonl").read_text() == ""
    assert wait_for(lambda: keeper.step() or audit.batches == 1, 3)
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 10
    keeper.record("state", {"source": "engaged", "dest": "idle", "trigger": "leave"})
    keeper.record("bad", {"name": "Mrs Smith"})  # refused alone; the rest of the batch is written
    keeper.close()
    assert audit.batches == 2 and verify(tmp_path / "audit.jsonl").records == 11
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert records[0]["t"] <= records[9]["t"] <= time.time()  # each keeps the time it was queued


def test_activity_waiting_for_an_absent_broker_is_capped_and_alerts_never_are(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "MAX_ACTIVITY_ROWS", 5)
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        for i in range(12):
            assert box.add(f"act-{i}", "activity", PRIORITY["activity"], "t/activity", b"{}")
        for i in range(8):
            alert = json.dumps({"alert_id": f"a{i}", "state": "raised"}).encode()
            assert box.add(f"alert-{i}", "alert", PRIORITY["alert:high"], "t/alert", alert)
        assert box.pending() == 5 + 8 and box.pending_alerts() == 8 and box.dropped_activity == 7
        kept = [r.event_id for r in box.next(100, set()) if r.kind == "activity"]
        assert kept == [f"act-{i}" for i in range(7, 12)]  # the oldest went first
        assert box._db.execute("PRAGMA journal_size_limit").fetchone()[0] == outbox_module.JOURNAL_LIMIT
    finally:
        box.close()


def test_the_nurse_call_record_keeps_open_alerts_and_the_newest_closed_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nursecall, "KEEP_CLOSED", 3)
    record = nursecall.PagedRecord(tmp_path / "nursecall.sqlite")
    try:
        record.done("open-1", 1)
        for i in range(10):
            record.done(f"a{i}", 1)
            record.done(f"a{i}", 1, closed=True)
        assert record.paged_steps() == 1 + 3
        assert record.wants("open-1", 2) and not record.wants("a9", 2)
    finally:
        record.close()
