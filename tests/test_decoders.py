"""The staff channel's decoders, attacked directly: every bad input is a clear refusal, never an exception."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import pytest

from robot.command_intake import REFUSALS_NOTED_PER_MINUTE, CommandIntake
from robot.events import (
    CLOCK_SKEW_S,
    COMMAND_MAX_AGE_S,
    InvalidMessage,
    SeenCommands,
    Topics,
    decode_command,
    parse_json,
    validate,
)

TOPICS = Topics("demo", "robot-1")


def ack(**fields: Any) -> dict[str, Any]:
    return {"schema": "carebot/cmd-ack/1", "cmd_id": "a" * 32, "alert_id": "b" * 32, "ts": round(time.time(), 3),
            **fields}


def quiet(**fields: Any) -> dict[str, Any]:
    return {"schema": "carebot/cmd-quiet-hours/1", "cmd_id": "c" * 32, "enabled": True, "start": "21:00",
            "end": "07:00", "ts": round(time.time(), 3), **fields}


def refusal(name: str, raw: bytes | str, **kwargs: Any) -> InvalidMessage:
    """Decode a command that must be refused; the refusal names the topic and is one printable line."""
    data = raw.encode() if isinstance(raw, str) else raw
    with pytest.raises(InvalidMessage) as info:
        decode_command(TOPICS.command(name), data, TOPICS, **kwargs)
    text = str(info.value)
    assert TOPICS.command(name) in text, text
    assert text.isprintable() and len(text) < 400, repr(text)  # no log injection, no flood
    return info.value


def test_a_thousand_brackets_are_a_refusal_not_a_recursion_error() -> None:
    exc = refusal("ack", b"[" * 1000)
    assert "nested" in str(exc)
    exc = refusal("ack", b'{"alert_id":' + b"[" * 200 + b"]" * 200 + b"}")  # parses, but too deep to accept
    assert "nested" in str(exc)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_refused(literal: str) -> None:
    body = ack()
    raw = json.dumps(body).replace(f'"ts": {json.dumps(body["ts"])}', f'"ts": {literal}')
    assert literal in raw
    exc = refusal("ack", raw)
    assert "finite" in str(exc) and exc.problem == "not_json", str(exc)


def test_huge_numbers_are_refused_by_the_schema() -> None:
    exc = refusal("ack", json.dumps(ack(ts=1e300)))
    assert "ts" in str(exc)
    exc = refusal("remind", json.dumps({"schema": "carebot/cmd-remind/1", "cmd_id": "d" * 32, "kind": "drink",
                                         "in_s": 10**40, "ts": time.time()}))
    assert "in_s" in str(exc)


def test_bytes_that_are_not_utf8_json_are_refused() -> None:
    assert "UTF-8" in str(refusal("ack", bytes(range(128, 256))))
    # json.loads would guess UTF-16 from the byte pattern and accept this; the topic's contract is UTF-8
    assert "UTF-8" in str(refusal("ack", json.dumps(ack()).encode("utf-16")))


def test_duplicate_keys_are_refused_rather_than_last_one_wins() -> None:
    raw = json.dumps(ack())[:-1] + ', "alert_id": "' + "f" * 32 + '"}'
    assert "alert_id" in str(refusal("ack", raw))


def test_quiet_hours_with_a_trailing_newline_is_refused_naming_the_field() -> None:
    exc = refusal("quiet_hours", json.dumps(quiet(start="21:00\n")))
    assert "start" in str(exc)
    exc = refusal("quiet_hours", json.dumps(quiet(end="07:00\n")))
    assert "end" in str(exc)
    name, payload = decode_command(TOPICS.command("quiet_hours"), json.dumps(quiet()).encode(), TOPICS)
    assert name == "quiet_hours" and payload["start"] == "21:00"


def test_a_value_with_control_characters_cannot_forge_a_log_line() -> None:
    exc = refusal("ack", json.dumps(ack(alert_id="x\nWARNING robot: all alerts resolved\r")))
    assert "alert_id" in str(exc)


def test_parse_json_reports_where_and_what() -> None:
    with pytest.raises(InvalidMessage, match=r"^here: not JSON"):
        parse_json(b"{", "here")
    assert parse_json(b'{"a": [1, 2.5, "x"]}', "here") == {"a": [1, 2.5, "x"]}


def test_validate_never_lets_an_engine_error_out() -> None:
    deep: Any = "x"
    for _ in range(5000):  # deeper than Python's recursion limit, built without parsing
        deep = [deep]
    with pytest.raises(InvalidMessage):
        validate("cmd-ack", {"schema": "carebot/cmd-ack/1", "cmd_id": "a" * 32, "alert_id": deep})


def test_a_refusal_is_structured_for_the_audit_log() -> None:
    exc = refusal("quiet_hours", json.dumps(quiet(start="21:00\n")))
    assert (exc.field, exc.problem) == ("start", "schema")
    exc = refusal("ack", b"[" * 1000)
    assert (exc.field, exc.problem) == ("", "too_deep")
    assert re.fullmatch(r"[a-z0-9_]+", refusal("ack", b"\xff").problem)


# -- freshness: retained, stale and repeated commands ---------------------------------------------------


def test_a_retained_command_is_refused() -> None:
    exc = refusal("pause", json.dumps({"schema": "carebot/cmd-pause/1", "cmd_id": "e" * 32, "ts": time.time()}),
                  retained=True)
    assert exc.problem == "retained" and "retained" in str(exc)


def test_a_command_without_a_time_or_outside_the_window_is_refused() -> None:
    now = 1_800_000_000.0
    body = {"schema": "carebot/cmd-pause/1", "cmd_id": "e" * 32}
    assert "ts" in str(refusal("pause", json.dumps(body), now=now))
    old = refusal("pause", json.dumps({**body, "ts": now - COMMAND_MAX_AGE_S - CLOCK_SKEW_S - 1}), now=now)
    assert old.problem == "stale" and "old" in str(old)
    ahead = refusal("pause", json.dumps({**body, "ts": now + CLOCK_SKEW_S + 1}), now=now)
    assert ahead.problem == "stale" and "ahead" in str(ahead)
    for ts in (now - COMMAND_MAX_AGE_S - CLOCK_SKEW_S + 1, now, now + CLOCK_SKEW_S - 1):  # inside the window
        assert decode_command(TOPICS.command("pause"), json.dumps({**body, "ts": ts}).encode(), TOPICS, now=now)


def test_a_repeated_cmd_id_is_refused_and_memory_stays_bounded() -> None:
    seen = SeenCommands(capacity=100)
    now = 1_800_000_000.0
    seen.accept("a" * 32, now)
    with pytest.raises(InvalidMessage, match="already carried out") as info:
        seen.accept("a" * 32, now + 1)
    assert info.value.problem == "duplicate"
    for i in range(10_000):
        seen.accept(f"{i:032x}", now + 2)
    assert len(seen) <= 100
    seen.accept("a" * 32, now + 2 + COMMAND_MAX_AGE_S + 2 * CLOCK_SKEW_S)  # a copy this late is stale anyway
    later = now + 10 * COMMAND_MAX_AGE_S
    seen.accept("b" * 32, later)
    assert len(seen) == 1  # what can no longer pass the age check is forgotten


def test_a_flood_of_bad_commands_cannot_flood_the_log_or_the_audit_log(caplog: pytest.LogCaptureFixture) -> None:
    intake = CommandIntake(TOPICS)
    with caplog.at_level(logging.WARNING, logger="robot.command_intake"):
        for _ in range(1000):
            assert not intake.take(TOPICS.command("ack"), b"[" * 1000, False, now=1_800_000_000.0)
    assert intake.refused == 1000  # every one counted
    assert len(caplog.records) <= REFUSALS_NOTED_PER_MINUTE + 1
    assert len(intake.refusals) <= REFUSALS_NOTED_PER_MINUTE  # each becomes an audit record: disk space
    intake.window_started -= 61  # a minute later: the count of what was not noted one by one, then news again
    assert not intake.take(TOPICS.command("ack"), b"[", False, now=1_800_000_000.0)
    assert any("990 more" in r.getMessage() or "more staff commands refused" in r.getMessage()
               for r in caplog.records)
    assert intake.refusals[-1].problem == "not_json"
