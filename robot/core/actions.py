"""Carrying out intents: each kind of intent goes to the one part that acts on it.

Each intent is carried out on its own: one that fails is logged with its traceback and
reported (staff see a robot_fault alert `intent_<kind>`, cleared when that kind next
succeeds), and the intents after it still run. A help request's alert must never be lost
because the gesture or the speech before it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from robot.core.speech import SpeechChannel
from robot.core.staff import StaffChannel
from robot.intents import Gesture, Indicator, Intent, LookAt, Publish, Say, Sensors, StopSpeech
from robot.motion import MotionController

log = logging.getLogger(__name__)


class Executor:
    """Dispatches intents by type: motion, speech, sensors, the staff channel."""

    def __init__(self, motion: MotionController, speech: SpeechChannel, staff: StaffChannel,
                 sensors: Callable[[Sensors, float], None], record: Callable[[str, dict[str, Any]], None],
                 say: Callable[[Say, float], None] | None = None,
                 shown: Callable[[str], None] | None = None) -> None:
        self.motion = motion
        self.speech = speech
        self.staff = staff
        self.record = record
        self.shown = shown  # the resident's screen shows the light's mode too
        self.failing: set[str] = set()  # intent kinds whose last attempt failed
        self.handlers: dict[type, Callable[[Any, float], None]] = {
            Gesture: lambda i, now: motion.play(i.name, now),
            Indicator: self._indicator,
            LookAt: lambda i, now: motion.look_at(i.x, i.y),
            Say: say or speech.say,  # help sentences go through robot.core.delivery first
            StopSpeech: lambda i, now: speech.stop(),
            Sensors: sensors,
            Publish: staff.publish,
        }

    def _indicator(self, intent: Indicator, now: float) -> None:
        self.motion.set_indicator(intent.mode)
        if self.shown is not None:
            self.shown(intent.mode)

    def run(self, intents: Iterable[Intent], now: float) -> None:
        """Carry out intents in order; a failing one is reported and the rest still run."""
        for intent in intents:
            self.execute(intent, now)

    def execute(self, intent: Intent, now: float) -> bool:
        """Carry out one intent; False (reported) if it failed."""
        kind = type(intent).__name__.lower()
        try:
            self.handlers[type(intent)](intent, now)
            if not self.speech.busy:
                self.motion.speaking = False
        except Exception:
            log.exception("intent %s failed; carrying on with the next", kind)
            self._report(kind, True, now)
            return False
        if kind in self.failing:
            self._report(kind, False, now)
        return True

    def _report(self, kind: str, failed: bool, now: float) -> None:
        if failed:
            self.failing.add(kind)
            self.record("fault", {"reason": f"intent_{kind}", "state": "raised"})
        else:
            self.failing.discard(kind)
            self.record("fault", {"reason": f"intent_{kind}", "state": "cleared"})
        try:
            self.staff.fault(f"intent_{kind}", failed, now)
        except Exception:  # the staff channel itself is what failed: the log line above stands
            log.exception("could not report the failed intent %s to staff", kind)
