"""The dialog thread: understands utterances and follows the dialog context off the loop.

It runs as a guarded part (robot.core.guard): a bug hit by one utterance is caught, reported
and the thread goes on with the next, so a later help request is still understood; the
utterance that hit it is treated as a possible call for help, and the robot asks.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from robot.clock import Clock
from robot.conversation import Conversation
from robot.core.barge_in import barge_in_help
from robot.core.inputs import Decision, Inbox


class DialogThread:
    """Owns the Conversation.

    The control tick posts utterances and state changes (a queue put); decisions come back as
    a `Decision` input for the next tick. Matching is pure Python and takes milliseconds, which
    a 100 Hz tick cannot spare; with the 0.5 ms GIL switch interval the loop still wakes on time.
    """

    def __init__(self, conversation: Conversation, inbox: Inbox,
                 on_grammar: Callable[[list[str]], None] | None, clock: Clock | None = None) -> None:
        self.conversation = conversation
        self.clock = clock or Clock()  # "what time is it", and the time the dialog's turns are judged by
        self.inbox = inbox
        self.on_grammar = on_grammar
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._context: str | None = None
        self.post("warm")  # first of all, while the robot boots: the help-slip word list (robot/help_slips.py)

    def post(self, kind: str, **data: Any) -> None:
        """Hand work to the dialog thread (never blocks)."""
        self._queue.put((kind, data))

    def wake(self) -> None:
        """Wake the step at once (when the part is stopping)."""
        self.post("wake")

    def step(self) -> None:
        """Wait up to 0.25 s for one piece of work and do it (robot.core.guard runs this)."""
        try:
            kind, data = self._queue.get(timeout=0.25)
        except queue.Empty:
            return
        try:
            self.handle(kind, data)
        except Exception:
            if kind == "utterance":  # it may have been a call for help: ask, never drop
                self.inbox.put(Decision((("ask_help", {"reason": "error"}),)))
            raise  # the guard reports it and the thread goes on with the next

    def handle(self, kind: str, data: dict[str, Any]) -> None:
        """Carry out one piece of work."""
        conv = self.conversation
        now = self.clock.now()
        if kind == "utterance":
            if data.get("barge_in"):  # heard over the robot's own voice: only a call for help may interrupt it
                if barge_in_help(conv.engine, data["text"], data.get("alternatives", ())) is None:
                    return
            conv.set_context(data["state"])
            actions = conv.hear(data["text"], data["confidence"], now, data.get("alternatives", ()))
            self.inbox.put(Decision(tuple(actions)))
        elif kind == "press":  # a screen button: the spoken request's actions, with no words to weigh
            conv.set_context(data["state"])
            self.inbox.put(Decision(tuple(conv.press(data["intent"], now))))
        elif kind == "state":
            conv.set_context(data["state"])
        elif kind == "warm":
            conv.engine.slips.warm()
        elif kind == "checkin":
            conv.start_checkin()
        elif kind == "end_session":
            conv.end_session()
        if self.on_grammar is not None and conv.context != self._context:
            self._context = conv.context
            self.on_grammar(conv.engine.grammar(conv.context))
