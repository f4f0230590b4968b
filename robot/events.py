"""Staff-facing events and commands: topics, JSON Schemas, and validation at both edges.

Every payload that leaves the robot is validated against its schema before it is sent,
and every command that arrives is validated before anything acts on it. The schemas
forbid extra properties and allow only tokens, enums, ids and numbers: there is no
field where a name, a transcript or an image could go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from robot.errors import CareBotError

VERSION = "v1"
MAX_COMMAND_BYTES = 1024
EVENT_KINDS = ("alert", "activity", "status", "heartbeat", "device")
COMMANDS = {"ack": "cmd-ack", "resolve": "cmd-resolve", "pause": "cmd-pause", "resume": "cmd-resume",
            "remind": "cmd-remind", "quiet_hours": "cmd-quiet-hours"}


class InvalidMessage(CareBotError):
    """A payload that does not match its schema; the message says where and why."""


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


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in robot/schemas."""
    text = resources.files("robot.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def validate(name: str, payload: dict[str, Any]) -> None:
    """Raise InvalidMessage naming the first problem, with its JSON path."""
    errors = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InvalidMessage(f"{name}: {where}: {err.message[:200]}")


def encode(name: str, payload: dict[str, Any]) -> bytes:
    """Validate and serialise an outgoing payload; invalid payloads are never sent."""
    body = {"schema": f"carebot/{name}/1", **payload}
    validate(name, body)
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_command(topic: str, raw: bytes, topics: Topics) -> tuple[str, dict[str, Any]]:
    """Check an incoming command's topic, size, JSON and schema; return (name, payload)."""
    prefix = topics.base + "/cmd/"
    if not topic.startswith(prefix):
        raise InvalidMessage(f"{topic}: not a command topic of this robot")
    name = topic[len(prefix):]
    if name not in COMMANDS:
        raise InvalidMessage(f"{topic}: unknown command {name[:40]!r}; known: {', '.join(COMMANDS)}")
    if len(raw) > MAX_COMMAND_BYTES:
        raise InvalidMessage(f"{topic}: {len(raw)} bytes, over the {MAX_COMMAND_BYTES}-byte limit")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"{topic}: not JSON ({str(exc)[:80]})") from None
    if not isinstance(payload, dict):
        raise InvalidMessage(f"{topic}: payload must be a JSON object, not {type(payload).__name__}")
    validate(COMMANDS[name], payload)
    return name, payload
