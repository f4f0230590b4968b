"""Alert lifecycle and escalation on a fake clock; outbox ordering and disk pressure; command fuzzing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot.activity import ActivityCounter
from robot.alerts import AlertManager, EscalationPolicy, UnknownAlert
from robot.events import COMMANDS, InvalidMessage, Topics, decode_command, encode, validate
from robot.outbox import PRIORITY, Outbox

TOPICS = Topics("demo", "robot-1")


def test_high_alert_escalates_at_60_s_and_3_min_then_stops() -> None:
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    alert, first = m.raise_alert("help_request", "high", "lounge", now=1000.0, wall=1.7e9)
    assert first["state"] == "raised" and first["level"] == 0
    assert m.tick(1059.9) == []
    step1 = m.tick(1060.0)
    assert [(u["state"], u["level"]) for u in step1] == [("escalated", 1)]
    assert m.tick(1100.0) == []
    assert [(u["state"], u["level"]) for u in m.tick(1180.0)] == [("escalated", 2)]
    assert m.tick(5000.0) == []  # no steps left
    assert {u["alert_id"] for u in step1} == {alert.alert_id}


def test_ack_stops_escalation_but_is_not_a_resolve() -> None:
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    alert, _ = m.raise_alert("help_request", "high", "lounge", now=0.0, wall=1.7e9)
    ack = m.acknowledge(alert.alert_id)
    assert ack is not None and ack["state"] == "acknowledged"
    assert m.acknowledge(alert.alert_id) is None  # a second ack changes nothing
    assert m.tick(1000.0) == []
    assert [a.alert_id for a in m.open_alerts()] == [alert.alert_id]
    assert m.resolve(alert.alert_id)["state"] == "resolved"
    assert m.open_alerts() == []
    with pytest.raises(UnknownAlert):
        m.resolve(alert.alert_id)


def test_missed_reminder_goes_to_staff_then_becomes_high() -> None:
    m = AlertManager(EscalationPolicy(medium=(900,), high=(60, 180), promote_medium_to_high_s=900))
    m.raise_alert("reminder_unacked", "medium", "room-2", now=0.0, wall=1.7e9, reminder="medication")
    updates = m.tick(900.0)
    assert [(u["priority"], u["state"], u["reminder"]) for u in updates] == [("high", "escalated", "medication")]


def test_several_overdue_steps_fire_as_one_update() -> None:
    m = AlertManager(EscalationPolicy(high=(60, 180)))
    m.raise_alert("help_request", "high", "lounge", now=0.0, wall=1.7e9)
    assert [u["level"] for u in m.tick(500.0)] == [2]


def test_every_update_matches_the_alert_schema() -> None:
    m = AlertManager()
    alert, raised = m.raise_alert("wellbeing_concern", "medium", "lounge", 0.0, 1.7e9, concern="lonely")
    for update in (raised, m.acknowledge(alert.alert_id), m.cancel(alert.alert_id)):
        assert update is not None
        body = {"event_id": "0" * 32, "boot_id": "0" * 12, "seq": 1, "ts": 1.7e9, "robot": "r", "site": "s",
                **update}
        encode("alert", body)


def test_the_alert_schema_refuses_free_text_and_names() -> None:
    body = {"schema": "carebot/alert/1", "event_id": "0" * 32, "boot_id": "0" * 12, "seq": 1, "ts": 1.0,
            "robot": "r", "site": "s", "alert_id": "0" * 32, "room": "lounge", "type": "help_request",
            "priority": "high", "state": "raised", "level": 0, "raised_ts": 1.0}
    validate("alert", body)
    for extra in ({"resident": "Margaret"}, {"transcript": "help me"}, {"room": "Margaret's room"},
                  {"note": "x"}):
        with pytest.raises(InvalidMessage):
            validate("alert", {**body, **extra})


def test_outbox_drains_by_priority_and_survives_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add("a1", "activity", PRIORITY["activity"], "t/activity", b"1")
    box.add("m1", "alert", PRIORITY["alert:medium"], "t/alert", b"2")
    box.add("h1", "alert", PRIORITY["alert:high"], "t/alert", b"3")
    assert not box.add("h1", "alert", PRIORITY["alert:high"], "t/alert", b"3")  # same event_id: one row
    assert [r.event_id for r in box.next(10, set())] == ["h1", "m1", "a1"]
    assert [r.event_id for r in box.next(10, {"h1"})] == ["m1", "a1"]
    box.done("h1")
    box.retry_later("m1", 60)
    assert [r.event_id for r in box.next(10, set())] == ["a1"]
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.pending() == 2 and again.pending_alerts() == 1
    wal = again._db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = again._db.execute("PRAGMA synchronous").fetchone()[0]
    assert (wal, sync) == ("wal", 2)  # WAL, FULL
    again.close()


def test_short_disk_drops_activity_never_alerts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", min_free_mb=10**9)  # more than any disk has free
    assert not box.add("a", "activity", 5, "t", b"x")
    assert box.add("b", "alert", 0, "t", b"x")
    assert box.dropped_activity == 1 and box.pending() == 1
    box.close()


def test_activity_counter_buckets() -> None:
    c = ActivityCounter(900, wall=1800.0)
    c.count("help_requests")
    c.tick("engaged", 125.0)
    c.tick("idle", 500.0)
    assert c.flush(2699.0) is None
    bucket = c.flush(2700.0)
    assert bucket == {"bucket_start": 1800.0, "bucket_s": 900,
                      "counts": {"conversations": 0, "reminders_confirmed": 0, "reminders_missed": 0,
                                 "engagement_minutes": 2, "help_requests": 1, "wellbeing_checkins": 0,
                                 "asked_again": 0}}
    assert c.counts["help_requests"] == 0


GOOD = {
    "ack": {"schema": "carebot/cmd-ack/1", "cmd_id": "a" * 32, "alert_id": "b" * 32, "by": "staff-desk"},
    "pause": {"schema": "carebot/cmd-pause/1", "cmd_id": "a" * 32},
    "remind": {"schema": "carebot/cmd-remind/1", "cmd_id": "a" * 32, "kind": "drink", "in_s": 60},
}


def test_good_commands_decode() -> None:
    for name, good in GOOD.items():
        payload = {**good, "ts": time.time()}  # commands are carried out only while fresh
        assert decode_command(TOPICS.command(name), json.dumps(payload).encode(), TOPICS) == (name, payload)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                       max_size=4), max_leaves=10)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(COMMANDS)), st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["schema", "cmd_id", "alert_id", "kind", "in_s", "by", "start", "end",
                                     "enabled", "note", "name"]), json_values, max_size=6)
    .map(lambda d: json.dumps(d).encode()),
))
def test_malformed_or_oversized_commands_are_rejected_with_a_reason(name: str, raw: bytes) -> None:
    try:
        got_name, payload = decode_command(TOPICS.command(name), raw, TOPICS)
    except InvalidMessage as exc:
        assert str(exc)  # a reason, naming the command or topic
        assert name in str(exc) or "cmd" in str(exc)
    else:  # whatever got through is exactly what the schema allows
        assert got_name == name
        validate(COMMANDS[name], payload)


def test_commands_for_other_robots_or_unknown_names_are_rejected() -> None:
    with pytest.raises(InvalidMessage, match="not a command topic"):
        decode_command("carebot/v1/demo/robot-2/cmd/ack", b"{}", TOPICS)
    with pytest.raises(InvalidMessage, match="unknown command"):
        decode_command(TOPICS.command("selfdestruct"), b"{}", TOPICS)
    with pytest.raises(InvalidMessage, match="over the 1024-byte limit"):
        decode_command(TOPICS.command("ack"), b" " * 1025, TOPICS)
