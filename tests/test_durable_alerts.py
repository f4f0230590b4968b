"""Durable alerts: open alerts outlive a SIGKILL, a restart and a full disk (issue 11, defect 3).

The end-to-end tests run the robot in a real child process, kill it with SIGKILL, and restart it
against a real mosquitto with a real staff subscriber: the help request goes in as words through
the dialog engine, the ack as a command through the MQTT decoder. The full-disk tests use a real
tmpfs filled to the brim (they need root to mount it, and skip without it).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.activity import ActivityCounter
from robot.alerts import AlertManager, EscalationPolicy
from robot.config import Config
from robot.core.delivery import RESTORE_GRACE_S
from robot.core.schedule import Schedule
from robot.core.staff import RESTORED_FAULT_GRACE_S, StaffChannel
from robot.outbox import PRIORITY, Outbox
from robot.runtime import Runtime

from .broker import ROBOTS, SITE, STAFF, Broker, Client, alerts, robot_config, robot_process
from .conftest import wait_for

CMD = f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd"


def stored(update: dict[str, object], event_id: str) -> bytes:
    """An alert update as the link stamps it."""
    return json.dumps({"event_id": event_id, "boot_id": "b" * 12, "seq": 1, "ts": 1.0, **update}).encode()


# -- restoring on a fake clock ----------------------------------------------------------------------


def test_a_restored_alert_escalates_on_the_schedule_of_its_wall_clock_raise() -> None:
    before = AlertManager(EscalationPolicy(high=(60, 180)))
    alert, _ = before.raise_alert("help_request", "high", "lounge", now=50.0, wall=10_000.0)
    [level1] = before.tick(110.0)
    # The process dies at wall 10_100 (age 100 s); a new one starts with a new monotonic clock.
    after = AlertManager(EscalationPolicy(high=(60, 180)))
    [back] = after.restore([level1], now=7.0, wall=10_100.0)
    assert (back.alert_id, back.state, back.level) == (alert.alert_id, "escalated", 1)
    assert after.tick(7.0 + 79.9) == []
    assert [(u["alert_id"], u["level"]) for u in after.tick(7.0 + 80.0)] == [(alert.alert_id, 2)]


def test_a_clock_set_back_at_boot_delays_the_next_step_by_at_most_one_interval() -> None:
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    update = {"alert_id": "a" * 32, "type": "help_request", "priority": "high", "room": "lounge",
              "state": "escalated", "level": 1, "raised_ts": 1.7e9}
    m.restore([update], now=0.0, wall=1e6)  # a board without a real-time clock boots in 1970
    assert m.tick(119.9) == []
    assert [u["level"] for u in m.tick(120.0)] == [2]


def test_restore_keeps_acknowledged_alerts_quiet_and_skips_closed_ones() -> None:
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    base = {"type": "help_request", "priority": "high", "room": "lounge", "level": 0, "raised_ts": 100.0}
    back = m.restore([{**base, "alert_id": "a" * 32, "state": "acknowledged"},
                      {**base, "alert_id": "b" * 32, "state": "resolved"}], now=0.0, wall=10_000.0)
    assert [a.alert_id for a in back] == ["a" * 32]
    assert m.tick(1000.0) == []
    assert m.resolve("a" * 32)["state"] == "resolved"


# -- the store: alert state and its outbox row in one transaction --------------------------------------


def test_the_outbox_keeps_each_open_alerts_latest_update_and_forgets_it_when_closed(tmp_path: Path) -> None:
    m = AlertManager()
    alert, raised = m.raise_alert("reminder_unacked", "medium", "room-2", 0.0, 1.7e9, reminder="medication")
    ack = m.acknowledge(alert.alert_id)
    assert ack is not None
    box = Outbox(tmp_path / "o.sqlite")
    box.add("e1", "alert", PRIORITY["alert:medium"], "t/alert", stored(raised, "e1"))
    box.add("e2", "alert", PRIORITY["alert:medium"], "t/alert", stored(ack, "e2"))
    box.close()
    box = Outbox(tmp_path / "o.sqlite")
    [latest] = box.open_alerts()
    assert (latest["alert_id"], latest["state"], latest["reminder"]) == (alert.alert_id, "acknowledged", "medication")
    box.add("e3", "alert", PRIORITY["alert:medium"], "t/alert", stored(m.resolve(alert.alert_id), "e3"))
    assert box.open_alerts() == [] and box.pending_alerts() == 3
    box.close()



def test_an_alert_whose_raised_or_latest_update_the_broker_took_counts_as_reached_at_restart(tmp_path: Path) -> None:
    """Rows leave the outbox only on the broker's receipt: an alert whose escalation alone waits reached staff."""
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    box = Outbox(tmp_path / "o.sqlite")
    got, _ = m.raise_alert("help_request", "high", "lounge", 0.0, 1.7e9)
    never, _ = m.raise_alert("help_request", "high", "lounge", 0.0, 1.7e9 + 1)
    for i, alert in enumerate((got, never)):
        box.add(f"r{i}", "alert", PRIORITY["alert:high"], "t/alert", stored(alert.update(), f"r{i}"))
    box.done("r0")  # the broker took the first one's raise
    for i, update in enumerate(m.tick(61.0)):  # then both escalate, the link gone
        box.add(f"e{i}", "alert", PRIORITY["alert:high"], "t/alert", stored(update, f"e{i}"))
    box.close()
    box = Outbox(tmp_path / "o.sqlite")
    assert box.undelivered_alerts() == {never.alert_id}
    box.done("e1")  # an escalation taken while its raise still waits (the raise is resent after it)
    assert box.undelivered_alerts() == set()
    box.close()

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: fill it with `fill(disk)`, free it by deleting the filler."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk until a write fails; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_a_full_disk_holds_alerts_in_memory_sends_them_and_writes_them_when_it_can(small_disk: Path) -> None:
    box = Outbox(small_disk / "outbox.sqlite", min_free_mb=0)
    big = {"type": "help_request", "priority": "high", "room": "lounge", "state": "raised", "level": 0,
           "raised_ts": 1.0}
    filler = fill(small_disk)
    updates = [{**big, "alert_id": f"{i:032x}"} for i in range(60)]  # enough to need new pages
    for i, u in enumerate(updates):
        assert box.add(f"e{i}", "alert", PRIORITY["alert:high"], "t/alert", stored(u, f"e{i}"))
    assert box.write_error is not None  # for the robot to report
    assert box.pending_alerts() == 60
    assert not box.add("act", "activity", PRIORITY["activity"], "t/activity", b"{}")  # activity goes first
    sent = box.next(100, set())
    assert [r.event_id for r in sent] == [f"e{i}" for i in range(60)]  # held ones are sent, in order
    box.done("e0")
    filler.unlink()
    assert wait_for(lambda: (box.flush(), box.write_error is None)[1], 3)  # retried once a second
    box.close()
    again = Outbox(small_disk / "outbox.sqlite")
    assert again.pending_alerts() == 59
    # The one delivered while held is not sent again, but its alert state is on disk with the rest.
    assert {u["alert_id"] for u in again.open_alerts()} == {u["alert_id"] for u in updates}
    again.close()


# -- end to end: SIGKILL and restart, a real broker and staff ------------------------------------------


def online(staff: Client, boot_id: str) -> bool:
    """The robot's status says online for this boot: it subscribed to its commands first."""
    return any(m.json().get("boot_id") == boot_id and m.json()["state"] == "online" for m in staff.of("/status"))


def staff_acknowledges(staff: Client, rt: Runtime, alert_id: str, cmd_id: str) -> None:
    """A staff ack through the broker and the robot's decoder: accepted, and the resident hears help is coming."""
    ack = {"schema": "carebot/cmd-ack/1", "cmd_id": cmd_id, "ts": time.time(), "alert_id": alert_id, "by": STAFF}
    assert staff.publish(f"{CMD}/ack", json.dumps(ack)) < 0x80
    assert wait_for(lambda: alerts(staff, state="acknowledged", alert_id=alert_id), 30)
    assert wait_for(lambda: rt.said[-1].key == "help_coming", 15)


def durable_config(config: Config, broker: Broker) -> Config:
    cfg = robot_config(config, broker)
    return cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"escalate_high_s": (6.0, 12.0)})})


def test_after_sigkill_the_alert_escalates_on_staff_ack_and_resolve_work_and_the_resident_is_told(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    cfg = durable_config(config, broker)
    child = robot_process(cfg, tmp_path, then='rt.hear("help me please, I fell")')  # the words, the real door
    try:
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 30)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    raised = alerts(staff, type="help_request")[0]
    alert_id = raised["alert_id"]
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        # The resident is told, and the robot is with them again.
        assert wait_for(lambda: rt.behaviour.state == "alerting", 10)
        # (If the broker's receipt was written before the kill; if not, the robot checks first, and the resend's
        # receipt shows staff have it.)
        assert wait_for(lambda: [s.key for s in rt.said] in (["help_still_coming"],
                                                              ["help_checking", "help_still_coming"]), 15)
        # Escalation resumes on the schedule of the original raise.
        assert wait_for(lambda: alerts(staff, state="escalated", boot_id=rt.boot_id), 20)
        step = alerts(staff, state="escalated", boot_id=rt.boot_id)[0]
        assert (step["alert_id"], step["level"]) == (alert_id, 1)
        assert step["ts"] >= raised["raised_ts"] + 6.0
        # Staff ack through the broker and the decoder: accepted, and the resident hears it.
        staff_acknowledges(staff, rt, alert_id, "a" * 32)
    finally:
        rt.stop()
    # A second restart keeps the acknowledgement: no more escalation, and the resident hears help is coming.
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "alerting", 10)
        assert wait_for(lambda: [s.key for s in rt.said] == ["help_coming"], 15)
        assert wait_for(lambda: online(staff, rt.boot_id), 10)  # subscribed to commands
        resolve = {"schema": "carebot/cmd-resolve/1", "cmd_id": "b" * 32, "ts": time.time(), "alert_id": alert_id,
                   "by": STAFF}
        assert staff.publish(f"{CMD}/resolve", json.dumps(resolve)) < 0x80
        assert wait_for(lambda: alerts(staff, state="resolved", alert_id=alert_id), 30)
        assert wait_for(lambda: rt.behaviour.state == "idle", 15)
        assert rt.link is not None and wait_for(lambda: rt.link is not None and not rt.link.outbox.open_alerts(), 15)
        assert [a["alert_id"] for a in alerts(staff)] == [alert_id] * len(alerts(staff))  # one alert, one id
    finally:
        rt.stop()


def test_with_the_disk_full_help_still_reaches_staff_the_fault_is_reported_and_clears(
        config: Config, broker: Broker, staff: Client, small_disk: Path) -> None:
    cfg = robot_config(config, broker, outbox_min_free_mb=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"state_dir": small_disk / "state"})})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: online(staff, rt.boot_id) and rt.behaviour.state == "idle", 10)
        filler = fill(small_disk)
        rt.hear("help me please, I fell")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10)
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="raised"), 5)
        assert rt.behaviour.state == "alerting"
        alert_id = alerts(staff, type="help_request")[0]["alert_id"]
        filler.unlink()
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="cancelled"), 5)
        assert rt.link is not None
        assert wait_for(lambda: alert_id in {u["alert_id"] for u in rt.link.outbox.open_alerts()}, 3)
    finally:
        rt.stop()


def test_an_audit_log_that_cannot_write_is_a_storage_fault_for_staff_and_the_gap_is_recorded(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    """Only the audit log's file fails (a bad block, a file made read-only): the outbox works, so nothing else
    would tell anyone that the robot's record of what it did has stopped."""
    from robot.audit import verify

    cfg = robot_config(config, broker)
    cfg = cfg.model_copy(update={"log": cfg.log.model_copy(update={"audit_flush_s": 0.1})})
    rt = Runtime(cfg, simulate=True)
    audit = Path(cfg.robot.state_dir) / "audit.jsonl"
    rt.start()
    mounted = False
    try:
        assert wait_for(lambda: online(staff, rt.boot_id) and rt.behaviour.state == "idle", 15)
        assert wait_for(lambda: audit.stat().st_size > 0, 5)
        if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(audit), str(audit)]).returncode != 0:
            pytest.skip("needs root to bind-mount the audit file")
        mounted = True
        subprocess.run(["mount", "-o", "remount,ro,bind", str(audit)], check=True)
        rt.hear("help me please, I fell")  # records to write: the state changes, the alert
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10)  # help goes out first
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="raised"), 5)
        subprocess.run(["umount", str(audit)], check=True)
        mounted = False
        rt.hear("thank you")  # more records: the first good write clears the fault
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="cancelled"), 5)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(audit)], check=False)
        rt.stop()
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    gaps = [r["data"]["lost"] for r in records if r["kind"] == "audit_gap"]
    assert len(gaps) == 1 and gaps[0] >= 2, gaps  # where records are missing, and how many
    assert verify(audit).ok  # the chain is whole across the gap


def test_a_restored_fault_alert_is_cancelled_unless_its_fault_comes_back(config: Config) -> None:
    policy = EscalationPolicy()
    before = AlertManager(policy)
    _, camera = before.raise_alert("robot_fault", "medium", "lounge", 0.0, 1.7e9, fault="camera")
    _, servo = before.raise_alert("robot_fault", "medium", "lounge", 0.0, 1.7e9, fault="servo")
    after = AlertManager(policy)
    updates: collections.deque[dict[str, object]] = collections.deque()
    schedule = Schedule(config.schedule, config.quiet_hours, lambda *a, **k: True)
    staff = StaffChannel("lounge", after, ActivityCounter(900, 1.7e9), None, lambda kind, data: None,
                         lambda trigger, **kw: True, schedule, collections.deque(), updates)
    staff.adopt(after.restore([camera, servo], now=0.0, wall=1.7e9 + 10))
    staff.tick(1.0)
    staff.fault("servo", True, 5.0)  # the servo is still out: its alert stands for it, no second alert
    staff.tick(1.0 + RESTORED_FAULT_GRACE_S - 0.1)
    assert list(updates) == []
    staff.tick(1.0 + RESTORED_FAULT_GRACE_S)
    assert [(u["fault"], u["state"]) for u in updates] == [("camera", "cancelled")]
    staff.fault("servo", False, 200.0)
    assert [(u["fault"], u["state"]) for u in updates][-1] == ("servo", "cancelled")
    assert after.open_alerts() == []


def test_a_storage_fault_that_comes_and_goes_is_one_alert_not_one_a_second(config: Config) -> None:
    """A worn card whose audit writes fail now and then (or a nearly full disk where big batches fail and small ones
    fit): the first recovery clears the fault at once, but one that comes back soon after is flapping, and staff
    must not get a new robot_fault alert (and its pages) every second or two; it is held until storage has been
    good for a while. The outbox and the audit log failing at different times keep it raised until both write."""
    from types import SimpleNamespace

    updates: collections.deque[dict[str, object]] = collections.deque()
    schedule = Schedule(config.schedule, config.quiet_hours, lambda *a, **k: True)
    outbox = SimpleNamespace(write_error=None)
    staff = StaffChannel("lounge", AlertManager(EscalationPolicy()), ActivityCounter(900, 1.7e9), None,
                         lambda kind, data: None, lambda trigger, **kw: True, schedule, collections.deque(), updates)
    staff.link = SimpleNamespace(outbox=outbox, submit=lambda kind, update: None)  # type: ignore[assignment]
    audit: list[str | None] = [None]
    staff.audit_error = lambda: audit[0]

    def storage() -> list[object]:
        return [u["state"] for u in updates if u.get("fault") == "storage"]

    audit[0] = "audit log: [Errno 5] Input/output error"
    staff.tick(1.0)
    audit[0] = None
    staff.tick(2.0)
    assert storage() == ["raised", "cancelled"]  # one failure, one recovery: cleared at once
    t = 3.0
    while t < 300.0:  # then it fails every other write
        audit[0] = "audit log: [Errno 5] Input/output error" if int(t) % 2 else None
        staff.tick(t)
        t += 0.5
    assert storage() == ["raised", "cancelled", "raised"], storage()  # not raised and cancelled every 2 s
    audit[0] = None
    staff.tick(t)
    assert storage()[-1] == "raised"
    staff.tick(t + 1000.0)  # good for long enough: cleared
    assert storage()[-1] == "cancelled"
    outbox.write_error = "outbox: disk full"
    staff.tick(t + 2000.0)
    audit[0] = "audit log: disk full"
    outbox.write_error = None  # the outbox writes again; the audit log does not
    for step in range(1, 2000):
        staff.tick(t + 2000.0 + step)
    assert storage()[-1] == "raised"
    audit[0] = None
    staff.tick(t + 5000.0)
    assert storage()[-1] == "cancelled"


def test_a_fault_alert_staff_resolved_while_the_fault_lasted_clears_without_breaking_the_tick(config: Config) -> None:
    """A nurse resolves the storage robot_fault on the staff station (the card is still failing); later the card
    writes again. Clearing the fault cancelled an alert that was no longer open: UnknownAlert out of the staff
    channel's tick, a control tick that raised (a tick_exception fault, the rest of that tick not run)."""
    updates: collections.deque[dict[str, object]] = collections.deque()
    schedule = Schedule(config.schedule, config.quiet_hours, lambda *a, **k: True)
    manager = AlertManager(EscalationPolicy())
    staff = StaffChannel("lounge", manager, ActivityCounter(900, 1.7e9), None, lambda kind, data: None,
                         lambda trigger, **kw: True, schedule, collections.deque(), updates)
    audit: list[str | None] = ["audit log: [Errno 30] Read-only file system"]
    staff.audit_error = lambda: audit[0]
    staff.tick(1.0)
    (fault,) = [u for u in updates if u.get("fault") == "storage"]
    staff.command("resolve", {"alert_id": fault["alert_id"]})  # the nurse clears it from her screen
    audit[0] = None
    staff.tick(2.0)  # raised UnknownAlert
    assert [u["state"] for u in updates if u.get("fault") == "storage"] == ["raised", "resolved"]
    assert manager.open_alerts() == []
    audit[0] = "audit log: [Errno 5] Input/output error"
    staff.tick(10_000.0)  # it fails again, long after: staff hear of it again
    assert [u["state"] for u in updates if u.get("fault") == "storage"][-1] == "raised"


def test_an_outbox_that_cannot_open_its_file_runs_in_memory_from_what_the_file_held(small_disk: Path) -> None:
    path = small_disk / "outbox.sqlite"
    m = AlertManager()
    old, raised = m.raise_alert("help_request", "high", "lounge", 0.0, 1.7e9)
    box = Outbox(path)
    box.add("e1", "alert", PRIORITY["alert:high"], "t/alert", stored(raised, "e1"))
    box.close()
    filler = fill(small_disk)
    box = Outbox(path)  # a restart on a full disk: the file does not open
    assert not box.on_disk and box.write_error is not None
    assert [u["alert_id"] for u in box.open_alerts()] == [old.alert_id]  # restored all the same
    assert [r.event_id for r in box.next(10, set())] == ["e1"]  # and replayed
    box.done("e1")
    new, update = m.raise_alert("help_request", "high", "lounge", 1.0, 1.7e9 + 1)
    assert box.add("e2", "alert", PRIORITY["alert:high"], "t/alert", stored(update, "e2"))
    box.add("e3", "alert", PRIORITY["alert:high"], "t/alert", stored(m.resolve(old.alert_id), "e3"))
    assert box.write_error is not None
    filler.unlink()
    assert wait_for(lambda: (box.flush(), box.on_disk and box.write_error is None)[1], 3)
    box.close()
    again = Outbox(path)
    assert [u["alert_id"] for u in again.open_alerts()] == [new.alert_id]
    assert [r.event_id for r in again.next(10, set())] == ["e2", "e3"]  # e1 was delivered meanwhile
    again.close()


def help_reaches_staff_with_a_storage_fault(cfg: Config, staff: Client) -> None:
    """The robot starts with `cfg`; a resident asks for help: staff get it and a storage fault, and she hears it."""
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: online(staff, rt.boot_id) and rt.behaviour.state == "idle", 15)
        rt.hear("help me please, I fell")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10)
        assert wait_for(lambda: alerts(staff, type="robot_fault", fault="storage", state="raised"), 5)
        assert wait_for(lambda: [s.key for s in rt.said][:1] == ["help_called"], 3)
    finally:
        rt.stop()


def test_a_robot_that_starts_on_a_full_disk_takes_help_to_staff(
        config: Config, broker: Broker, staff: Client, small_disk: Path) -> None:
    cfg = robot_config(config, broker, outbox_min_free_mb=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"state_dir": small_disk / "state"})})
    (small_disk / "state").mkdir()
    fill(small_disk)
    help_reaches_staff_with_a_storage_fault(cfg, staff)


def test_a_robot_that_starts_on_a_read_only_card_takes_help_to_staff_and_reports_it(
        config: Config, broker: Broker, staff: Client, small_disk: Path) -> None:
    """A worn SD card is remounted read-only by the kernel (ext4 errors=remount-ro); the robot restarts on it."""
    cfg = robot_config(config, broker, outbox_min_free_mb=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"state_dir": small_disk / "state"})})
    first = Runtime(cfg, simulate=True)  # the robot's files exist from an earlier boot
    first.start()
    first.stop()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    # The servo simulator's pty link is the one file a real robot (no simulator) does not have: it keeps a
    # writable place of its own, so that only the robot's own files meet the read-only card.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small_disk / "state" / "sim")], check=True)
    help_reaches_staff_with_a_storage_fault(cfg, staff)


def test_a_robot_killed_mid_audit_write_that_restarts_on_a_read_only_card_takes_help_to_staff(
        config: Config, broker: Broker, staff: Client, small_disk: Path) -> None:
    """A power cut while an audit batch was being written, then the worn card remounted read-only: the torn line
    cannot be cut off at start, and AuditLog raised out of Runtime.start, so the robot could not boot at all."""
    cfg = robot_config(config, broker, outbox_min_free_mb=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"state_dir": small_disk / "state"})})
    first = Runtime(cfg, simulate=True)
    first.start()
    first.stop()
    with (small_disk / "state" / "audit.jsonl").open("ab") as f:
        f.write(b'{"data": {"dest": "aler')  # the power went mid-write
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small_disk / "state" / "sim")], check=True)
    help_reaches_staff_with_a_storage_fault(cfg, staff)


def test_killed_after_the_broker_took_help_but_before_its_receipt_the_resident_hears_help_is_still_coming(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    """Staff have the alert; the broker's receipt (PUBACK) never reached the robot before the kill. Restarted, the
    robot cannot know staff have it until the resend's receipt: it says help is still coming then, and never
    that staff were not reached (that would send a resident who has been heard to the call button)."""
    import sqlite3

    from .tcp_proxy import Link

    link = Link(broker.port)
    cfg = durable_config(config, broker)
    cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"port": link.port})})
    box = Path(cfg.robot.state_dir) / "outbox.sqlite"
    ready, go = tmp_path / "ready", tmp_path / "go"
    child = robot_process(cfg, tmp_path, then=(
        "import pathlib\n"
        "while not rt.link.connected: time.sleep(0.02)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\n"
        'rt.hear("help me please, I fell")'))  # the words, the real door
    try:
        assert wait_for(ready.exists, 30)
        link.hold_replies()  # the robot's messages go through; the broker's receipts do not come back
        go.touch()
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 30)  # staff have it
        time.sleep(0.5)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    with sqlite3.connect(f"file:{box}?mode=ro", uri=True) as db:  # the receipt was lost: the row still waits
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").fetchone()[0] >= 1
    link.restore()
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "alerting", 10)
        assert wait_for(lambda: [s.key for s in rt.said] == ["help_checking", "help_still_coming"], 15)
        time.sleep(RESTORE_GRACE_S + 0.5)
        assert [s.key for s in rt.said] == ["help_checking", "help_still_coming"]  # no "not reached" after it
        raised = alerts(staff, type="help_request", state="raised")
        assert len({(r["alert_id"], r["event_id"]) for r in raised}) == 1  # the resend is the same alarm
    finally:
        rt.stop()
        link.close()


def test_killed_while_an_escalation_waits_for_a_lost_link_staff_still_have_the_call_and_the_resident_hears_so(
        config: Config, broker: Broker, staff: Client, tmp_path: Path) -> None:
    """The broker took the help request (its receipt written); then the link went and the escalation's update waits
    in the outbox; then a power cut. Restarted with the link still down, the robot knows staff have the call (only
    a later update waits): it says help is still coming, never that staff have not been reached (that, then 'got
    through now', would be false of a call staff have had for minutes), as it did before the restart."""
    import sqlite3

    from .tcp_proxy import Link

    link = Link(broker.port)
    cfg = durable_config(config, broker)
    cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"port": link.port})})
    box = Path(cfg.robot.state_dir) / "outbox.sqlite"

    def waiting() -> list[str]:
        try:
            with sqlite3.connect(f"file:{box}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT payload FROM outbox WHERE kind = 'alert'").fetchall()
        except sqlite3.Error:
            return ["?"]
        return [json.loads(r[0])["state"] for r in rows]

    child = robot_process(cfg, tmp_path, then='rt.hear("help me please, I fell")')  # the words, the real door
    try:
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 30)  # staff have it
        assert wait_for(lambda: waiting() == [], 10)  # ... and the robot has the broker's receipt
        link.cut()  # the home's link goes
        assert wait_for(lambda: waiting() == ["escalated"], 15)  # nobody answered: the escalation waits
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "alerting" and bool(rt.said), 15)
        time.sleep(RESTORE_GRACE_S + 1.0)
        said = [s.key for s in rt.said]
        assert "help_not_reached" not in said, said  # staff have had the call since before the restart
        assert said[:1] == ["help_still_coming"], said
        link.restore()
        assert wait_for(lambda: alerts(staff, type="help_request", state="escalated"), 30)
        time.sleep(0.5)
        assert "help_reached" not in [s.key for s in rt.said]  # nothing new reached them: no news to tell
        raised = alerts(staff, type="help_request", state="raised")
        assert len({(r["alert_id"], r["event_id"]) for r in raised}) == 1  # one alarm
    finally:
        rt.stop()
        link.close()


def test_killed_with_help_not_yet_at_the_broker_it_goes_out_once_and_nobody_hears_help_is_coming_before(
        config: Config, tmp_path: Path) -> None:
    """A power cut while the broker is away: the help request is committed, never acknowledged by it."""
    import sqlite3

    broker = Broker(tmp_path / "b")  # configured, not started
    cfg = robot_config(config, broker)
    cfg = cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"not_reached_s": 60.0})})
    box = Path(cfg.robot.state_dir) / "outbox.sqlite"

    def queued() -> int:
        try:
            with sqlite3.connect(f"file:{box}?mode=ro", uri=True) as db:
                return int(db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'").fetchone()[0])
        except sqlite3.Error:
            return 0

    child = robot_process(cfg, tmp_path, then='rt.hear("help me please, I fell")')  # the words, the real door
    try:
        assert wait_for(lambda: queued() == 1, 30)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    rt = Runtime(cfg, simulate=True)
    rt.start()
    staff = None
    try:
        assert wait_for(lambda: rt.behaviour.state == "alerting" and bool(rt.said), 15)
        assert [s.key for s in rt.said] == ["help_checking"]  # at once: it is with her, and checking
        assert wait_for(lambda: "help_not_reached" in [s.key for s in rt.said], RESTORE_GRACE_S + 5)
        said = [s.key for s in rt.said]
        assert "help_still_coming" not in said and "help_coming" not in said, said  # staff do not have it
        assert said[:2] == ["help_checking", "help_not_reached"], said  # the call button, after the grace
        broker.start()
        staff = Client(broker, STAFF)
        assert staff.connect() == 0
        staff.subscribe(f"carebot/v1/{SITE}/#")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 30)
        assert wait_for(lambda: [s.key for s in rt.said][-1] == "help_reached", 5)
        time.sleep(1.0)  # nothing more comes for it
        raised = alerts(staff, type="help_request", state="raised")
        assert len({(r["alert_id"], r["event_id"]) for r in raised}) == 1  # one alarm: no second resident
    finally:
        rt.stop()
        if staff is not None:
            staff.close()
        broker.stop()
