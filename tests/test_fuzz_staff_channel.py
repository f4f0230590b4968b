"""Property tests of the staff channel: 2,000 hostile cases per command topic and for staff-side alerts.

The decoders are fuzzed directly (fast), then a smaller sample of the same inputs goes through the
real door (a real mosquitto, the robot's MqttLink and outbox, and `carebot staff`), and a help request
made afterwards must reach a real subscriber. Inputs are near misses of valid payloads as much as
noise: a valid command with one field made hostile is what gets past a careless check.
"""

from __future__ import annotations

import collections
import io
import json
import re
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from robot.command_intake import CommandIntake
from robot.config import MqttSection, QuietHoursSection
from robot.events import COMMANDS, Topics, validate
from robot.mqtt_link import new_client
from robot.runtime import Runtime
from robot.staff import StaffConsole

from .broker import ROBOTS, SITE, STAFF, Broker, Client, alerts
from .conftest import wait_for
from .test_staff_console import Console

TOPICS = Topics(SITE, ROBOTS[0])
CASES = 2000
# Valid values, drawn cheaply (from_regex is slow at thousands of cases).
HEX32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
TOKEN = st.sampled_from(["staff-desk", "lounge", "room-12", "a", "x" * 32, "night_lead", "0"])
HHMM = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")

# Values an attacker would try in any field.
HOSTILE = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 10**40, -(10**40), 2**63, -1, 0,
                     True, None, "", "21:00\n", "\n21:00", "a" * 33, "A" * 32, "staff\x00desk", "é", "\ud800",
                     "robot-2", "../cmd/pause", "+", "#", [], {}, [[[[[[[[[[]]]]]]]]]], {"$ref": "#"}]),
    st.text(max_size=40), st.integers(), st.floats(), st.lists(st.integers(), max_size=3),
)


def valid_command(name: str, now: float) -> st.SearchStrategy[dict[str, Any]]:
    """A command that every check accepts (a fresh cmd_id, a ts within the window)."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "schema": st.just(f"carebot/{COMMANDS[name]}/1"), "cmd_id": HEX32,
        "ts": st.floats(now - 140, now + 25), "by": TOKEN}
    extra: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "ack": {"alert_id": HEX32}, "resolve": {"alert_id": HEX32},
        "remind": {"kind": st.sampled_from(["medication", "drink", "meal", "appointment", "activity"]),
                   "in_s": st.integers(0, 86400)},
        "quiet_hours": {"enabled": st.booleans(), "start": HHMM, "end": HHMM}}
    required = {**fields, **extra.get(name, {})}
    optional = {"by"} | ({"in_s"} if name == "remind" else set())
    return st.fixed_dictionaries({k: v for k, v in required.items() if k not in optional},
                                 optional={k: required[k] for k in optional})


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A valid payload with a few hostile changes, then serialised (sometimes badly)."""
    body = dict(draw(base))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["replace", "drop", "add", "keep"]))
        keys = sorted(body)
        if action == "replace" and keys:
            body[draw(st.sampled_from(keys))] = draw(HOSTILE)
        elif action == "drop" and keys:
            body.pop(draw(st.sampled_from(keys)))
        elif action == "add":
            body[draw(st.sampled_from(["note", "name", "robot", "Schema", "cmd_id ", ""]))] = draw(HOSTILE)
    try:
        text = json.dumps(body)  # writes NaN and Infinity, as a careless sender would
    except (ValueError, TypeError, UnicodeEncodeError):
        text = "{}"
    tail = draw(st.sampled_from(["", "", "", "\n", "[" * 1000, ",", "}", ' "x"']))
    raw = (text + tail).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([raw, raw, raw, raw[: len(raw) // 2], raw.replace(b'"', b"'"),
                                 text.encode("utf-16")]))


def noise() -> st.SearchStrategy[bytes]:
    json_value = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                           inner, max_size=3),
                              max_leaves=8)
    return st.one_of(st.binary(max_size=1200), json_value.map(lambda v: json.dumps(v).encode()),
                     st.integers(1, 3000).map(lambda n: b"[" * n), st.integers(1, 600).map(lambda n: b'{"a":' * n),
                     st.integers(9, 500).map(lambda n: b"[" * n + b"]" * n),  # deep but well formed
                     st.integers(9, 150).map(lambda n: b'{"a":' * n + b"1" + b"}" * n), st.just(b"[" * 1000))


def command_inputs(name: str, now: float) -> st.SearchStrategy[bytes]:
    valid = valid_command(name, now)
    return st.one_of(valid.map(lambda b: json.dumps(b).encode()), mutated(valid), mutated(valid), noise())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_topic_survives_2000_hostile_payloads(name: str) -> None:
    # every refusal noted, to be checked; every valid command carried out (the flood limit has its own test)
    intake = CommandIntake(TOPICS, notes_per_minute=10 * CASES, commands_per_minute=10 * CASES)
    now = time.time()
    seen: collections.Counter[str] = collections.Counter()

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(command_inputs(name, now), st.sampled_from([False] * 9 + [True]))
    def one(raw: bytes, retained: bool) -> None:
        before = len(intake.commands)
        accepted = intake.take(TOPICS.command(name), raw, retained, now=now)  # nothing may escape
        if accepted:
            seen["accepted"] += 1
            got, payload = intake.commands[-1]
            assert got == name and len(intake.commands) == before + 1 and not retained
            validate(COMMANDS[name], payload)
            assert now - 150 <= payload["ts"] <= now + 30
            if name == "quiet_hours":  # what the tick does with it cannot fail
                QuietHoursSection.model_validate({k: payload[k] for k in ("enabled", "start", "end")})
        else:
            refusal = intake.refusals[-1]
            seen[refusal.problem] += 1
            assert refusal.command == name and re.fullmatch(r"[a-z0-9_]+", refusal.problem)
            assert len(intake.commands) == before

    one()
    assert sum(seen.values()) >= CASES
    assert seen["accepted"] >= CASES // 50, seen  # the accept path runs (about 5 % are valid)
    assert {"schema", "not_json", "too_deep", "retained"} <= set(seen), seen


NOW = time.time()
VALID_ALERT = st.fixed_dictionaries({
    "schema": st.just("carebot/alert/1"), "event_id": HEX32, "boot_id": st.just("b" * 12),
    "seq": st.integers(1, 10**6), "ts": st.floats(NOW - 3600, NOW), "robot": st.sampled_from(ROBOTS),
    "site": st.sampled_from([SITE, SITE, "other"]), "alert_id": HEX32, "room": TOKEN,
    "type": st.sampled_from(["help_request", "reminder_unacked", "wellbeing_concern", "robot_fault"]),
    "priority": st.sampled_from(["high", "medium", "low"]),
    "state": st.sampled_from(["raised", "escalated", "acknowledged", "resolved", "cancelled"]),
    "level": st.integers(0, 10), "raised_ts": st.floats(NOW - 3600, NOW)})
# (topic, payload, retained) as a console might receive them from any robot account of the site.
ALERT_MESSAGE = st.tuples(
    st.sampled_from(ROBOTS), st.sampled_from(["alert", "alert", "status", "alert/" + "a" * 32, "alert/xyz", "x"]),
    st.one_of(VALID_ALERT.map(lambda b: json.dumps(b).encode()), mutated(VALID_ALERT), mutated(VALID_ALERT),
              noise(), st.just(b"")),
    st.booleans(),
).map(lambda t: (f"carebot/v1/{SITE}/{t[0]}/{t[1]}", t[2], t[3]))


def test_the_staff_console_survives_2000_hostile_alerts() -> None:
    out = io.StringIO()
    console = StaffConsole(SITE, new_client(MqttSection(tls=False), "fuzz-console"), out, STAFF)
    shown = collections.Counter[str]()

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(ALERT_MESSAGE)
    def one(message: tuple[str, bytes, bool]) -> None:
        topic, raw, retained = message
        refused = console.refused
        console.apply(topic, raw, retained)  # nothing may escape
        robot = topic.split("/")[3]
        shown["refused" if console.refused > refused else "taken"] += 1
        if console.refused == refused and raw and "/status" not in topic:  # taken (or a redelivery)
            body = json.loads(raw)
            view = console.alerts.get(body["alert_id"])
            assert body["robot"] == robot and body["site"] == SITE  # identity is the topic's
            assert view is None or view.robot == robot  # no robot can touch another robot's alert

    one()
    console.show()
    assert all(line.isprintable() or line.startswith("\a") for line in out.getvalue().splitlines())
    assert shown["taken"] >= CASES // 50 and shown["refused"] >= CASES // 4, shown
    for topic_robot, state in console.robots.items():
        assert topic_robot in ROBOTS and state in ("online", "offline", "stopped")


# -- the same inputs through the real door ----------------------------------------------------------------


def sample(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """n inputs as the fuzz tests above draw them (the first is the simplest, the rest varied)."""
    out: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def take(value: Any) -> None:
        out.append(value)

    take()
    return out


def test_after_a_sample_of_hostile_commands_a_help_request_reaches_staff(robot: Runtime, broker: Broker) -> None:
    link = robot.link
    assert link is not None
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    sent = 0
    try:
        for name in sorted(COMMANDS):
            for raw, retained in sample(st.tuples(command_inputs(name, time.time()),
                                                  st.sampled_from([False] * 9 + [True])), 40):
                staff.client.publish(TOPICS.command(name), raw, qos=1, retain=retained)
                sent += 1
        assert wait_for(lambda: link.rejected_commands + link.intake.accepted >= sent, 10), \
            (link.rejected_commands, link.intake.accepted, sent)
        assert link.rejected_commands > sent // 2 and link.intake.accepted > 0  # both paths taken
        assert link.alive() and link.errors == 0 and robot.loop.running
        robot.hear("help me please, I fell")  # whatever state the accepted commands left it in
        assert wait_for(lambda: alerts(staff, type="help_request"), 5), robot.behaviour.state
    finally:
        for name in COMMANDS:  # no retained command may outlive this test on the broker
            staff.client.publish(TOPICS.command(name), b"", qos=1, retain=True)
        staff.close()


def test_after_a_sample_of_hostile_alerts_the_console_still_shows_a_help_request(robot: Runtime,
                                                                                 broker: Broker) -> None:
    messages = sample(ALERT_MESSAGE, 150)
    console = Console(broker)
    intruder = Client(broker, ROBOTS[1])  # robot-2's account in the wrong hands: the ACL lets it write its tree
    try:
        assert console.until("connected; watching site demo")
        assert intruder.connect() == 0
        for topic, raw, retained in messages:
            topic = topic.replace(f"/{ROBOTS[0]}/", f"/{ROBOTS[1]}/")
            intruder.client.publish(topic, raw, qos=1, retain=retained)
        marker = f"end-{uuid.uuid4().hex[:8]}"  # a valid alert last: once it shows, the console read them all
        last = {"schema": "carebot/alert/1", "event_id": uuid.uuid4().hex, "boot_id": "b" * 12, "seq": 1,
                "ts": time.time(), "robot": ROBOTS[1], "site": SITE, "alert_id": uuid.uuid4().hex, "room": marker,
                "type": "robot_fault", "priority": "low", "state": "raised", "level": 0, "raised_ts": time.time()}
        assert intruder.publish(f"carebot/v1/{SITE}/{ROBOTS[1]}/alert", json.dumps(last)) < 0x80
        assert console.until(marker, 10), "".join(console.lines[-5:])
        assert sum("ignored" in line for line in console.lines) > 50
        robot.hear("help me please, I fell")
        assert console.until(f"{ROBOTS[0]}/lounge", 5), "".join(console.lines[-5:])
        assert console.proc.poll() is None
    finally:
        for topic in {t.replace(f"/{ROBOTS[0]}/", f"/{ROBOTS[1]}/") for t, _, r in messages if r}:
            intruder.client.publish(topic, b"", qos=1, retain=True)
        intruder.close()
        console.close()
