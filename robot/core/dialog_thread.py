"""The dialog thread: understands utterances and follows the dialog context off the loop."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from robot.conversation import Conversation
from robot.core.inputs import Decision, Inbox

log = logging.getLogger(__name__)


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
        self._thread = threading.Thread(target=self.run, name="dialog", daemon=True)
        self._context: str | None = None

    def start(self, state: str) -> None:
        """Start the thread in the dialog context of `state`."""
        self._thread.start()
        self.post("state", state=state)

    def post(self, kind: str, **data: Any) -> None:
        """Hand work to the dialog thread (never blocks)."""
        self._queue.put((kind, data))

    def stop(self) -> None:
        """Ask the thread to end and wait for it briefly."""
        self.post("stop")
        self._thread.join(2)

    def run(self) -> None:
        """The thread body: one piece of work at a time until told to stop; nothing in it may end it."""
        while True:
            kind, data = self._queue.get()
            if kind == "stop":
                return
            try:
                self.handle(kind, data)
            except Exception:  # the help path is sacred: the next utterance must still be heard
                log.exception("dialog thread: %s failed", kind)
                if kind == "utterance":  # it may have been a call for help: ask, never drop
                    self.inbox.put(Decision((("ask_help", {"reason": "error"}),)))

    def handle(self, kind: str, data: dict[str, Any]) -> None:
        """Carry out one piece of work."""
        conv = self.conversation
        if kind == "utterance":
            conv.set_context(data["state"])
            actions = conv.hear(data["text"], data["confidence"], dt.datetime.now(), data.get("alternatives", ()))
            self.inbox.put(Decision(tuple(actions)))
        elif kind == "state":
            conv.set_context(data["state"])
        elif kind == "checkin":
            conv.start_checkin()
        elif kind == "end_session":
            conv.end_session()
        if self.on_grammar is not None and conv.context != self._context:
            self._context = conv.context
            self.on_grammar(conv.engine.grammar(conv.context))
