"""The behaviour state machine as the control tick drives it.

`StateMachine.fire` is the one door to `Behaviour.fire` for the parts: it records each state
change (or refusal) for the audit log, keeps the dialog thread's context in step with the
state, and counts conversations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot.activity import ActivityCounter
from robot.behaviour import Behaviour
from robot.intents import Intent

Record = Callable[[str, dict[str, Any]], None]
DialogPost = Callable[..., None]


class StateMachine:
    """Fires triggers on the behaviour and tells the rest of the robot what changed."""

    def __init__(self, behaviour: Behaviour, record: Record, dialog_post: DialogPost,
                 activity: ActivityCounter) -> None:
        self.behaviour = behaviour
        self.record = record
        self.dialog_post = dialog_post
        self.activity = activity

    @property
    def state(self) -> str:
        """The behaviour's current state."""
        return self.behaviour.state

    def fire(self, trigger: str, **kwargs: Any) -> bool:
        """Fire one trigger; True if the state machine took it."""
        behaviour = self.behaviour
        source = behaviour.state
        ok = behaviour.fire(trigger, **kwargs)
        data = {"trigger": trigger, "source": source}
        if "reason" in kwargs:
            data["reason"] = str(kwargs["reason"])
        if not ok:
            self.record("refused", data)
            return False
        if behaviour.state != source:
            self._changed(data)
        return True

    def _changed(self, data: dict[str, str]) -> None:
        trigger, source, dest = data["trigger"], data["source"], self.behaviour.state
        self.record("state", {**data, "dest": dest})
        if dest == "idle" and not self.behaviour.facts.person:
            self.dialog_post("end_session")
        self.dialog_post("checkin" if trigger == "checkin" else "state", state=dest)
        if dest == "listening" and source in ("idle", "engaged"):
            self.activity.count("conversations")

    def speech_done(self) -> None:
        """The robot has said everything it had to say: a reply's turn ends, the help question's silence starts."""
        if self.behaviour.state == "responding":
            self.fire("reply_done")
        elif self.behaviour.state == "confirming":
            self.fire("question_spoken")

    def step(self, now: float, care: float) -> None:
        """Advance the machine's clock; a timeout's state change is recorded and followed like any other
        (the help question's silence, a listening turn that ends a quiz)."""
        fired = len(self.behaviour.history)
        self.behaviour.step(now, care)
        for trigger, source, dest in self.behaviour.history[fired:]:
            if dest != source:
                self._changed({"trigger": trigger, "source": source})

    def take_intents(self) -> list[Intent]:
        """The intents emitted since the last call."""
        return self.behaviour.take_intents()
