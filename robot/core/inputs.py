"""Typed inputs for the control tick, and the inbox that carries them across threads.

Consoles, tests, the dialog thread and the worker channel put these in; only the tick takes
them out. Each kind is a small frozen record, so a typo is a type error, not a trigger that
the state machine silently refuses.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Trigger:
    """Fire a state-machine trigger by name (console, tests, the loop's fault handler)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Utterance:
    """Something the resident said. The words are used once to choose a reply, then dropped;
    `repr=False` keeps them out of any log line that prints the record."""

    text: str = field(repr=False)
    confidence: float = 1.0
    typed: bool = False
    alternatives: tuple[str, ...] = field(default=(), repr=False)  # the recogniser's other readings


@dataclass(frozen=True)
class SpeechStarted:
    """Speech in heard a voice begin (the resident may be about to speak)."""


@dataclass(frozen=True)
class Decision:
    """What the dialog thread decided for one utterance: (trigger, kwargs) pairs, where the
    trigger "say" speaks a response key."""

    actions: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class ButtonPress:
    """The robot's physical button: toggles privacy."""


@dataclass(frozen=True)
class ScreenPress:
    """A button on the resident's screen (robot/core/screen.py); each goes the way its spoken twin goes."""

    button: str


@dataclass(frozen=True)
class PlayGesture:
    """Play a pose or gesture by name (console and servo tools)."""

    name: str


@dataclass(frozen=True)
class LookAtPoint:
    """Look at a point in normalised image coordinates (-1..1)."""

    x: float
    y: float


@dataclass(frozen=True)
class StaffCommand:
    """A decoded staff command (from MQTT, or the console acting as staff)."""

    name: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class PartFault:
    """A guarded part or callback faulted (raised) or is healthy again (cleared)."""

    part: str
    raised: bool


@dataclass(frozen=True)
class BoardFault:
    """A watched device saw a fault begin (raised) or end (cleared): the board's undervoltage, throttled and
    disk_low, the paging line's nursecall_link. Staff see it; the robot carries on."""

    reason: str
    raised: bool


Input = (PartFault | BoardFault | Trigger | Utterance | SpeechStarted | Decision | ButtonPress | ScreenPress
         | PlayGesture | LookAtPoint | StaffCommand)


class Inbox:
    """A thread-safe queue of inputs: any thread puts (never blocks), the tick drains."""

    def __init__(self) -> None:
        self._items: collections.deque[Input] = collections.deque()

    def put(self, item: Input) -> None:
        """Queue one input for the next tick (deque.append is atomic)."""
        self._items.append(item)

    def drain(self) -> Iterator[Input]:
        """Every input queued so far, oldest first, including any put while draining."""
        items = self._items
        while items:
            yield items.popleft()

    def __len__(self) -> int:
        return len(self._items)
