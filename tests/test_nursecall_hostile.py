"""The paging side attacked: a damaged or full record file, a flood of forged alerts. Real parts throughout:
the simulated paging system on a real pseudo-terminal, sqlite on a real file (a full disk is a file-size limit
set in a child process: the kernel's own EFBIG)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from hardware.espa_sim import PagingSystem, PtyPagingSystem
from robot.config import Config
from robot.config_nursecall import NursecallSection
from robot.runtime import Runtime

from .broker import ROBOTS, Broker, Client, alerts
from .conftest import ROOT, running, wait_for


def test_a_damaged_record_file_does_not_stop_the_robot_and_help_is_still_paged(config: Config,
                                                                                tmp_path: Path) -> None:
    record = tmp_path / "paged.sqlite"
    record.write_bytes(b"this is not a database, a card that browned out mid-write" * 100)
    line = NursecallSection(enabled=True, port=str(tmp_path / "paging"), response_timeout_s=1.0, retries=1,
                            poll_interval_s=0.2, retry_after_s=0.5, record_file=record)
    with PtyPagingSystem(PagingSystem(), link=tmp_path / "paging", baud=9600) as sim:
        with running(config.model_copy(update={"nursecall": line})) as rt:
            rt.hear("help me please, I fell")
            assert wait_for(lambda: [u for u in rt.alert_updates if u["type"] == "help_request"], 10), \
                "the help request did not reach staff"
            assert sim.wait_calls(1, 10)[0].text == "Help request, room lounge"
    assert list(tmp_path.glob("paged.sqlite.damaged-*")), "the damaged file was not kept aside for a technician"


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys, time
    from pathlib import Path
    from robot.config_nursecall import NursecallSection
    from robot.nursecall import PagedRecord, Pager
    from robot.nursecall_line import PagingLine, open_line

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG, the process lives
    cfg = NursecallSection(enabled=True, port=sys.argv[1], response_timeout_s=1.0, retries=1, poll_interval_s=0.1,
                           retry_after_s=0.2, record_file=Path(sys.argv[2]))
    record = PagedRecord(cfg.record_file)
    full = Path(f"{cfg.record_file}-wal").stat().st_size  # the write-ahead log, where every commit goes
    resource.setrlimit(resource.RLIMIT_FSIZE, (full, full))  # from here no record file can grow
    pager = Pager(cfg, record)
    line = PagingLine(cfg, pager, lambda: open_line(cfg), lambda faulted: None)
    pager.take({"alert_id": "a" * 32, "robot": "robot-1", "state": "raised", "level": 0, "priority": "high",
                "type": "help_request", "room": "12", "raised_ts": 1.0})
    end = time.monotonic() + 2
    while time.monotonic() < end:
        try:
            line.step(time.sleep)
        except Exception as exc:  # as the gateway's loop: log, pause a second, go on
            print("loop failed:", type(exc).__name__, exc, flush=True)
            time.sleep(1.0)
        pager.take({"alert_id": "a" * 32, "robot": "robot-1", "state": "raised", "level": 0, "priority": "high",
                    "type": "help_request", "room": "12", "raised_ts": 1.0})  # its retained copy, read again
    print("owed", len(pager.pending), flush=True)
""")


def test_a_full_disk_under_the_record_pages_a_call_once_not_again_and_again(tmp_path: Path) -> None:
    with PtyPagingSystem(PagingSystem(), link=tmp_path / "paging", baud=9600) as sim:
        out = subprocess.run([sys.executable, "-c", DISK_FULL, sim.port, str(tmp_path / "paged.sqlite")],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                             text=True, timeout=30)
        calls = list(sim.system.calls)
    assert "owed 0" in out.stdout, out.stdout + out.stderr
    assert len(calls) == 1, f"paged {len(calls)} times: {out.stdout}{out.stderr[-2000:]}"
    assert "cannot record" in out.stderr, "the failed commit was not logged"


def test_a_flood_of_forged_alerts_from_one_account_neither_starves_other_robots_nor_grows_without_end(
        tmp_path: Path) -> None:
    from robot.nursecall import MAX_OWED_PER_ROBOT, PagedRecord, Pager

    from .test_nursecall import CFG, alert

    pager = Pager(CFG, PagedRecord(tmp_path / "paged.sqlite"))
    for n in range(200):  # a hostile account on the broker: its own tree, high alerts claiming to be the oldest
        pager.take({**alert(alert_id=f"{n:032x}", robot="robot-2"), "raised_ts": 0.0})
    pager.take(alert(alert_id="f" * 32, robot="robot-1"))   # a resident's real help request
    assert len(pager.pending) == MAX_OWED_PER_ROBOT + 1
    served = []
    for _ in range(3):
        call = pager.next_call()
        assert call is not None
        served.append(call.alert_id)
        pager.delivered(call)
    assert "f" * 32 in served[:2], "the real help request waited behind the forged ones"


def test_a_call_the_paging_system_always_refuses_does_not_hold_back_the_others(tmp_path: Path) -> None:
    from robot.nursecall import PagedRecord, Pager
    from robot.nursecall_line import PagingLine, open_line

    from .test_nursecall import alert

    cfg = NursecallSection(enabled=True, port=str(tmp_path / "paging"), response_timeout_s=0.3, retries=1,
                           poll_interval_s=0.1, retry_after_s=1.0, record_file=tmp_path / "paged.sqlite",
                           call_address={"high": "100", "medium": "205"})
    pager = Pager(cfg, PagedRecord(cfg.record_file))
    line = PagingLine(cfg, pager, lambda: open_line(cfg), lambda faulted: None)
    # A display of 30 characters NAKs a longer text: a room token of 32 characters (a hostile or odd robot
    # account) makes a call that never gets through, and it claims to be the oldest.
    system = PagingSystem(max_text=30)
    with PtyPagingSystem(system, link=tmp_path / "paging", baud=9600):
        try:
            pager.take({**alert(alert_id="b" * 32, robot="robot-2", room="r" * 32), "raised_ts": 0.0})
            pager.take(alert(alert_id="a" * 32, robot="robot-1", room="12"))
            end = time.monotonic() + 5
            while not system.calls and time.monotonic() < end:
                line.step(time.sleep)
        finally:
            line.close()
    assert [c.text for c in system.calls] == ["Help request, room 12"], "a refused call held the line"
    assert list(pager.pending) == ["b" * 32] and line.call_failed


def test_an_alert_observer_that_fails_never_stops_the_alert_to_staff(robot: Runtime, staff: Client) -> None:
    # The paging side hears of each alert update from the staff channel; whatever it does, the help request
    # still reaches staff over MQTT (through the real doors: the words, the dialog engine, the outbox).
    def broken(update: dict[str, Any]) -> None:
        raise RuntimeError("a paging part gone wrong")

    robot.staff.observers.insert(0, broken)
    robot.hear("help me please, I fell")
    assert wait_for(lambda: alerts(staff, robot=ROBOTS[0], type="help_request", state="raised"), 10), \
        "the help request never reached staff"
    assert robot.behaviour.state != "fault"


FULL_AT_START = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from robot.nursecall import PagedRecord

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    path = Path(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, path.stat().st_size))  # the disk is full
    record = PagedRecord(path)
    print("wants", record.wants("a" * 32, 0), flush=True)
""")


def test_a_full_disk_at_start_keeps_a_sound_record_file_where_it_is(tmp_path: Path) -> None:
    from robot.nursecall import PagedRecord

    path = tmp_path / "paged.sqlite"
    record = PagedRecord(path)
    record.done("a" * 32, 0)
    record.close()
    out = subprocess.run([sys.executable, "-c", FULL_AT_START, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "wants" in out.stdout, out.stderr[-2000:]
    assert not list(tmp_path.glob("*.damaged-*")), "a sound record was moved aside as damaged on a full disk"
    assert not PagedRecord(path).wants("a" * 32, 0)  # the disk freed: what was paged is still known


def test_a_flood_of_messages_from_one_account_is_cut_to_its_budget_and_others_still_get_in(
        broker: Broker, config: Config, tmp_path: Path) -> None:
    from paho.mqtt.client import MQTTMessage

    from robot.nursecall_gateway import BURST, Gateway

    from .broker import SITE
    from .test_nursecall import gateway_config

    gw = Gateway(gateway_config(config, broker, str(tmp_path / "no-line"), tmp_path / "gw"))
    try:
        def arrive(robot: str, payload: bytes) -> None:  # as paho hands a message to the gateway
            message = MQTTMessage(topic=f"carebot/v1/{SITE}/{robot}/alert".encode())
            message.payload = payload
            gw.client.on_message(gw.client, None, message)

        for n in range(20000):  # a hostile account on the broker, as fast as it can
            arrive(ROBOTS[1], b'{"flood": %d}' % n)
        arrive(ROBOTS[0], b'{"a real": "alert"}')
        queued = [gw.inbox.get_nowait() for _ in range(gw.inbox.qsize())]
        assert len(queued) <= BURST + 5 and queued[-1][0].endswith(f"/{ROBOTS[0]}/alert")
        assert gw.flooded >= 20000 - BURST - 5
    finally:
        gw.record.close()
