"""The screen worker: serves the resident's screen (robot/screen_server.py) from a process of its own.

The control process sends it `show` (the caption, the one before, the indicator's mode) and
it sends back `screen_press` for each button pressed on the page. Its pipe loop (the base
class's) never waits on a browser: the server runs on its own thread, and presses cross to
this loop through a queue. If that thread dies or wedges, `step` raises and the supervisor
starts a fresh process, as for any worker.
"""

from __future__ import annotations

import queue
from typing import Any

from robot.messages import Message
from robot.screen_server import ScreenServer
from robot.worker import Worker


class ScreenWorker(Worker):
    """Runs the screen's web server and relays between it and the control process."""

    poll_s = 0.02  # a press waits at most this long for the pipe loop

    def setup(self) -> None:
        o = self.options
        self.pressed: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.server = ScreenServer(bind=o["bind"], port=int(o["port"]), key=o["key"], hello=o["hello"],
                                   presses_per_minute=int(o["presses_per_minute"]), on_press=self.pressed.put)
        self.server.start()

    def handle(self, msg: Message) -> None:
        if msg.kind == "show":
            self.server.show(dict(msg.data))
        else:
            super().handle(msg)

    def step(self) -> None:
        while True:
            try:
                button = self.pressed.get_nowait()
            except queue.Empty:
                break
            self.send("screen_press", button=button)
        if not self.server.alive:
            raise RuntimeError("the screen server's thread stopped")

    def teardown(self) -> None:
        server: Any = getattr(self, "server", None)
        if server is not None:
            server.stop()
