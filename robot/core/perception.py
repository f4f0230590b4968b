"""Perception: what vision and speech in report, turned into inputs and head motion.

Vision's engagement states become engage/disengage triggers and the head follows the target;
speech in's utterances and voice onsets become typed inputs for the tick. In the simulator,
the head's angles go back to the simulated camera so that the scene moves with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot.core.inputs import Inbox, SpeechStarted, Utterance
from robot.messages import Message
from robot.motion import MotionController

FOLLOWS_TARGET = ("idle", "engaged", "listening", "responding", "reminding", "alerting")
HEAD_PERIOD_S = 0.1

Fire = Callable[..., bool]


class Perception:
    """Engagement, head following and speech-in messages."""

    def __init__(self, inbox: Inbox, fire: Fire, state: Callable[[], str], motion: MotionController,
                 send: Callable[..., None]) -> None:
        self.inbox = inbox
        self.fire = fire
        self.state = state
        self.motion = motion
        self.send = send
        self.engagement = "UNKNOWN"
        self.last_target: list[float] | None = None
        self._next_head = 0.0
        self._head_sent = (0.0, 0.0)

    def on_vision(self, msg: Message, now: float) -> None:
        """An engagement update from the vision worker."""
        data: dict[str, Any] = msg.data
        state = str(data.get("state"))
        previous, self.engagement = self.engagement, state
        if state == "ENGAGED" and previous != "ENGAGED":
            self.fire("engage")
        elif state == "DISENGAGED" and (previous in ("ENGAGED", "DISENGAGING")
                                        or (previous != state and self.state() == "engaged")):
            # (the second case: the camera came back from privacy or a fault with the tracker starting
            # afresh, and the person the robot still believes in left before they were seen again)
            self.fire("disengage")
            self.motion.release_look()
        target = data.get("target")
        self.last_target = target
        if target and state in ("ENGAGING", "ENGAGED", "DISENGAGING") and self.state() in FOLLOWS_TARGET:
            # the head's aim when the frame was taken: the simulated camera says; for a real one, the history
            head, captured = data.get("head"), data.get("captured")
            seen_from = ((float(head[0]), float(head[1])) if head
                         else self.motion.looked(float(captured)) if captured is not None else None)
            self.motion.look_at((float(target[0]) - 0.5) * 2, (float(target[1]) - 0.5) * 2, seen_from)

    def on_utterance(self, msg: Message, now: float) -> None:
        """Speech in recognised an utterance: the tick takes it with the other inputs."""
        alternatives = tuple(str(a) for a in msg.data.get("alternatives") or ())
        self.inbox.put(Utterance(str(msg.data.get("text", "")), float(msg.data.get("confidence", 1.0)), False,
                                 alternatives))

    def on_speech_started(self, msg: Message, now: float) -> None:
        """Speech in heard a voice begin."""
        self.inbox.put(SpeechStarted())

    def send_head(self, now: float) -> None:
        """Tell the simulated camera where the head points (10 Hz, only when it moved)."""
        if now < self._next_head:
            return
        self._next_head = now + HEAD_PERIOD_S
        angles = self.motion.angles()
        head = (round(angles.get("pan", 0.0), 1), round(angles.get("tilt", 0.0), 1))
        if head != self._head_sent:
            self._head_sent = head
            self.send("vision", "head", pan=head[0], tilt=head[1])
