"""The screen channel: what the resident's screen shows, and its presses, on the control process's side.

The screen shows only the robot's own sentences, as each begins to be spoken (the speech
channel's speech-start event), with the one before; and the indicator light's mode, in words and
colour. Nothing a resident says ever reaches it. The view goes to the screen worker as one small
`show` command (remembered as desired state, so a restarted worker shows the latest at once);
sending never blocks, and a worker that cannot keep up only loses views, never the tick's time.

A press comes back as `screen_press`: a known button becomes a ScreenPress input for the tick,
which sends it the way its spoken twin goes (robot/core/tick.py). The screen's key and the
worker's start options are made here, at start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from robot.config import Config
from robot.core.inputs import Inbox, ScreenPress
from robot.messages import Message
from robot.screen_texts import BUTTONS, load_texts
from robot.supervisor import WorkerSpec

log = logging.getLogger(__name__)

WORKER = "screen"
MAX_CAPTION = 1000  # characters; a longer sentence (a long list of activities) is cut for the screen, never for speech


class Sender(Protocol):
    """The worker channel's `send`, as the screen channel uses it."""

    def send(self, name: str, kind: str, **data: Any) -> None: ...


class ScreenChannel:
    """Keeps the screen's view (caption, previous caption, mode) and turns presses into inputs."""

    def __init__(self, workers: Sender, inbox: Inbox, record: Callable[[str, dict[str, Any]], None]) -> None:
        self.workers = workers
        self.inbox = inbox
        self.record = record
        self.caption = ""
        self.previous = ""
        self.mode = "off"
        self.said = 0  # sentences begun: the page starts a sentence's pages afresh on a new number
        self.wpm = 150.0

    def spoken(self, text: str, now: float, wpm: float = 150.0) -> None:
        """The robot has begun to say `text` (its own rendered words, never a resident's) at `wpm` words a
        minute: a sentence too long for the screen is shown a page at a time at that pace."""
        self.previous, self.caption = self.caption, cut(text)
        self.said += 1
        self.wpm = wpm
        self._show()

    def indicator(self, mode: str) -> None:
        """The indicator light's mode changed."""
        if mode != self.mode:
            self.mode = mode
            self._show()

    def _show(self) -> None:
        self.workers.send(WORKER, "show", caption=self.caption, previous=self.previous, mode=self.mode,
                          privacy=self.mode == "privacy", said=self.said, wpm=round(self.wpm, 1))

    def on_press(self, msg: Message, now: float) -> None:
        """A button pressed on the page (the worker checked it came from the screen's page)."""
        button = msg.data.get("button")
        if button not in BUTTONS:
            log.warning("screen: unknown button %r refused", str(button)[:40])
            self.record("refused", {"reason": "screen_unknown_button"})
            return
        self.inbox.put(ScreenPress(str(button)))


def cut(text: str) -> str:
    """`text` as the screen shows it: whole, or cut after the last whole word that fits MAX_CAPTION."""
    if len(text) <= MAX_CAPTION:
        return text
    head = text[:MAX_CAPTION - 1]
    return (head.rsplit(None, 1)[0] if " " in head else head) + "…"


def screen_worker(config: Config) -> WorkerSpec:
    """The screen worker's spec: its address, its key (written to the key file), and the pack's words."""
    s = config.screen
    texts = load_texts(Path(config.dialogs.path), config.robot.language)  # refused whole at start if wrong
    key_file = s.key_file or Path(config.robot.state_dir) / "screen.key"
    return WorkerSpec(WORKER, "robot.workers.screen:ScreenWorker", {
        "bind": s.bind, "port": s.port, "key": screen_key(key_file), "presses_per_minute": s.presses_per_minute,
        "hello": {"texts": texts, "language": config.robot.language, "font_px": s.font_px}})


def screen_key(path: Path) -> str:
    """The key the page must show: kept in `path` (mode 0640, for the kiosk's group), made once if absent.

    It outlives restarts of the robot, so an open kiosk page keeps working; delete the file to change it.
    """
    try:
        st = path.stat()
        key = path.read_text(encoding="ascii").strip()
        # a key others could read or replace (another user's file, world-readable, group-writable) is no secret
        if len(key) >= 32 and st.st_uid == os.geteuid() and not st.st_mode & 0o027:
            return key
        if len(key) >= 32:
            log.warning("screen: %s was readable or writable by others (mode %o): made a new key", path,
                        st.st_mode & 0o777)
    except (OSError, UnicodeDecodeError):
        pass
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # never write through a link someone left in its place
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.fchmod(fd, 0o640)  # whatever the umask (the service's is 0077): the kiosk's group reads it
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full /run, a path that cannot be a file: the screen is no reason to stay down
        log.error("screen: cannot write the key file %s (%s): the kiosk cannot open the page until a restart "
                  "of the robot can write it", path, exc.strerror or exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return key


def screen_url(config: Config, key: str) -> str:
    """The address the kiosk opens, key in the fragment (browsers never send a fragment to a server)."""
    host = f"[{config.screen.bind}]" if ":" in config.screen.bind else config.screen.bind
    return f"http://{host}:{config.screen.port}/#key={key}"
