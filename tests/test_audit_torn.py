"""A full disk or a crash mid-write must not leave an audit log that stops the robot from starting.

Found by the fault matrix (robot/bench/faults.py): the disk filled while a record was being
written, the log kept half a line, and after the next restart `AuditLog` raised
JSONDecodeError in `Runtime.start`, so the robot could not boot at all (issue 11).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from robot.audit import AuditLog, rotated, verify
from robot.config import Config
from robot.fault_matrix import fill_disk
from robot.runtime import Runtime

from .conftest import wait_for


def test_an_unfinished_last_write_is_cut_off_and_the_chain_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("boot", {"boot_id": "a"})
    log.append("state", {"dest": "idle"})
    good = path.read_bytes()
    path.write_bytes(good + b'{"data": {"dest": "aler')  # the disk filled mid-line
    again = AuditLog(path)
    assert again.seq == 2
    assert path.read_bytes() == good
    again.append("state", {"dest": "alerting"})
    result = verify(path)
    assert result.ok and result.records == 3


def test_an_unreadable_complete_line_is_left_for_verify_and_does_not_stop_the_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("boot", {"boot_id": "a"})
    with path.open("ab") as f:
        f.write(b"not json\n")
    log = AuditLog(path)
    assert log.seq == 1
    log.append("state", {"dest": "idle"})
    assert not verify(path).ok  # tampering or corruption stays visible


@pytest.mark.skipif(subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
                    reason="needs root to mount a small tmpfs")
def test_a_full_disk_leaves_no_torn_record_and_the_robot_starts_again(config: Config, tmp_path: Path) -> None:
    state = tmp_path / "small"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], check=True)
    try:
        path = state / "audit.jsonl"
        log = AuditLog(path)
        log.append("boot", {"boot_id": "a"})
        assert fill_disk(state / "filler") > 0
        with pytest.raises(OSError):
            for _ in range(100):
                log.append("state", {"dest": "idle"})
        assert verify(path).ok  # nothing torn was left behind
        (state / "filler").unlink()
        cfg = config.model_copy(update={"robot": config.robot.model_copy(update={"state_dir": state})})
        rt = Runtime(cfg, simulate=True)
        rt.start()
        try:
            assert wait_for(lambda: rt.behaviour.state != "booting", 10)
        finally:
            rt.stop()
        assert verify(path).ok
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_rotation_that_fails_keeps_the_records_written_and_the_chain_going(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The batch is on disk before the rotation: its failure must not report the batch as lost. A rotation that
    keeps failing is retried at every batch, but logged once (not once a second into a journal on the same card)
    until one works."""
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, max_bytes=200, keep=2)
    blocker = tmp_path / "audit.jsonl.2"  # the rotation's oldest file cannot be removed: a directory in its place
    blocker.mkdir()
    (blocker / "x").write_text("x")
    first = audit.append("state", {"source": "idle", "dest": "greeting", "trigger": "face"})
    assert audit.write_error is None and audit.seq == first["seq"] == 1  # written, though not rotated
    audit.append("state", {"source": "greeting", "dest": "idle", "trigger": "done"})
    assert audit.seq == 2 and len(path.read_text().splitlines()) == 2
    audit.append("state", {"source": "idle", "dest": "greeting", "trigger": "face"})
    assert [r.message for r in caplog.records if "could not be rotated" in r.message][1:] == []
    (blocker / "x").unlink()
    blocker.rmdir()
    audit.append("state", {"source": "greeting", "dest": "idle", "trigger": "done"})  # rotated now
    assert path.read_text() == "" and verify(path).ok
    (blocker / "x").mkdir(parents=True)
    audit.append("state", {"source": "idle", "dest": "greeting", "trigger": "face"})  # a new failure: logged again
    assert len([r for r in caplog.records if "could not be rotated" in r.message]) == 2
    (blocker / "x").rmdir()
    blocker.rmdir()
    assert verify(path).ok


def test_a_failed_write_is_named_until_a_write_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    path.unlink()
    path.mkdir()  # the file cannot be opened for writing
    with pytest.raises(OSError):
        audit.append("state", {"source": "idle", "dest": "greeting", "trigger": "face"})
    assert audit.write_error is not None and "audit log" in audit.write_error and audit.seq == 0
    path.rmdir()
    audit.append("state", {"source": "idle", "dest": "greeting", "trigger": "face"})
    assert audit.write_error is None and audit.seq == 1


@pytest.mark.skipif(subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
                    reason="needs root to bind-mount the state directory read-only")
def test_a_read_only_card_with_an_unfinished_last_write_still_starts_the_log(tmp_path: Path) -> None:
    """A power cut mid-write, then the kernel remounts the worn card read-only: the torn line cannot be cut off at
    start. The robot must start all the same (it calls for help), the log naming its fault; once the card is
    writable the torn bytes are cut off before the next write, and the chain goes on whole."""
    state = tmp_path / "state"
    state.mkdir()
    path = state / "audit.jsonl"
    AuditLog(path).append("boot", {"boot_id": "a"})
    with path.open("ab") as f:
        f.write(b'{"data": {"dest": "aler')
    subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
    mounted = True
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(state)], check=True)
        log = AuditLog(path)  # raised OSError (EROFS) from the cut, and the robot did not start
        assert log.write_error is not None
        with pytest.raises(OSError):
            log.append("state", {"dest": "idle"})
        assert log.write_error is not None
        subprocess.run(["umount", str(state)], check=True)
        mounted = False
        log.append("state", {"dest": "alerting"})
        assert log.write_error is None and log.seq == 2
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(state)], check=False)
    result = verify(path)
    assert result.ok and result.records == 2, result


def test_an_audit_log_that_cannot_be_read_at_start_names_its_fault_and_goes_on_once_it_can(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory where the log should be (or a bad block under its tail): the robot starts, its log faulted. It
    tries again to read where the chain ends at most every RESUME_RETRY_S (a long file is not read every second)."""
    import robot.audit

    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("boot", {"boot_id": "a"})
    good = path.read_bytes()
    path.unlink()
    path.mkdir()
    log = AuditLog(path)  # raised IsADirectoryError, and the robot did not start
    assert log.write_error is not None
    with pytest.raises(OSError):
        log.append("state", {"dest": "idle"})
    path.rmdir()
    path.write_bytes(good)
    with pytest.raises(OSError):
        log.append("state", {"dest": "idle"})  # tried again only after RESUME_RETRY_S
    assert log.seq == 0
    monkeypatch.setattr(robot.audit, "RESUME_RETRY_S", 0.0)
    log._resume_at = 0.0
    log.append("state", {"dest": "idle"})  # the chain goes on from the tail read now, not from nothing
    assert log.seq == 2 and log.write_error is None
    result = verify(path)
    assert result.ok and result.records == 2, result


def test_verify_tells_of_the_records_an_audit_gap_says_were_lost(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A chain with audit_gap records is whole, but it is not complete: `carebot audit verify` must not let an
    inspector read 'chain intact' as 'every record is here' when the log could not write for a while."""
    from robot.cli import main

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("boot", {"boot_id": "a"})
    log.append_many([("audit_gap", {"lost": 12}, 1.7e9), ("state", {"dest": "idle"}, 1.7e9)])
    log.append_many([("audit_gap", {"lost": 10**9}, 1.7e9), ("state", {"dest": "alerting"}, 1.7e9)])
    result = verify(path)
    assert result.ok and result.records == 5
    assert (result.gaps, result.lost) == (2, 12 + 10**9)
    assert main(["audit", "verify", str(path)]) == 0  # the chain is intact: nothing was edited
    out = capsys.readouterr().out
    assert "chain intact" in out and "1000000012 records were lost" in out and "2 gaps" in out, out


def test_a_failed_write_that_cannot_be_undone_is_cut_off_before_the_next_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worn card: the batch is written but its fsync fails (EIO), and cutting it off fails too (the card went
    read-only). The batch counts as lost, so its bytes must not stay in the file: the next write would follow them
    with the same sequence numbers, and verify would call the chain broken for good."""
    import errno

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("boot", {"boot_id": "a"})

    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def erofs(fd: int, length: int) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:
        m.setattr("os.fsync", eio)
        m.setattr("os.ftruncate", erofs)
        with pytest.raises(OSError):
            log.append("state", {"dest": "idle"})
    assert log.seq == 1 and log.write_error is not None
    log.append("state", {"dest": "alerting"})
    result = verify(path)
    assert result.ok and result.records == 2, result


def test_verify_tells_of_runs_that_ended_without_their_stop_record(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed (SIGKILL, a power cut) or whose last write failed as it stopped loses its last records with no
    audit_gap to say so: nothing was left to write it. The next boot then follows a record that is not a stop, and
    verify must say so: 'chain intact' is not 'every record is here'. A first boot, and the oldest kept rotated
    file's first record (its predecessor rotated away), are no such end."""
    from robot.cli import main

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=400, keep=15)
    runs = [("a", True), ("b", False), ("c", True), ("d", False), ("e", False), ("f", True)]
    for boot_id, stopped in runs:
        log.append("boot", {"boot_id": boot_id})
        log.append("state", {"dest": "idle"})
        if stopped:
            log.append("stop", {"boot_id": boot_id})
    assert len(rotated(path)) > 3  # the runs span rotated files: an unclean end is found across their seams
    result = verify(path)
    assert result.ok and result.unclean_ends == 3, result  # b, d and e never wrote their stop
    assert main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "chain intact" in out and "3 runs ended without their stop record" in out, out


    clean = tmp_path / "clean" / "audit.jsonl"
    log = AuditLog(clean)
    for boot_id in "ab":
        log.append("boot", {"boot_id": boot_id})
        log.append("stop", {"boot_id": boot_id})
    assert verify(clean).unclean_ends == 0
    assert main(["audit", "verify", str(clean)]) == 0
    assert "without their stop" not in capsys.readouterr().out
