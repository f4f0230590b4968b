"""`carebot staff`, attacked: it cannot be fooled about who sent what, nor crashed by what it receives."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from robot.config import MqttSection
from robot.mqtt_link import new_client
from robot.runtime import Runtime
from robot.staff import CONFIRM_S, MAX_OPEN_PER_ROBOT, StaffConsole

from .broker import ROBOTS, SITE, STAFF, STAFF2, Broker, Client
from .conftest import ROOT, wait_for

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


class Console:
    """`carebot staff` as a nurse station runs it."""

    def __init__(self, broker: Broker, port: int | None = None) -> None:  # port: a proxy's, to cut the link
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot.cli", "staff", "--site", SITE, "--port", str(port or broker.port),
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


def test_an_alert_closed_while_the_console_had_no_broker_link_leaves_its_list(broker: Broker) -> None:
    """The console's link drops (a proxy cut between it and the broker) while robot-1 resolves its help request
    and clears the alert's retained copy. When the link is back the alert must leave the list: its retained copy
    no longer comes, so only the resolve itself can say so, kept for the console by the broker meanwhile (before,
    the session ended with the link, the resolve was lost and the console showed the alert open for good)."""
    from .tcp_proxy import Link

    link = Link(broker.port)
    console = Console(broker, link.port)
    robot = Client(broker, ROBOTS[0])
    topic = f"{BASE}/{ROBOTS[0]}/alert"

    def send(body: dict[str, Any], retained: bool = True) -> None:  # as the robot does: the stream, then its copy
        robot.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)
        robot.client.publish(f"{topic}/{body['alert_id']}", json.dumps(body) if retained else b"", qos=1,
                             retain=True).wait_for_publish(5)

    def listed() -> list[str]:  # what `list` prints, up to the help line a mistyped command brings after it
        mark = len(console.lines)
        console.type("list")
        console.type("?")
        assert wait_for(lambda: any("commands:" in line for line in console.lines[mark:]), 5)
        out = console.lines[mark:]
        return out[:next(i for i, line in enumerate(out) if "commands:" in line)]

    def cut_while(*updates: dict[str, Any], meanwhile: Any = lambda: None) -> None:
        lost = sum("lost the broker" in line for line in console.lines)
        link.cut()
        assert wait_for(lambda: sum("lost the broker" in line for line in console.lines) > lost, 10), console.lines
        meanwhile()
        for body in updates:
            send(body, retained=False)
        connected = sum("connected; watching" in line for line in console.lines)
        link.restore()
        assert wait_for(lambda: sum("connected; watching" in line for line in console.lines) > connected, 15)

    try:
        assert console.until("connected; watching site demo"), console.lines
        assert robot.connect() == 0
        help_1 = alert(alert_id="ac" * 16, event_id="bc" * 16, room="hall")
        send(help_1)
        assert console.until(f"{ROBOTS[0]}/hall"), console.lines
        cut_while({**help_1, "event_id": "bd" * 16, "state": "resolved", "ts": help_1["ts"] + 1, "seq": 2})
        assert console.until("resolved"), console.lines
        assert listed() == ["no open alerts\n"]
        # Again, but the session is gone meanwhile (here another login with the account ends it; a broker that
        # lost its data, an expired session alike): the open alerts are read again from the retained copies.
        done, other = (alert(alert_id=x * 16, event_id=y * 16, room=room, seq=seq)
                       for x, y, room, seq in (("ad", "be", "kitchen", 3), ("ae", "bf", "garden", 4)))
        send(done)
        send(other)
        assert console.until(f"{ROBOTS[0]}/garden"), console.lines
        assert [line.split()[0] for line in listed()] == ["2", "3"]  # the nurse's list: kitchen 2, garden 3
        intruder = Client(broker, STAFF, client_id=STAFF)
        cut_while({**done, "event_id": "c0" * 16, "state": "resolved", "seq": 5},
                  meanwhile=lambda: (intruder.connect(), intruder.close()))
        assert console.until("the open alerts are read again"), console.lines
        assert wait_for(lambda: any(f"{ROBOTS[0]}/garden" in line for line in listed()), 5)
        now = listed()
        assert not any("kitchen" in line for line in now), console.lines
        # The numbers hold across the re-read: garden keeps 3, and an `ack 2` typed from the list on screen
        # (kitchen's) is refused, not sent for garden (before, garden became 2 and got the ack).
        assert [line.split()[0] for line in now] == ["3"] and "garden" in now[0], now
        mark = len(console.lines)
        console.type("ack 2")
        assert console.until("alert 2 is no longer open"), console.lines[mark:]
        assert not any("sent ack" in line for line in console.lines[mark:]), console.lines[mark:]
    finally:
        for a in ("ac", "ad", "ae"):
            robot.client.publish(f"{topic}/{a * 16}", b"", qos=1, retain=True)
        robot.close()
        console.close()
        link.close()


def test_an_alert_keeps_its_number_while_open_and_a_number_is_never_given_again() -> None:
    """After the open alerts are read again (the broker kept no session) they come back in any order; the
    numbers on the nurse's screen must still name the same alerts, and a closed alert's number stays its own."""
    console, out = offline_console()
    bodies = [alert(alert_id=f"{i:032x}", event_id=f"{i + 100:032x}", room=f"room-{i}") for i in (1, 2, 3)]
    for body in bodies:
        console.apply(f"{BASE}/{ROBOTS[0]}/alert/{body['alert_id']}", json.dumps(body).encode(), retained=True)
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{bodies[0]['alert_id']}", b"")  # 1 closes: 2 and 3 stay 2 and 3
    console.events.put(("", b"", False))  # the broker kept nothing: start over
    console.pump()
    for body in (bodies[2], bodies[1]):  # the retained copies, in another order
        console.apply(f"{BASE}/{ROBOTS[0]}/alert/{body['alert_id']}", json.dumps(body).encode(), retained=True)
    fresh = alert(alert_id="f" * 32, event_id="e" * 32, room="room-4")
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(fresh).encode())
    out.seek(0)
    out.truncate()
    console.show()
    assert [(line.split()[0], line.split()[4]) for line in out.getvalue().splitlines()] == [
        ("2", f"{ROBOTS[0]}/room-2"), ("3", f"{ROBOTS[0]}/room-3"), ("4", f"{ROBOTS[0]}/room-4")]
    for cmd in ("ack 1", "resolve 1"):
        console.command(cmd)
        assert out.getvalue().splitlines()[-1].startswith("alert 1 is no longer open"), out.getvalue()
    assert "sent resolve" not in out.getvalue()
    console.command("ack 9")
    assert "no alert 9" in out.getvalue().splitlines()[-1] and "sent ack" not in out.getvalue()


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


# -- a command the robot never carried out: staff are told, and why -----------------------------------


def heartbeat(robot: str, ts: float, faults: tuple[str, ...] = ()) -> bytes:
    return json.dumps({"schema": "carebot/heartbeat/1", "robot": robot, "site": SITE, "boot_id": "b" * 12,
                       "seq": 1, "ts": ts, "behaviour": "alerting", "faults": list(faults),
                       "open_alerts": 1}).encode()


def test_an_ack_the_robot_never_confirms_is_reported_with_the_clock_as_the_reason() -> None:
    """A robot whose clock is 200 s ahead refuses every command from this station as stale. The console
    once said 'sent ack' and nothing more: the nurse believed the resident had been told help is coming."""
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/heartbeat", heartbeat(ROBOTS[0], time.time() + 200))
    assert "clock" in out.getvalue() and "ahead" in out.getvalue()  # said before anyone acks
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert()).encode())
    console.command("ack 1")
    console.check_pending(time.monotonic() + 5)
    assert "not confirmed" not in out.getvalue()
    console.check_pending(time.monotonic() + CONFIRM_S + 1)
    told = [line for line in out.getvalue().splitlines() if "not confirmed" in line]
    assert len(told) == 1 and "clock" in told[0] and "still open" in told[0], told
    console.check_pending(time.monotonic() + 2 * CONFIRM_S)
    assert out.getvalue().count("not confirmed") == 1  # said once


def test_an_ack_the_robot_confirms_is_not_reported_and_an_offline_robot_is_named_at_once() -> None:
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert()).encode())
    console.command("ack 1")
    acked = alert(event_id="1" * 32, seq=2, state="acknowledged")
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(acked).encode())
    console.check_pending(time.monotonic() + CONFIRM_S + 1)
    assert "not confirmed" not in out.getvalue()
    console.apply(f"{BASE}/{ROBOTS[0]}/status", status(ROBOTS[0], "offline"))
    console.command("resolve 1")
    assert "offline" in out.getvalue().splitlines()[-1]
    console.check_pending(time.monotonic() + CONFIRM_S + 1)
    assert "offline" in [line for line in out.getvalue().splitlines() if "not confirmed" in line][0]


def test_a_robot_with_a_wrong_clock_refuses_the_ack_and_the_console_says_why(
        robot: Runtime, broker: Broker) -> None:
    link = robot.link
    assert link is not None
    link.wall = lambda: time.time() + 200  # the robot's clock, 200 s ahead of the station's
    console = Console(broker)
    try:
        assert console.until("connected; watching site demo")
        assert console.until("clock", 5), console.lines  # from its heartbeat
        robot.inject("help")
        assert console.until("help_request"), console.lines
        console.type("ack 1")
        assert wait_for(lambda: link.rejected_commands == 1, 5)
        assert console.until("not confirmed", CONFIRM_S + 5), console.lines
        assert robot.said[-1].key != "help_coming"
    finally:
        console.close()


def test_a_robot_account_flooding_alerts_cannot_bury_another_robots_help_request() -> None:
    """robot-1's account in the wrong hands raises 3,000 alerts (retained, every console started later
    reads them all): each was a line with a bell and a place in 'list', and a help request from robot-2
    was one line among thousands. Beyond MAX_OPEN_PER_ROBOT open alerts a robot's new ones are refused."""
    console, out = offline_console()
    for i in range(3000):
        body = alert(event_id=f"{i:032x}", alert_id=f"{i + 1:032x}", seq=i + 1)
        console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(body).encode())
    help_2 = alert(ROBOTS[1], event_id="f" * 32, alert_id="e" * 32)
    console.apply(f"{BASE}/{ROBOTS[1]}/alert", json.dumps(help_2).encode())
    assert sum(a.robot == ROBOTS[0] for a in console.alerts.values()) == MAX_OPEN_PER_ROBOT
    assert out.getvalue().count("\a") == MAX_OPEN_PER_ROBOT + 1 + 1  # the flood's first, its warning, robot-2's
    assert len(out.getvalue().splitlines()) < MAX_OPEN_PER_ROBOT + 40  # the refusals summed up, not 2,950 lines
    out.seek(0)
    out.truncate()
    console.show()
    assert f"{ROBOTS[1]}/lounge" in out.getvalue()
    # once robot-1's alerts close, it may raise new ones again
    for i in range(MAX_OPEN_PER_ROBOT):
        console.apply(f"{BASE}/{ROBOTS[0]}/alert/{i + 1:032x}", b"")
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert(event_id="9" * 32, alert_id="8" * 32)).encode())
    assert console.alerts["8" * 32].state == "raised"



def test_the_flood_limit_counts_open_alerts_only_across_closes_updates_and_a_start_over() -> None:
    """The count of a robot's open alerts leaves out closed and forgotten ones (else a robot would be refused
    for alerts that no longer exist) and counts an updated alert once (else a few escalations would refuse it)."""
    console, _ = offline_console()

    def raise_(i: int, robot: str = ROBOTS[0], **fields: Any) -> None:
        body = alert(robot, **{"event_id": f"{i:032x}", "alert_id": f"{i + 1:032x}", "seq": i + 1, **fields})
        console.apply(f"{BASE}/{robot}/alert", json.dumps(body).encode())

    for i in range(MAX_OPEN_PER_ROBOT - 1):
        raise_(i)
    for i in range(10):  # escalated: the same ten alerts, still open, counted once each
        raise_(10_000 + i, state="escalated", level=1, alert_id=f"{i + 1:032x}", seq=10_000 + i)
    raise_(100, ROBOTS[1])  # another robot's do not count
    raise_(200)  # the 50th open alert of robot-1: taken
    raise_(201)  # the 51st: refused
    assert sum(a.robot == ROBOTS[0] for a in console.alerts.values()) == MAX_OPEN_PER_ROBOT
    console._start_over()  # the broker lost this console's session: the open alerts are read again ...
    for i in range(5):  # ... and only five have a retained copy left
        raise_(20_000 + i, state="escalated", level=1, alert_id=f"{i + 1:032x}", seq=20_000 + i)
    for i in range(MAX_OPEN_PER_ROBOT - 5):
        raise_(300 + i)
    raise_(400)  # 5 read again + 45 new: the 51st is refused again
    assert f"{1:032x}" in console.alerts and f"{401:032x}" not in console.alerts
    assert sum(a.robot == ROBOTS[0] and a.state != "closed" for a in console.alerts.values()) == MAX_OPEN_PER_ROBOT

def test_acking_an_alert_already_acknowledged_is_not_reported_as_unconfirmed() -> None:
    """The robot sends no update for a second ack (nor for a resolve of a closed alert): waiting for one
    would tell the nurse, falsely, that the alert is still open."""
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert", json.dumps(alert(state="acknowledged")).encode())
    console.command("ack 1")
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{'a' * 32}", b"")
    console.command("resolve 1")
    console.check_pending(time.monotonic() + CONFIRM_S + 1)
    assert "not confirmed" not in out.getvalue() and console.pending == {}


def test_list_says_which_open_alerts_belong_to_a_robot_that_is_offline() -> None:
    """A robot that died with a help request open leaves it retained: a console started later lists it,
    and nothing told the nurse that no update (nor an ack's confirmation) can come from that robot."""
    console, out = offline_console()
    console.apply(f"{BASE}/{ROBOTS[0]}/alert/{'a' * 32}", json.dumps(alert()).encode(), retained=True)
    console.apply(f"{BASE}/{ROBOTS[0]}/status", status(ROBOTS[0], "offline"), retained=True)
    out.seek(0)
    out.truncate()
    console.show()
    assert "help_request" in out.getvalue() and "robot offline" in out.getvalue()
    console.apply(f"{BASE}/{ROBOTS[0]}/status", status(ROBOTS[0], "online"))
    out.seek(0)
    out.truncate()
    console.show()
    assert "offline" not in out.getvalue()
