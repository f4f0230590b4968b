"""The compiled schema checks (robot.schema_check) agree with jsonschema and never accept what it refuses.

`validate` trusts the compiled check when it says yes, so one wrong yes would let a payload through that the
schemas forbid (a name, a transcript, a forged field). Each shipped schema is compared with jsonschema (with
the project's `$` rule) on payloads derived from it: valid ones, the same with one field changed at random, and
every field of a complete payload set in turn to each value at its edges (bounds, a newline after a pattern's
match, a bool for a number, one item too many). The tests themselves were checked by breaking the compiler on
purpose (Python's `$`, maxLength or maximum off by one, any float as an integer, bools as numbers, maxItems,
required or additionalProperties ignored): each break failed them.
"""

from __future__ import annotations

import copy
import enum
import json
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot import events
from robot.activity import ActivityCounter
from robot.alerts import AlertManager, EscalationPolicy
from robot.config import Config
from robot.events import COMMANDS, EVENT_KINDS, InvalidMessage, Topics, Validator, decode_command, schema, validate
from robot.ha_discovery import discovery_messages
from robot.mqtt_link import MqttLink
from robot.outbox import Outbox
from robot.schema_check import Check, Unsupported, compile_schema

from .broker import ROBOTS, SITE, STAFF, Broker, Client, robot_config
from .conftest import ROOT, wait_for

NAMES = sorted(p.stem for p in (ROOT / "robot" / "schemas").glob("*.json"))
CHECKS: dict[str, Check] = {name: compile_schema(schema(name), events._ecma_regex) for name in NAMES}


def jsonschema_accepts(name_or_schema: str | dict[str, Any], payload: Any) -> bool:
    """What `validate` decided before the compiled checks, with the project's `$` rule."""
    if isinstance(name_or_schema, str):
        return bool(events._validator(name_or_schema).is_valid(payload))
    return bool(Validator(name_or_schema).is_valid(payload))


# -- payloads derived from a schema -----------------------------------------------------------------------

def _resolved(root: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


_MADE: dict[tuple[str, int], st.SearchStrategy[Any]] = {}


def _once(make: Any) -> Any:
    """Make each node's strategy once (building them afresh for every draw was most of the test's time)."""
    def made(root: dict[str, Any], node: Any) -> st.SearchStrategy[Any]:
        key = (make.__name__, id(node))  # (the nodes live as long as schema()'s cache)
        if key not in _MADE:
            _MADE[key] = make(root, node)
        return _MADE[key]
    return made


def _strategy(root: dict[str, Any], node: Any, every_field: bool) -> st.SearchStrategy[Any]:
    """Values `node` accepts (nearly always: a pattern's example cut to maxLength may not match any more)."""
    node = _resolved(root, node)
    inner = complete if every_field else valid
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind, low, high = node["type"], node.get("minimum"), node.get("maximum")
    if kind == "string":
        text = st.from_regex(node["pattern"], fullmatch=True)
        return text.map(lambda s: s[:node["maxLength"]]) if "maxLength" in node else text
    if kind == "integer":
        return st.integers(low, high) | st.integers(low, high).map(float)  # 3.0 is an integer to JSON Schema
    if kind == "number":
        return st.integers(low, high) | st.floats(low, high)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(inner(root, node["items"]), min_size=int(every_field), max_size=node.get("maxItems", 3))
    props = node["properties"]
    required = list(props) if every_field else node.get("required", [])
    return st.fixed_dictionaries({k: inner(root, props[k]) for k in required},
                                 optional={k: inner(root, v) for k, v in props.items() if k not in required})


@_once
def valid(root: dict[str, Any], node: Any) -> st.SearchStrategy[Any]:
    """Values `node` accepts, optional fields present or not."""
    return _strategy(root, node, every_field=False)


@_once
def complete(root: dict[str, Any], node: Any) -> st.SearchStrategy[Any]:
    """Values `node` accepts with every optional field present and every list non-empty: all there is to change."""
    return _strategy(root, node, every_field=True)


ANYWHERE = [None, True, False, 0, 1, -1, 0.5, -0.0, 2**53, 2**53 + 1, 10**40, -(10**40), 1e300, -1e300,
            float("inf"), "", "abc\n", "\n", "a\x00b", "\r\n", "é", "\U0001f600", "\ud800", [], {}, ["x"], {"a": 1},
            [[]], [None]]


def edges(root: dict[str, Any], node: Any, value: Any) -> list[Any]:
    """Values at the edge of what `node` accepts, near `value` (one it accepts), or of the wrong type."""
    node = _resolved(root, node)
    out: list[Any] = list(ANYWHERE)
    for key in ("minimum", "maximum"):
        if key in node:
            v = node[key]
            out += [v, v - 1, v + 1, v - 0.5, v + 0.5, float(v), float(v) + 0.5]
    for v in ([node["const"]] if "const" in node else []) + node.get("enum", []):
        out += [v, v + "\n", "\n" + v, v.upper(), v[:-1], v + " ", v + "\x00", [v], {v: v}]
    if "maxLength" in node:
        n = node["maxLength"]
        out += ["a" * n, "a" * (n + 1), "\U0001f600" * n, "\U0001f600" * (n + 1), "é" * (n + 1)]
    if isinstance(value, str):
        out += [value + "\n", "\n" + value, value + "\r", value + "\r\n", value + "x", value[1:], value[:-1],
                value.upper(), value + "\x00", value + "\u2028", [value]]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out += [value + 0.5, value - 0.5, float(value), -value, value + 1, value - 1, str(value), bool(value)]
    elif isinstance(value, list) and value and "maxItems" in node:
        out += [value + value[:1] * (node["maxItems"] + 1 - len(value)), value + [value[0]], [value]]
    elif isinstance(value, dict):
        out += [{**value, "extra": 1}, {**value, "": None}, {**value, 1: 1}, list(value), [value]]
    return out


@_once
def tricky(root: dict[str, Any], node: Any) -> st.SearchStrategy[Any]:
    """One of a value's edges half the time, else noise of any JSON type."""
    near = complete(root, node).flatmap(lambda value: st.sampled_from(edges(root, node, value)))
    noise = st.one_of(st.text(max_size=40), st.integers(), st.floats(allow_nan=False),
                      st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=8), st.integers()))
    return st.one_of(near, noise)


@st.composite
def changed(draw: st.DrawFn, root: dict[str, Any], node: Any) -> Any:
    """A valid value of `node`, kept as it is or changed in one place: the whole, inside, a key gone or added."""
    node = _resolved(root, node)
    value = draw(valid(root, node))
    if not isinstance(value, (dict, list)):
        return draw(st.one_of(st.just(value), tricky(root, node)))
    how = draw(st.sampled_from(["keep", "whole", "inside", "inside", "inside", "drop", "add"]))
    if how == "whole":
        return draw(tricky(root, node))
    if isinstance(value, dict) and how == "inside":
        key = draw(st.sampled_from(sorted(node["properties"])))
        value[key] = draw(changed(root, node["properties"][key]))
    elif isinstance(value, dict) and how == "drop" and value:
        del value[draw(st.sampled_from(sorted(value)))]
    elif isinstance(value, dict) and how == "add":
        value[draw(st.sampled_from(["extra", "Schema", "schema ", "", "counts.x", 1]))] = draw(tricky(root, node))
    elif isinstance(value, list) and how == "inside" and value:
        value[draw(st.integers(0, len(value) - 1))] = draw(changed(root, node["items"]))
    elif isinstance(value, list) and how == "add":
        value.append(draw(changed(root, node["items"])))
    return value


def every_schema(examples: int) -> Callable[[Callable[..., None]], Any]:
    """The test for each schema, with `examples` drawings of hypothesis's data each."""
    def wrap(test: Callable[..., None]) -> Any:
        drawn = settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        return pytest.mark.parametrize("name", NAMES)(drawn(given(data=st.data())(test)))
    return wrap


@every_schema(40)
def test_the_compiled_check_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    root = schema(name)
    payload = data.draw(changed(root, root))
    assert CHECKS[name](payload) == jsonschema_accepts(name, payload), payload


def _fields(root: dict[str, Any], node: Any, value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """(path, schema node, value) of `value` and of everything inside it."""
    node = _resolved(root, node)
    yield path, node, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _fields(root, node["properties"][key], item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _fields(root, node["items"], item, (*path, i))


GONE = object()


def _with(payload: Any, path: tuple[Any, ...], new: Any) -> Any:
    """`payload` with the value at `path` replaced by `new`, or taken out if `new` is GONE."""
    if not path:
        return new
    out = copy.deepcopy(payload)
    *parents, last = path
    target = out
    for step in parents:
        target = target[step]
    if new is GONE:
        del target[last]
    else:
        target[last] = new
    return out


@every_schema(2)
def test_every_field_at_its_edges_and_gone(name: str, data: st.DataObject) -> None:
    root = schema(name)
    payload = data.draw(complete(root, root))
    assert CHECKS[name](payload), payload
    for path, node, value in _fields(root, root, payload):
        for new in [*edges(root, node, value), GONE]:
            if new is GONE and not path:
                continue
            one_changed = _with(payload, path, new)
            assert CHECKS[name](one_changed) == jsonschema_accepts(name, one_changed), (path, new)


# -- JSON's rules where Python's differ ----------------------------------------------------------------------

ALERT = {"schema": "carebot/alert/1", "event_id": "a" * 32, "boot_id": "b" * 12, "seq": 1, "ts": 1.7e9,
         "robot": "robot-1", "site": "demo", "alert_id": "c" * 32, "room": "lounge", "type": "help_request",
         "priority": "high", "state": "raised", "level": 0, "raised_ts": 1.7e9}


@pytest.mark.parametrize("change, accepted", [
    ({}, True),
    ({"level": 1.0}, True),  # a whole float is an integer
    ({"seq": 9007199254740991, "ts": 4102444800}, True),
    ({"level": True}, False),  # a bool is not an integer, nor a number
    ({"ts": False}, False),
    ({"level": 1.5}, False),
    ({"seq": 0}, False),
    ({"seq": 9007199254740992}, False),
    ({"ts": 10**400}, False),
    ({"ts": -0.001}, False),
    ({"room": "lounge\n"}, False),  # `$` is the end of the text, not before a final newline
    ({"room": "Lounge"}, False),
    ({"room": "x" * 33}, False),
    ({"schema": "carebot/alert/1\n"}, False),
    ({"type": ["help_request"]}, False),
    ({"priority": "HIGH"}, False),
    ({"resident": "Margaret"}, False),
])
def test_json_schema_rules_where_python_would_bend_them(change: dict[str, Any], accepted: bool) -> None:
    payload = {**ALERT, **change}
    assert CHECKS["alert"](payload) is accepted
    assert jsonschema_accepts("alert", payload) is accepted


def test_const_and_enum_compare_as_json_does() -> None:
    enum_ = {"enum": [1, "a", None, 2.5]}
    const_true = {"const": True}
    long2 = {"type": "string", "maxLength": 2}
    cases = [(enum_, 1, True), (enum_, 1.0, True), (enum_, True, False), (enum_, None, True), (enum_, False, False),
             (enum_, 0, False), (enum_, "a", True), (enum_, ["a"], False), (enum_, 2.5, True), (enum_, "1", False),
             (const_true, True, True), (const_true, 1, False), (const_true, 1.0, False),
             (long2, "\U0001f600\U0001f600", True), (long2, "\U0001f600" * 3, False), (long2, "é\n", True)]
    for node, value, accepted in cases:  # maxLength counts code points, not bytes nor UTF-16 units
        assert compile_schema(node, events._ecma_regex)(value) is accepted, (node, value)
        assert jsonschema_accepts(node, value) is accepted, (node, value)


class Level(enum.IntEnum):
    ONE = 1


class Token(str):
    """A str subclass: jsonschema judges it by isinstance, so the compiled check leaves it to jsonschema."""


ODD = [float("nan"), -float("inf"), Decimal("1"), Fraction(1, 2), 1j, Level.ONE, Token("lounge"), ("a",), b"a",
       object(), OrderedDict(), {"a"}]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_odd_python_values_are_never_accepted_where_jsonschema_refuses(name: str, data: st.DataObject) -> None:
    example = data.draw(valid(schema(name), schema(name)))
    payloads: list[Any] = [*ODD, None, [], "x", 1, [example], OrderedDict(example)]
    for key in example:
        payloads += [{**example, key: odd} for odd in ODD]
    for payload in payloads:
        if CHECKS[name](payload):  # (it never raises: a hostile payload is a no, and jsonschema decides)
            assert jsonschema_accepts(name, payload), payload


def test_nan_is_refused_by_the_compiled_check_and_left_to_jsonschema() -> None:
    payload = {**ALERT, "ts": math.nan}
    assert not CHECKS["alert"](payload)
    assert jsonschema_accepts("alert", payload)  # (NaN compares false both ways; the JSON parser refuses it first)


# -- what the compiler refuses to compile ---------------------------------------------------------------------

@pytest.mark.parametrize("node", [
    {"type": "string", "minLength": 1},
    {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}},
    {"type": "array", "items": {"type": "string", "format": "email"}},
    {"type": "array", "items": [{"type": "string"}]},
    {"$defs": {"x": {"type": "string", "formt": "date"}}, "properties": {"a": {"$ref": "#/$defs/x"}}},
    {"$defs": {"x": {"properties": {"a": {"$ref": "#/$defs/x"}}}}, "properties": {"a": {"$ref": "#/$defs/x"}}},
    {"properties": {"a": {"$ref": "#"}}},
    {"properties": {"a": {"$ref": "other.json#/$defs/x"}}},
    {"properties": {"a": {"$id": "elsewhere", "type": "string"}}},
    {"type": ["string", "null"]},
    {"const": {"a": 1}},
    {"enum": [[1]]},
    {"anyOf": [{"type": "string"}]},
    {"patternProperties": {"^a": {"type": "string"}}},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
    {"type": "number", "maximum": "3"},
    {"type": "string", "pattern": "("},
    ["not", "a", "schema"],
])
def test_a_schema_with_anything_the_compiler_does_not_know_is_not_compiled(node: Any) -> None:
    with pytest.raises(Unsupported):
        compile_schema(node, events._ecma_regex)


def test_validate_leaves_a_schema_it_cannot_compile_to_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    doubled = {"type": "object", "additionalProperties": False, "required": ["n"],
               "properties": {"n": {"type": "integer", "multipleOf": 2}}}
    monkeypatch.setattr(events, "schema", lambda name: doubled)  # a schema the project does not ship
    events._fast_check.cache_clear()
    events._validator.cache_clear()
    try:
        validate("doubled", {"n": 4})
        with pytest.raises(InvalidMessage, match="doubled: n: 3 is not a multiple of 2"):
            validate("doubled", {"n": 3})  # a compiler that skipped multipleOf would have let it through
    finally:
        events._fast_check.cache_clear()
        events._validator.cache_clear()


def test_every_shipped_schema_is_compiled() -> None:
    for name in NAMES:
        assert events._fast_check(name) is not events._refuse_all, name


# -- the payloads the code makes ------------------------------------------------------------------------------

def _every_alert_update() -> list[dict[str, Any]]:
    """An update of each state, for each type of alert, as the alert manager makes them."""
    m, updates = AlertManager(EscalationPolicy(high=(60, 180), medium=(900,))), []
    raised = [m.raise_alert("help_request", "high", "lounge", 0.0, time.time()),
              *(m.raise_alert("reminder_unacked", "medium", "room-2", 0.0, time.time(), reminder=r)
                for r in ("medication", "drink", "meal", "appointment", "activity")),
              *(m.raise_alert("wellbeing_concern", "low", "room-3", 0.0, time.time(), concern=c)
                for c in ("tired", "in_pain", "lonely", "unwell")),
              m.raise_alert("robot_fault", "medium", "lounge", 0.0, time.time(), fault="servo_bus")]
    updates += [first for _, first in raised]
    updates += m.tick(1000.0)
    for i, (alert, _) in enumerate(raised):
        updates.append(m.acknowledge(alert.alert_id))
        updates.append(m.renew(alert.alert_id, "high"))
        updates.append(m.resolve(alert.alert_id) if i % 2 else m.cancel(alert.alert_id))
    return [u for u in updates if u is not None]


COMMAND_BODIES = {COMMANDS[name]: {"schema": f"carebot/{COMMANDS[name]}/1", "cmd_id": uuid.uuid4().hex,
                                   "ts": round(time.time(), 3), "by": STAFF, **fields}
                  for name, fields in [("ack", {"alert_id": "b" * 32}), ("resolve", {"alert_id": "b" * 32}),
                                       ("pause", {}), ("resume", {}), ("remind", {"kind": "drink", "in_s": 600}),
                                       ("quiet_hours", {"enabled": True, "start": "21:00", "end": "07:00"})]}
def test_commands_as_staff_send_them_pass_the_compiled_check_through_the_decoder() -> None:
    topics = Topics(SITE, ROBOTS[0])
    for name, kind in COMMANDS.items():
        body = {**COMMAND_BODIES[kind], "ts": round(time.time(), 3)}
        decoded, payload = decode_command(topics.command(name), json.dumps(body).encode(), topics)
        assert decoded == name and CHECKS[kind](payload), payload


def test_home_assistant_discovery_passes_the_compiled_check() -> None:
    for topic, payload in discovery_messages(Topics(SITE, ROBOTS[0]), "homeassistant", "1.0.0"):
        assert CHECKS["ha-discovery"](json.loads(payload)), topic


def test_every_payload_a_real_link_publishes_passes_the_compiled_check(config: Config, broker: Broker,
                                                                          tmp_path: Path) -> None:
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    cfg = robot_config(config, broker, home_assistant=True)
    link = MqttLink(cfg.mqtt, Topics(SITE, ROBOTS[0]), "0123456789ab", Outbox(tmp_path / "outbox.sqlite"),
                    heartbeat_s=0.1)
    link.health = {"behaviour": "alerting", "faults": ["camera"], "open_alerts": 3, "loop_p99_ms": 2.5}
    counter = ActivityCounter(60, 1.7e9)
    counter.count("help_requests")
    counter.count("asked_again", 2)
    counter.tick("engaged", 125.0)
    activity = counter.flush(1.7e9 + 60)
    assert activity is not None
    updates = _every_alert_update()
    try:
        link.start()
        for update in updates:
            link.submit("alert", update)
        link.submit("activity", activity)
        assert wait_for(lambda: len(staff.of("/alert")) == len(updates) and staff.of("/activity")
                        and staff.of("/heartbeat") and staff.of("/device"), 10)
    finally:
        link.stop()
        staff.close()
    sent = [("alert" if "/alert/" in m.topic else m.topic.rsplit("/", 1)[-1], m.json())
            for m in staff.messages if m.payload]  # (an empty retained message clears a closed alert)
    assert {kind for kind, _ in sent} == set(EVENT_KINDS)
    for kind, body in sent:
        assert CHECKS[kind](body) and jsonschema_accepts(kind, body), (kind, body)
