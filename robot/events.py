"""Staff-facing events and commands: topics, JSON Schemas, and validation at both edges.

Every payload that leaves the robot is validated against its schema before it is sent,
and every command that arrives is validated before anything acts on it. The schemas
forbid extra properties and allow only tokens, enums, ids and numbers: there is no
field where a name, a transcript or an image could go.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from robot.errors import CareBotError
from robot.schema_check import Check, Unsupported, compile_schema

VERSION = "v1"
MAX_COMMAND_BYTES = 1024
MAX_DEPTH = 8  # the deepest payload any schema allows is 4 levels
# A command is carried out only while fresh: its `ts` at most COMMAND_MAX_AGE_S behind the robot's clock
# and at most CLOCK_SKEW_S ahead of it (the skew allowed between a staff station's clock and the robot's;
# the age allows the same skew the other way). Keep both on the care home's NTP server.
COMMAND_MAX_AGE_S = 120.0
CLOCK_SKEW_S = 30.0
EVENT_KINDS = ("alert", "activity", "status", "heartbeat", "device")
COMMANDS = {"ack": "cmd-ack", "resolve": "cmd-resolve", "pause": "cmd-pause", "resume": "cmd-resume",
            "remind": "cmd-remind", "quiet_hours": "cmd-quiet-hours"}


class InvalidMessage(CareBotError):
    """A payload refused at an edge; the message says where (topic, field) and why.

    `field` is the JSON path of the offending field ("" for the payload as a whole) and `problem`
    a short code (not_json, too_deep, schema, ...) that is safe to keep in the audit log: neither
    carries text from the payload.
    """

    def __init__(self, message: str, *, field: str = "", problem: str = "schema") -> None:
        super().__init__(printable(message))
        self.field = field
        self.problem = problem


def printable(text: str, limit: int = 300) -> str:
    """One log-safe line: control characters escaped (no forged log lines), length bounded."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out if len(text) <= limit else out + "..."


@dataclass(frozen=True)
class Topics:
    """The versioned topic tree of one robot: carebot/v1/{site}/{robot}/..."""

    site: str
    robot: str

    @property
    def base(self) -> str:
        return f"carebot/{VERSION}/{self.site}/{self.robot}"

    def event(self, kind: str) -> str:
        """Topic of an outgoing event kind (alert, activity, status, heartbeat, device)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        return f"{self.base}/{kind}"

    def command(self, name: str) -> str:
        """Topic of a staff command."""
        return f"{self.base}/cmd/{name}"

    @property
    def commands(self) -> str:
        """Subscription filter for every command to this robot."""
        return f"{self.base}/cmd/+"

    def alert_state(self, alert_id: str) -> str:
        """The retained topic that holds an open alert's latest update (empty once it closed)."""
        return f"{self.base}/alert/{alert_id}"


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in robot/schemas."""
    text = resources.files("robot.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    r"""Compile a schema pattern with ECMA-262's `$` (the end of the text), as JSON Schema means it.

    Python's `$` also matches just before a final newline, so with the stock validator
    "21:00\n" matched "^...$" and reached the tick. Here every `$` outside a class becomes `\Z`.
    """
    out, escaped, in_class = [], False, False
    for c in pattern:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "$" and not in_class:
            c = r"\Z"
        out.append(c)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def _validator(name: str) -> Any:
    return Validator(schema(name))


@cache
def _fast_check(name: str) -> Check:
    try:
        return compile_schema(schema(name), _ecma_regex)
    except Unsupported:  # (checked by jsonschema alone, as it always was)
        return _refuse_all


def _refuse_all(payload: Any) -> bool:
    return False


def validate(name: str, payload: Any, where: str = "") -> None:
    """Raise InvalidMessage naming the first problem, with its JSON path.

    The compiled check (robot.schema_check) passes a valid payload in a few µs; jsonschema runs only
    when it says no, so it alone decides a refusal and words it.
    """
    with contextlib.suppress(Exception):  # (a check that breaks on a hostile payload leaves it to jsonschema)
        if _fast_check(name)(payload):
            return
    try:
        errors = sorted(_validator(name).iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    except Exception as exc:  # (a hostile payload can break the engine; refuse it)
        raise InvalidMessage(f"{where or name}: cannot be checked ({type(exc).__name__})",
                             problem="unreadable") from None
    if errors:
        err = errors[0]
        field = "/".join(str(p) for p in err.absolute_path)
        raise InvalidMessage(f"{where or name}: {field or '(top level)'}: {err.message[:200]}", field=field)


def encode(name: str, payload: dict[str, Any]) -> bytes:
    """Validate and serialise an outgoing payload; invalid payloads are never sent."""
    body = {"schema": f"carebot/{name}/1", **payload}
    validate(name, body)
    return json.dumps(body, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # parsers disagree on which one wins: refuse rather than guess
            raise ValueError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_json(raw: bytes, where: str) -> Any:
    """Strict JSON from the wire: UTF-8 only, finite numbers, unique keys, at most MAX_DEPTH deep.

    Raises InvalidMessage for anything else, whatever the parser throws (RecursionError included).
    """
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"{where}: not UTF-8 (byte {exc.start})", problem="not_utf8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise InvalidMessage(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)", problem="too_deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"{where}: not JSON ({exc.msg} at {exc.pos})", problem="not_json") from None
    except Exception as exc:  # (NaN, Infinity, 1e999, a duplicate key, a 5000-digit number)
        raise InvalidMessage(f"{where}: not JSON ({str(exc)[:80]})", problem="not_json") from None
    if _depth(value) > MAX_DEPTH:
        raise InvalidMessage(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)", problem="too_deep")
    return value


def decode_command(topic: str, raw: bytes, topics: Topics, *, retained: bool = False,
                   now: float | None = None) -> tuple[str, dict[str, Any]]:
    """Check an incoming command's topic, size, JSON, schema, meaning and age; return (name, payload).

    A retained command is refused: the broker would hand it over again on every reconnect.
    Anything wrong is an InvalidMessage naming the topic and field; nothing else escapes.
    """
    try:
        name, payload = _decode_command(topic, raw, topics)
        if retained:
            raise InvalidMessage(f"{topic}: a retained command is never carried out (clear it: publish an "
                                 "empty retained message to this topic)", problem="retained")
        _check_age(topic, payload["ts"], time.time() if now is None else now)
        return name, payload
    except InvalidMessage:
        raise
    except Exception as exc:  # (a decoder bug must not become a dead thread)
        raise InvalidMessage(f"{topic[:120]}: cannot be decoded ({type(exc).__name__})", problem="unreadable") from None


def _check_age(topic: str, ts: float, now: float) -> None:
    age = now - ts
    if age > COMMAND_MAX_AGE_S + CLOCK_SKEW_S:
        raise InvalidMessage(f"{topic}: ts: sent {age:.0f} s ago, too old to carry out "
                             f"(at most {COMMAND_MAX_AGE_S + CLOCK_SKEW_S:.0f} s)", field="ts", problem="stale")
    if -age > CLOCK_SKEW_S:
        raise InvalidMessage(f"{topic}: ts: {-age:.0f} s ahead of the robot's clock (at most {CLOCK_SKEW_S:.0f} s): "
                             "check both clocks", field="ts", problem="stale")


class SeenCommands:
    """The cmd_ids carried out recently, so a redelivered or replayed command is refused.

    An id is kept only while a command carrying it could still pass the age check; a burst of
    more than `capacity` commands inside that window forgets the oldest ids first.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, cmd_id: str, now: float, where: str = "") -> None:
        """Remember a command about to be carried out; InvalidMessage if it already was."""
        keep_s = COMMAND_MAX_AGE_S + 2 * CLOCK_SKEW_S
        while self._seen and (next(iter(self._seen.values())) < now - keep_s or len(self._seen) >= self.capacity):
            self._seen.popitem(last=False)
        if cmd_id in self._seen:
            raise InvalidMessage(f"{where or 'command'}: cmd_id: {cmd_id[:32]} was already carried out",
                                 field="cmd_id", problem="duplicate")
        self._seen[cmd_id] = now


def _decode_command(topic: str, raw: bytes, topics: Topics) -> tuple[str, dict[str, Any]]:
    prefix = topics.base + "/cmd/"
    if not topic.startswith(prefix):
        raise InvalidMessage(f"{topic[:120]}: not a command topic of this robot", problem="wrong_topic")
    name = topic[len(prefix):]
    if name not in COMMANDS:
        raise InvalidMessage(f"{topic[:120]}: unknown command {name[:40]!r}; known: {', '.join(COMMANDS)}",
                             problem="unknown_command")
    if len(raw) > MAX_COMMAND_BYTES:
        raise InvalidMessage(f"{topic}: {len(raw)} bytes, over the {MAX_COMMAND_BYTES}-byte limit", problem="too_large")
    payload = parse_json(raw, topic)
    if not isinstance(payload, dict):
        raise InvalidMessage(f"{topic}: payload must be a JSON object, not {type(payload).__name__}",
                             problem="not_object")
    validate(COMMANDS[name], payload, topic)
    if name == "quiet_hours":
        for key in ("start", "end"):  # the schema's pattern is the same rule the config applies
            try:
                dt.time.fromisoformat(payload[key])
            except ValueError:
                raise InvalidMessage(f"{topic}: {key}: not a time of day", field=key) from None
    return name, payload
