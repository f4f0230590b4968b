"""Staff commands from the wire to the control loop: only fresh, well-formed, first-time commands pass.

A command is carried out when it is for a known command topic of this robot, strict JSON
within size and depth limits, valid against its schema (and its meaning: quiet-hours times),
not retained, fresh (robot.events.COMMAND_MAX_AGE_S, CLOCK_SKEW_S), not already carried out
(its cmd_id) and not one too many (COMMANDS_PER_MINUTE: a flood of valid commands would fill the
disk with audit records too; commands other than ack and resolve may use only half of it, so that a flood of
pauses or reminders, from a stuck station or a care group's centre, never leaves staff unable to answer help).
Everything else is refused with a log line saying what was wrong and where, and
a Refusal of codes only for the audit log (at most REFUSALS_NOTED_PER_MINUTE a minute, so a
flood of bad commands cannot fill the robot's disk; the rest are counted). Runs on the MQTT
link thread; the control loop drains `commands` and `refusals` (deque appends and pops are
thread-safe).
"""

from __future__ import annotations

import collections
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from robot.events import COMMANDS, InvalidMessage, SeenCommands, Topics, decode_command

log = logging.getLogger(__name__)

# Each refusal noted is a log line and an audit record (disk space on the robot): beyond this many a
# minute, refusals are only counted, and the count is noted once the minute is over.
REFUSALS_NOTED_PER_MINUTE = 30
# Each command carried out is an audit record too (and an ack for an alert the robot does not have is a
# second one): a nurse station sends a few a minute, so more than this a minute is refused as a flood.
COMMANDS_PER_MINUTE = 60
ANSWERS = ("ack", "resolve")  # how staff answer an alert: the rest of the commands get half the budget


@dataclass(frozen=True)
class Refusal:
    """A staff command refused at the edge, for the audit log: codes only, no text from the payload."""

    command: str   # a known command name, or "unknown"
    field: str     # a schema field, "" for the payload as a whole
    problem: str   # not_json, too_deep, schema, retained, stale, duplicate, ...


class CommandIntake:
    """Decodes, checks and de-duplicates staff commands; keeps what passed and what was refused."""

    def __init__(self, topics: Topics, notes_per_minute: int = REFUSALS_NOTED_PER_MINUTE,
                 commands_per_minute: int = COMMANDS_PER_MINUTE) -> None:
        self.topics = topics
        self.notes_per_minute = notes_per_minute
        self.commands_per_minute = commands_per_minute
        self.commands: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self.refusals: collections.deque[Refusal] = collections.deque(maxlen=256)
        self.refused = 0
        self.accepted = 0
        self.clock_refused_at: float | None = None  # monotonic time of the last command refused for its age
        self.window_started = time.monotonic()
        self._noted = 0     # refusals noted in this minute
        self._unnoted = 0   # refusals only counted in this minute
        self._carried = 0   # commands accepted in this minute
        self._carried_other = 0  # of which not ack or resolve
        self._seen = SeenCommands()

    def take(self, topic: str, raw: bytes, retained: bool, now: float | None = None) -> bool:
        """One message from the command subscription; True if it is to be carried out."""
        now = time.time() if now is None else now
        try:
            name, payload = decode_command(topic, raw, self.topics, retained=retained, now=now)
            self._within_rate(topic, name)
            self._seen.accept(payload["cmd_id"], now, topic)
            self._carried += 1
            self._carried_other += name not in ANSWERS
        except InvalidMessage as exc:
            self.refused += 1
            if exc.problem == "stale":
                self.clock_refused_at = time.monotonic()
            if self._may_note():
                log.warning("staff command refused: %s", exc)
                command = topic.rsplit("/", 1)[-1]
                field = exc.field if re.fullmatch(r"[a-z_]{1,32}", exc.field) else ""
                self.refusals.append(Refusal(command if command in COMMANDS else "unknown", field, exc.problem))
            return False
        self.accepted += 1
        self.commands.append((name, payload))
        return True

    def _within_rate(self, topic: str, name: str) -> None:
        """Refuse a command beyond this minute's COMMANDS_PER_MINUTE (a flood, even of valid commands), or, for
        a command that answers no alert, beyond half of it."""
        self._new_minute()
        if name not in ANSWERS and self._carried_other >= self.commands_per_minute // 2:
            raise InvalidMessage(f"{topic}: over {self.commands_per_minute // 2} commands other than ack and "
                                 "resolve in a minute: refused as a flood (is a staff station stuck in a loop?)",
                                 problem="flood")
        if self._carried >= self.commands_per_minute:
            raise InvalidMessage(f"{topic}: over {self.commands_per_minute} commands in a minute: refused as a "
                                 "flood (is a staff station stuck in a loop?)", problem="flood")

    def _new_minute(self) -> None:
        now = time.monotonic()
        if now - self.window_started >= 60.0:
            if self._unnoted:
                log.warning("%d more staff commands refused in the last minute (not logged one by one)",
                            self._unnoted)
            self.window_started, self._noted, self._unnoted, self._carried = now, 0, 0, 0
            self._carried_other = 0

    def _may_note(self) -> bool:
        """True while this minute's refusals may still be logged and audited one by one."""
        self._new_minute()
        if self._noted < self.notes_per_minute:
            self._noted += 1
            return True
        self._unnoted += 1
        return False
