"""The dialog thread: understands utterances and follows the dialog context off the loop.

It runs as a guarded part (robot.core.guard): a bug hit by one utterance is caught, reported
and the thread goes on with the next, so a later help request is still understood.
"""

from __future__ import annotations

import datetime as dt
import queue
from collections.abc import Callable
from typing import Any

from robot.core.inputs import Decision, Inbox
from robot.dialog_engine import Conversation


class DialogThread:
    """Owns the Conversation.

    The control tick posts utterances and state changes (a queue put); decisions come back as
    a `Decision` input for the next tick. Matching is pure Python and takes milliseconds, which
    a 100 Hz tick cannot spare; with the 0.5 ms GIL switch interval the loop still wakes on time.
    """

    def __init__(self, conversation: Conversation, inbox: Inbox,
                 on_grammar: Callable[[list[str]], None] | None) -> None:
        self.conversation = conversation
        self.inbox = inbox
        self.on_grammar = on_grammar
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._context: str | None = None

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
        self.handle(kind, data)

    def handle(self, kind: str, data: dict[str, Any]) -> None:
        """Carry out one piece of work."""
        conv = self.conversation
        if kind == "utterance":
            conv.set_context(data["state"])
            actions = conv.hear(data["text"], data["confidence"], dt.datetime.now())
            self.inbox.put(Decision(tuple(actions)))
        elif kind == "state":
            conv.set_context(data["state"])
        elif kind == "checkin":
            conv.context = "wellbeing"
        elif kind == "end_session":
            conv.end_session()
        if self.on_grammar is not None and conv.context != self._context:
            self._context = conv.context
            free_form = conv.context == "quiz"  # answers outside any list: recognise freely
            self.on_grammar([] if free_form else conv.engine.grammar(conv.context))
