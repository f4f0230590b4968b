"""What the Sensors intent does to the devices, privacy mode's above all.

Privacy closes the camera (the vision worker releases the device). The microphone follows
`[privacy] microphone`: with "wake_and_help" (the default) it stays open but speech in only
recognises the wake phrase and help phrases, the dialog context's grammar in privacy; with
"off" it is closed outright, and only the button can end privacy (staff pause and resume keep it). Either way the
robot says which, when privacy starts, so that what it says is what it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot.core.workers import WorkerChannel
from robot.intents import Say, Sensors

SAYS = {"wake_and_help": "privacy_listening", "off": "privacy_mic_off"}


class SensorControl:
    """Carries out Sensors intents through the worker channel's desired state."""

    def __init__(self, workers: WorkerChannel, microphone: str, record: Callable[[str, dict[str, Any]], None],
                 say: Callable[[Say, float], object], state: Callable[[], str]) -> None:
        self.workers = workers
        self.microphone = microphone
        self.record = record
        self.say = say
        self.state = state

    def apply(self, intent: Sensors, now: float) -> None:
        """Open or close the camera and the microphone as the intent and the config say."""
        mic_open = intent.microphone or self.microphone == "wake_and_help"
        self.workers.send("vision", "camera", on=intent.camera)
        self.workers.send("speech_in", "microphone", on=mic_open)
        mic = "on" if intent.microphone else ("wake_help" if mic_open else "off")
        self.record("sensors", {"mode": f"mic={mic},camera={'on' if intent.camera else 'off'}"})
        if not intent.microphone and self.state() == "privacy":
            self.say(Say(SAYS[self.microphone]), now)
