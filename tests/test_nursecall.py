"""Alerts to the paging system: the mapping and the durable record (fast), then through the real doors: the
words through the robot's dialog engine, the alert through its outbox and a real mosquitto, the gateway, a
pseudo-terminal and the simulated paging system; and a gateway killed and restarted pages each alert once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware import espa
from hardware.espa_sim import PagingSystem, PtyPagingSystem
from robot.config import Config
from robot.config_load import check_config
from robot.config_nursecall import NursecallSection
from robot.nursecall import PagedRecord, Pager, call_for
from robot.nursecall_gateway import Gateway
from robot.runtime import Runtime

from .broker import NURSECALL, ROBOTS, SITE, Broker, Client, alerts, robot_config
from .conftest import ROOT, wait_for

CFG = NursecallSection(call_address={"high": "100", "medium": "205"}, beep={"high": "1"})


def alert(state: str = "raised", level: int = 0, priority: str = "high", alert_id: str = "a" * 32,
          robot: str = "robot-1", kind: str = "help_request", room: str = "12") -> dict[str, Any]:
    return {"alert_id": alert_id, "robot": robot, "state": state, "level": level, "priority": priority,
            "type": kind, "room": room, "raised_ts": 1.0}


def test_a_help_request_becomes_a_call_of_fixed_words_and_the_room_token() -> None:
    call = call_for(alert(), CFG)
    assert call is not None and (call.address, call.text) == ("100", "Help request, room 12")
    assert call.block == espa.call_block("100", "Help request, room 12", beep="1", priority="2")
    medium = call_for(alert(priority="medium", kind="wellbeing_concern"), CFG)
    assert medium is not None and medium.address == "205" and medium.block.endswith(b"6\x1f1\x03" + medium.block[-1:])
    assert call_for(alert(priority="low"), CFG) is None
    assert call_for(alert(state="acknowledged"), CFG) is None
    german = NursecallSection(language="de", templates={"de": {"help_request": "Notruf Zimmer {room}"}})
    assert german.text("help_request", "3") == "Notruf Zimmer 3"
    assert german.text("robot_fault", "3") == "CareBot Fehler, Zimmer 3"


def test_escalations_repeat_acks_and_closes_stop_and_a_restart_pages_nothing_twice(tmp_path: Path) -> None:
    record = PagedRecord(tmp_path / "paged.sqlite")
    pager = Pager(CFG, record, own_robot="nursecall")
    pager.take(alert())
    call = pager.next_call()
    assert call is not None and call.level == 0
    pager.delivered(call)
    pager.take(alert())                                 # the retained copy of what was paged
    pager.take(alert(level=1, state="escalated"))       # escalation: paged again
    call = pager.next_call()
    assert call is not None and call.level == 1
    pager.delivered(call)
    pager.take(alert(level=0))                          # an older update delivered late
    pager.take(alert(level=1, state="acknowledged"))
    pager.take(alert(alert_id="b" * 32, level=2, state="acknowledged"))
    pager.take(alert(alert_id="b" * 32, level=2, state="escalated"))   # acknowledged at this step already
    pager.take(alert(alert_id="b" * 32, level=3, state="escalated"))   # asked again after the ack: paged
    pager.take(alert(alert_id="c" * 32, priority="medium"))
    pager.take(alert(alert_id="d" * 32))
    pager.closed("d" * 32)                                              # resolved before it went out
    pager.take(alert(alert_id="e" * 32, robot="nursecall"))             # the gateway's own fault alert
    assert [(c.alert_id[0], c.level) for c in sorted(pager.pending.values(), key=lambda c: c.alert_id)] == \
        [("b", 3), ("c", 0)]
    assert pager.next_call() == pager.pending["b" * 32]                 # high before medium
    record.close()
    again = Pager(CFG, PagedRecord(tmp_path / "paged.sqlite"))          # a restarted gateway, same record
    for body in (alert(level=1, state="escalated"), alert(alert_id="d" * 32), alert(alert_id="c" * 32)):
        again.take(body)
    assert list(again.pending) == ["c" * 32]


def test_config_check_says_what_is_wrong_with_the_nursecall_section(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[nursecall]\nenabled = true\nframing = "9X1"\n'
                    'templates = { en = { help_request = "Hilfe f\u00fcr {room}" }, de = { help = "x" } }\n')
    problems = [str(p) for p in check_config(path)]
    assert any("nursecall.framing" in p and "9X1" in p for p in problems)
    assert any("printable 7-bit" in p and "en.help_request" in p for p in problems)
    path.write_text('[nursecall]\nenabled = true\nown_address = "2"\n')
    problems = [str(p) for p in check_config(path)]
    assert any("no port" in p for p in problems)


# -- through the real doors --------------------------------------------------------------------------------


def gateway_config(config: Config, broker: Broker, port: str, state: Path, **nursecall: Any) -> Config:
    data = config.model_dump(exclude={"source"})
    data["robot"].update(id=NURSECALL, site=SITE, state_dir=state)
    data["mqtt"] = broker.robot_mqtt(NURSECALL)
    data["nursecall"] = {"enabled": True, "port": port, "response_timeout_s": 1.0, "retries": 2,
                         "retry_after_s": 0.3, "poll_interval_s": 0.2, "record_file": state / "paged.sqlite",
                         "call_address": {"high": "100", "medium": "205"}, **nursecall}
    return Config.model_validate(data)


@pytest.fixture
def paging(tmp_path: Path) -> Iterator[PtyPagingSystem]:
    with PtyPagingSystem(PagingSystem(address="2", peer="1"), link=tmp_path / "paging", baud=9600) as sim:
        yield sim


def run_gateway(cfg: Config) -> tuple[Gateway, threading.Thread]:
    gw = Gateway(cfg)
    thread = threading.Thread(target=gw.run, daemon=True)
    thread.start()
    return gw, thread


def test_a_dead_line_or_a_pulled_adapter_is_a_fault_and_help_gets_through_naks_a_corrupt_bcc_and_escalates(
        broker: Broker, staff: Client, paging: PtyPagingSystem, config: Config, tmp_path: Path) -> None:
    from robot.config import AlertsSection

    robot_cfg = robot_config(config, broker, heartbeat_s=1)
    robot = Runtime(robot_cfg.model_copy(update={"alerts": AlertsSection(escalate_high_s=(4.0,))}), simulate=True)
    robot.start()
    paging.system.silent = True  # the paging system is off before any alert: staff hear of it now
    gw, thread = run_gateway(gateway_config(config, broker, paging.port, tmp_path / "gw"))
    try:
        assert wait_for(lambda: robot.link is not None and robot.link.connected and robot.behaviour.state == "idle",
                        10)
        assert wait_for(lambda: alerts(staff, robot=NURSECALL, fault="nursecall_link", state="raised"), 10)
        paging.system.silent = False
        assert wait_for(lambda: alerts(staff, robot=NURSECALL, state="resolved"), 10), "the fault did not clear"
        paging.unplug()  # the USB serial adapter pulled out, then put back: the gateway opens the port again
        assert wait_for(lambda: len(alerts(staff, robot=NURSECALL, fault="nursecall_link", state="raised")) == 2, 10)
        paging.replug()
        assert wait_for(lambda: len(alerts(staff, robot=NURSECALL, state="resolved")) == 2, 10), "not reopened"
        paging.system.nak_blocks, paging.system.corrupt_blocks = 1, 1
        robot.hear("help me please, I fell")
        calls = paging.wait_calls(1, 10)
        assert [(c.address, c.priority, c.text) for c in calls] == [("100", "2", "Help request, room lounge")]
        assert paging.system.naks_sent == 2
        # the paging system records the call at its ACK, before the gateway has read that ACK and cleared its fault
        assert wait_for(lambda: gw.fault_alert is None, 5)
        # Nobody acknowledged it: the robot escalates at +4 s and the gateway pages it again, once.
        assert len(paging.wait_calls(2, 10)) == 2
        help_id = alerts(staff, robot=ROBOTS[0], type="help_request")[0]["alert_id"]
        staff.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/ack", _command("ack", alert_id=help_id))
        assert wait_for(lambda: alerts(staff, alert_id=help_id, state="acknowledged"), 10)
        time.sleep(1.0)
        assert len(paging.system.calls) == 2
    finally:
        gw.stop()
        thread.join(5)
        robot.stop()


GATEWAY = "import sys; from robot.cli import main; sys.exit(main(['nursecall', '--config', sys.argv[1]]))"


def start_gateway(cfg: Config, directory: Path) -> subprocess.Popen[bytes]:
    toml = directory / "gateway.toml"
    toml.write_text(_toml(cfg.model_dump(mode="json", exclude={"source"}, exclude_none=True)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(directory / "gateway.log", "ab") as log:  # read when a test fails
        return subprocess.Popen([sys.executable, "-c", GATEWAY, str(toml)], cwd=ROOT, env=env,
                                stdout=log, stderr=log)


def _toml(data: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v).replace("'", '"') if isinstance(v, str) else str(v)
    out = []
    for section in ("robot", "mqtt", "nursecall"):
        out.append(f"[{section}]")
        out += [f"{k} = {value(v)}" for k, v in data[section].items()]
    return "\n".join(out) + "\n"


def test_a_gateway_killed_mid_alert_and_restarted_pages_each_alert_once_and_faults_show(
        robot: Runtime, broker: Broker, paging: PtyPagingSystem, config: Config, tmp_path: Path) -> None:
    cfg = gateway_config(config, broker, paging.port, tmp_path / "gw")
    staff = Client(broker, "staff-desk")
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    paging.system.silent = True                       # the paging system is down: the call cannot go out
    gateway = start_gateway(cfg, tmp_path)
    try:
        robot.hear("help me please, I fell")
        assert wait_for(lambda: alerts(staff, robot=NURSECALL, fault="nursecall_link", state="raised"), 20), \
            "staff never saw the gateway's link fault"
        first = alerts(staff, robot=ROBOTS[0], type="help_request")[0]["alert_id"]
        gateway.send_signal(signal.SIGKILL)           # killed while it still owes the call
        gateway.wait(5)
        paging.system.silent = False
        gateway = start_gateway(cfg, tmp_path)
        assert [c.text for c in paging.wait_calls(1, 20)] == ["Help request, room lounge"], _why(paging, tmp_path)
        assert wait_for(lambda: alerts(staff, robot=NURSECALL, state="resolved"), 20), "the fault was not cleared"

        gateway.send_signal(signal.SIGKILL)           # killed again; meanwhile staff resolve, the resident asks again
        gateway.wait(5)
        staff.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/resolve", _command("resolve", alert_id=first))
        assert wait_for(lambda: alerts(staff, alert_id=first, state="resolved"), 10)
        robot.hear("help me please, I fell")
        assert wait_for(lambda: [a for a in alerts(staff, type="help_request", state="raised")
                                 if a["alert_id"] != first], 10)
        gateway = start_gateway(cfg, tmp_path)
        assert len(paging.wait_calls(2, 20)) == 2, _why(paging, tmp_path)
        time.sleep(1.5)                                 # the retained copies are read again: nothing more goes out
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(20)
        gateway = start_gateway(cfg, tmp_path)
        time.sleep(2.5)
        assert len(paging.system.calls) == 2, _why(paging, tmp_path)
    finally:
        gateway.kill()
        gateway.wait(5)
        staff.close()


def _why(paging: PtyPagingSystem, directory: Path) -> str:
    """What the paging system took and what the gateways logged, for a failure message."""
    calls = [(round(c.acked_at, 2), c.text) for c in paging.system.calls]
    return f"calls {calls}; naks {paging.system.naks_sent}; log:\n{(directory / 'gateway.log').read_text()[-3000:]}"


def _command(name: str, **fields: Any) -> bytes:
    import json

    return json.dumps({"schema": f"carebot/cmd-{name}/1", "cmd_id": uuid.uuid4().hex, "ts": round(time.time(), 3),
                       "by": "staff-desk", **fields}).encode()


def test_the_example_gateway_config_is_valid_apart_from_secret_files_this_machine_lacks() -> None:
    problems = check_config(ROOT / "config" / "nursecall.example.toml")
    assert {p.path for p in problems} <= {"mqtt.ca_file", "mqtt.password_file"}


def test_the_robot_pages_its_own_alerts_on_its_own_line_and_a_dead_line_is_its_fault(
        config: Config, tmp_path: Path) -> None:
    from .conftest import running

    line = NursecallSection(enabled=True, port=str(tmp_path / "paging"), response_timeout_s=1.0, retries=1,
                            poll_interval_s=0.2, retry_after_s=0.5, record_file=tmp_path / "paged.sqlite")
    with PtyPagingSystem(PagingSystem(), link=tmp_path / "paging", baud=9600) as sim:
        sim.system.silent = True
        with running(config.model_copy(update={"nursecall": line})) as rt:

            def fault(state: str) -> bool:
                return any(u.get("fault") == "nursecall_link" and u["state"] == state for u in list(rt.alert_updates))

            assert wait_for(lambda: fault("raised"), 10), "the robot did not report its dead paging line"
            sim.system.silent = False
            assert wait_for(lambda: fault("cancelled"), 10), "the fault did not clear"
            rt.hear("help me please, I fell")
            assert wait_for(lambda: [c for c in sim.system.calls if c.text == "Help request, room lounge"], 10)
            assert rt.behaviour.state != "fault"  # a paging line's trouble never puts the robot in its fault state
        assert [(c.address, c.priority) for c in sim.system.calls if c.text.startswith("Help")] == [("100", "2")]
        # stopped, the robot's every thread has ended, the paging line's too (it went on opening a line that was
        # gone, an error logged at each try, for as long as the process lived)
        assert [name for name, part in rt.guard.parts.items() if part.alive] == []


def test_the_line_loop_in_the_slave_role_pages_when_polled_and_reports_a_silent_control_station(
        tmp_path: Path) -> None:
    from robot.nursecall_line import PagingLine, open_line

    cfg = NursecallSection(enabled=True, port=str(tmp_path / "paging"), role="slave", response_timeout_s=1.0,
                           retries=1, poll_interval_s=0.1, retry_after_s=0.2, record_file=tmp_path / "paged.sqlite")
    faults: list[bool] = []
    pager = Pager(cfg, PagedRecord(cfg.record_file))
    line = PagingLine(cfg, pager, lambda: open_line(cfg), faults.append)
    system = PagingSystem(address="2", peer="1", role="master", poll_interval_s=0.1)
    with PtyPagingSystem(system, link=tmp_path / "paging", baud=9600) as sim:
        try:
            pager.take(alert(room="7"))
            end = time.monotonic() + 10
            while not system.calls and time.monotonic() < end:
                line.step(time.sleep)
            assert [(c.address, c.text) for c in system.calls] == [("100", "Help request, room 7")]
            sim.system.silent = True  # the control station stops polling us
            end = time.monotonic() + 10
            while not faults and time.monotonic() < end:
                line.step(time.sleep)
            assert faults == [True] and pager.pending == {}
        finally:
            line.close()


def test_the_gateway_account_reads_alerts_and_writes_only_its_own_tree(broker: Broker) -> None:
    gw = Client(broker, NURSECALL)
    assert gw.connect() == 0
    assert gw.subscribe(f"carebot/v1/{SITE}/#") == [1]   # granted; it receives only what the ACL lets it read
    assert gw.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/cmd/resolve", b"{}") == 0x87  # it sends no commands
    assert gw.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/alert", b"{}") == 0x87        # nor poses as a robot
    assert gw.publish(f"carebot/v1/{SITE}/{NURSECALL}/status", b"{}") < 0x80        # its own tree: yes
    robot = Client(broker, ROBOTS[0])
    assert robot.connect() == 0
    robot.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/alert", b"{}")
    robot.publish(f"carebot/v1/{SITE}/{ROBOTS[0]}/heartbeat", b"{}")
    assert wait_for(lambda: gw.of(f"{ROBOTS[0]}/alert"), 3)
    time.sleep(0.3)
    assert [m.topic for m in gw.messages] == [f"carebot/v1/{SITE}/{ROBOTS[0]}/alert"]  # no heartbeat, no status
    robot.close()
    gw.close()
