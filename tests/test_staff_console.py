"""`carebot staff`, attacked: it cannot be fooled about who sent what, nor crashed by what it receives."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from robot.config import Config, MqttSection
from robot.mqtt_link import new_client
from robot.runtime import Runtime
from robot.staff import StaffConsole

from .broker import ROBOTS, SITE, STAFF, STAFF2, Broker, Client
from .conftest import ROOT, wait_for
from .test_mqtt import robot_config

BASE = f"carebot/v1/{SITE}"


def offline_console() -> tuple[StaffConsole, io.StringIO]:
    """A console fed by hand: apply() is the door every broker message goes through."""
    out = io.StringIO()
    client = new_client(MqttSection(tls=False), "test-console")  # never connected
    return StaffConsole(SITE, client, out, STAFF), out


def alert(robot: str = ROBOTS[0], **fields: Any) -> dict[str, Any]:
    body = {"schema": "carebot/alert/1", "event_id": "e" * 32, "boot_id": "b" * 12, "seq": 1, "ts": time.time(),
            "robot": robot, "site": SITE, "alert_id": "a" * 32, "room": "lounge", "type": "help_request",
            "priority": "high", "state": "raised", "level": 0, "raised_ts": time.time()}
    return {**body, **fields}


def status(robot: str, state: str) -> bytes:
    return json.dumps({"schema": "carebot/status/1", "robot": robot, "site": SITE, "state": state}).encode()


def test_identity_comes_from_the_topic_not_the_payload() -> None:
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/status", status(ROBOTS[1], "offline"))  # robot-1 speaking for robot-2
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert(ROBOTS[1])).encode())
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert(site="elsewhere")).encode())
    assert console.robots == {} and console.alerts == {}
    assert out.getvalue().count("refused") == 3 and "topic" in out.getvalue()
    console.apply(f"{BASE}/{ROBOTS[0]}/status", status(ROBOTS[0], "online"))
    assert console.robots == {ROBOTS[0]: "online"}


def test_a_retained_alert_topic_must_name_the_payloads_alert() -> None:
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{'f' * 32}", json.dumps(alert()).encode(), retained=True)
    assert console.alerts == {} and "refused" in out.getvalue()


BAD_ALERTS: list[bytes] = [
    json.dumps(alert(raised_ts=float("nan"))).encode(),  # json.dumps writes NaN, as a careless sender would
    json.dumps(alert(ts=float("inf"))).encode(),
    json.dumps(alert(raised_ts=-float("inf"))).encode(),
    json.dumps(alert()).replace('"level": 0', '"level": 1e999').encode(),
    json.dumps(alert(raised_ts=1e300)).encode(),
    json.dumps(alert(level="0")).encode(),
    json.dumps(alert(room=["lounge"])).encode(),
    b"[" * 50_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    bytes(range(256)), b"", b"null", b"[]", json.dumps(alert()).encode("utf-16"),
    json.dumps(alert())[:-1].encode() + b', "room": "kitchen"}',  # a duplicate key
]


@pytest.mark.parametrize("raw", BAD_ALERTS, ids=range(len(BAD_ALERTS)))
def test_a_malformed_alert_is_reported_and_the_console_goes_on(raw: bytes) -> None:
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", raw)
    console.show()
    assert console.alerts == {}
    assert "ignored" in out.getvalue() and f"{BASE}/{ROBOTS[0]}/alert" in out.getvalue()
    assert all(line.isprintable() for line in out.getvalue().splitlines())
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert()).encode())
    assert list(console.alerts) == ["a" * 32]


def test_the_retained_copy_and_the_stream_show_once_and_a_clear_closes_without_renumbering() -> None:
    console, out = offline_console()
    first, second = alert(), alert(alert_id="c" * 32, event_id="d" * 32)
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{'a' * 32}", json.dumps(first).encode(), retained=True)
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(first).encode())  # the same event, from the stream
    console.apply(f"{BASE}/{ROBOTS[1]}/alert", json.dumps({**second, "robot": ROBOTS[1]}).encode())
    assert out.getvalue().count("help_request") == 2
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{'a' * 32}", b"", retained=False)  # the robot closed it
    assert "closed" in out.getvalue()
    out.seek(0)
    out.truncate()
    console.show()
    assert out.getvalue().count("help_request") == 1 and out.getvalue().lstrip().startswith("2")
    older = {**first, "event_id": "0" * 32, "state": "raised", "ts": first["ts"] - 5}
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(older).encode())  # a late redelivery
    assert console.alerts["a" * 32].state == "closed"


def test_typed_commands_that_overflow_or_name_a_wildcard_robot_are_refused() -> None:
    console, out = offline_console()
    for line in ("remind robot-1 drink 1e999", "remind robot-1 drink nan", "pause robot-1/#", "pause +",
                 "ack 99", "resolve zz"):
        assert console.command(line + "\n")
    text = out.getvalue()
    assert "Traceback" not in text and len(text.splitlines()) == 6


# -- through the real door: a real broker, a running robot, the console as a process -------------------


@pytest.fixture
def robot(config: Config, broker: Broker) -> Iterator[Runtime]:
    rt = Runtime(robot_config(config, broker, heartbeat_s=1), simulate=True)
    rt.start()
    assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
    yield rt
    rt.stop()


class Console:
    """`carebot staff` as a nurse station runs it."""

    def __init__(self, broker: Broker) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot.cli", "staff", "--site", SITE, "--port", str(broker.port),
             "--ca-file", str(broker.ca), "--username", STAFF, "--password-file", str(broker.password_file(STAFF))],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # a thread: select() cannot see lines already in the pipe's buffer
            self.lines.append(line)

    def until(self, text: str, timeout: float = 5.0) -> bool:
        return wait_for(lambda: any(text in line for line in self.lines), timeout)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


def test_a_console_started_after_the_alert_sees_it_and_can_ack_it(robot: Runtime, broker: Broker) -> None:
    watcher = Client(broker, STAFF2)  # another station sees the alert go out before the console starts
    assert watcher.connect() == 0 and watcher.subscribe(f"{BASE}/+/alert") == [1]
    robot.inject("help")
    assert wait_for(lambda: watcher.of("/alert"), 5)
    watcher.close()
    console = Console(broker)
    try:
        assert console.until("help_request"), console.lines
        assert any("raised" in line and f"{ROBOTS[0]}/lounge" in line for line in console.lines)
        console.type("ack 1")
        assert wait_for(lambda: robot.said and robot.said[-1].key == "help_coming", 5)
        console.type("resolve 1")
        assert console.until("resolved"), console.lines
        console.type("quit")
        assert console.proc.wait(5) == 0
    finally:
        console.close()


def test_a_poisoned_alert_does_not_crash_the_console_and_the_next_help_shows(robot: Runtime,
                                                                            broker: Broker) -> None:
    console = Console(broker)
    intruder = Client(broker, ROBOTS[1])  # a robot account in the wrong hands writes only its own tree
    try:
        assert console.until("connected; watching site demo")
        assert intruder.connect() == 0
        for raw in BAD_ALERTS[:9]:
            assert intruder.publish(f"{BASE}/{ROBOTS[1]}/alert", raw) < 0x80
        assert intruder.publish(f"{BASE}/{ROBOTS[1]}/status", status(ROBOTS[0], "offline")) < 0x80
        assert console.until("refused"), "".join(console.lines)
        robot.inject("help")
        assert console.until("help_request"), console.lines
        assert console.proc.poll() is None
        assert not any(f"{ROBOTS[0]} is offline" in line for line in console.lines)
    finally:
        intruder.close()
        console.close()


def test_no_robot_can_close_another_robots_alert() -> None:
    console, out = offline_console()
    help_1 = alert()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(help_1).encode())
    forged = {**help_1, "robot": ROBOTS[1], "event_id": "9" * 32, "state": "resolved", "ts": help_1["ts"] + 1}
    console.apply(f"{BASE}/{ROBOTS[1]}/alert", json.dumps(forged).encode())
    console.apply(f"{BASE}/{ROBOTS[1]}/alert/{'a' * 32}", b"")  # nor clear it
    assert console.alerts["a" * 32].robot == ROBOTS[0] and console.alerts["a" * 32].state == "raised"
    assert "belongs to" in out.getvalue()


def test_a_high_alert_rings_the_terminal_bell_and_a_low_one_does_not() -> None:
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert()).encode())
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert(alert_id="c" * 32, event_id="d" * 32,
                                                                priority="low")).encode())
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("\a") and lines[0][1:].isprintable() and "HIGH" in lines[0]
    assert lines[1].isprintable() and "LOW" in lines[1]


def test_a_robot_clock_stepped_back_does_not_hide_its_later_updates() -> None:
    """Within one boot a robot's updates are ordered by seq: an escalation or an ack stamped earlier than
    the raise (the robot's clock stepped back) was once dropped as 'older', and the bell never rang."""
    console, out = offline_console()
    raised = alert(seq=5, ts=1_800_000_000.0)
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(raised).encode())
    escalated = {**raised, "event_id": "1" * 32, "seq": 6, "ts": 1_799_999_980.0, "state": "escalated", "level": 1}
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(escalated).encode())
    assert console.alerts["a" * 32].state == "escalated" and out.getvalue().count("\a") == 2
    late = {**raised, "event_id": "2" * 32, "seq": 4, "ts": 1_800_000_010.0, "state": "raised"}
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(late).encode())  # an older update, delivered late
    assert console.alerts["a" * 32].state == "escalated"
    # across a restart (another boot) the robot's clock is all there is to order by
    after = {**raised, "event_id": "3" * 32, "boot_id": "c" * 12, "seq": 1, "ts": 1_800_000_100.0,
             "state": "acknowledged", "level": 1}
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(after).encode())
    assert console.alerts["a" * 32].state == "acknowledged"
