"""Carrying out intents: each kind of intent goes to the one part that acts on it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from robot.core.speech import SpeechChannel
from robot.core.staff import StaffChannel
from robot.intents import Gesture, Indicator, Intent, LookAt, Publish, Say, Sensors, StopSpeech
from robot.motion import MotionController


class Executor:
    """Dispatches intents by type: motion, speech, sensors, the staff channel."""

    def __init__(self, motion: MotionController, speech: SpeechChannel, staff: StaffChannel,
                 sensors: Callable[[Sensors], None], say: Callable[[Say, float], None] | None = None) -> None:
        self.motion = motion
        self.speech = speech
        self.handlers: dict[type, Callable[[Any, float], None]] = {
            Gesture: lambda i, now: motion.play(i.name, now),
            Indicator: lambda i, now: motion.set_indicator(i.mode),
            LookAt: lambda i, now: motion.look_at(i.x, i.y),
            Say: say or speech.say,  # help sentences go through robot.core.delivery first
            StopSpeech: lambda i, now: speech.stop(),
            Sensors: lambda i, now: sensors(i),
            Publish: staff.publish,
        }

    def run(self, intents: Iterable[Intent], now: float) -> None:
        """Carry out intents in order."""
        for intent in intents:
            self.execute(intent, now)

    def execute(self, intent: Intent, now: float) -> None:
        """Carry out one intent."""
        self.handlers[type(intent)](intent, now)
        if not self.speech.busy:
            self.motion.speaking = False
