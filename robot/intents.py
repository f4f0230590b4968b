"""Intents: what the behaviour layer wants done, as small immutable records.

State-machine callbacks only append intents; the runtime carries them out (speech
worker, motion, MQTT outbox) after the step. That keeps every callback free of I/O
and lets tests read exactly what the robot decided, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

IndicatorMode = Literal["idle", "listening", "privacy", "alert", "paused", "sleep", "fault", "off"]


@dataclass(frozen=True)
class Say:
    """Speak the response `key` (rendered per language by the dialog packs)."""

    key: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StopSpeech:
    """Silence speech output at once."""


@dataclass(frozen=True)
class Gesture:
    """Play a named motion: nod, shake, breathe, speak, attentive, rest, sleep, safe, neutral."""

    name: str


@dataclass(frozen=True)
class LookAt:
    """Turn the head toward a point in normalised image coordinates (-1..1, +x right, +y down)."""

    x: float
    y: float


@dataclass(frozen=True)
class Indicator:
    """Show a mode on the indicator LED."""

    mode: IndicatorMode


@dataclass(frozen=True)
class Sensors:
    """Switch the microphone and camera on or off (privacy releases the devices)."""

    microphone: bool
    camera: bool


@dataclass(frozen=True)
class Publish:
    """Hand an anonymous event to the staff channel (MQTT outbox)."""

    kind: Literal["alert", "activity", "fault", "status"]
    fields: tuple[tuple[str, str | int | float | bool], ...] = field(default=())

    def get(self, key: str) -> object:
        """The value of one field, or None."""
        return dict(self.fields).get(key)


Intent = Say | StopSpeech | Gesture | LookAt | Indicator | Sensors | Publish
