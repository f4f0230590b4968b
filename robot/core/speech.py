"""The speech channel: turns Say intents into sentences and keeps track of what is being spoken.

With a speech-out worker, sentences go to it and its `speaking_started`/`speaking_finished`
messages tell when the robot is talking (speech in is muted meanwhile: half duplex). Without
one, a stand-in shows the response key and takes a plausible time, so the state machine's
turn-taking runs as it will for real. The bookkeeping of what is being spoken lives behind
`say`, `stop`, `on_started`, `on_finished` and `poll`: the speech-out queue (issue 20) plugs
in there.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from robot.config import SpeechSection
from robot.dialog_engine import Conversation, DialogEngine
from robot.intents import Say
from robot.messages import Message
from robot.motion import MotionController

STAND_IN_SPEECH_S = 1.5  # shortest time the speech stand-in gives a sentence
SPEECH_WPM_STEP = 15.0  # each "slower" takes this much off, for the rest of the session


class WorkerSender(Protocol):
    """What the speech channel needs from the worker supervisor."""

    def send(self, name: str, kind: str, **data: Any) -> None: ...

    def restart(self, name: str, reason: str) -> None: ...


@dataclass
class StandIn:
    """Speech output without a speech-out worker: a fixed time per sentence."""

    busy_until: float = 0.0
    queued: int = 0
    rate_wpm: float = 150.0

    def say(self, now: float, words: int = 8) -> None:
        seconds = max(STAND_IN_SPEECH_S, words * 60.0 / self.rate_wpm)
        self.busy_until = max(self.busy_until, now) + seconds
        self.queued += 1

    def stop(self) -> None:
        self.busy_until = 0.0
        self.queued = 0

    def finished(self, now: float) -> bool:
        if self.queued and now >= self.busy_until:
            self.queued = 0
            return True
        return False


class SpeechChannel:
    """Say, stop, and know when the robot has finished talking."""

    def __init__(self, config: SpeechSection, engine: DialogEngine, conversation: Conversation,
                 workers: WorkerSender, worker_names: set[str], motion: MotionController,
                 record: Callable[[str, dict[str, Any]], None], console: Callable[[str], None],
                 said: collections.deque[Say]) -> None:
        self.config = config
        self.engine = engine
        self.conversation = conversation
        self.workers = workers
        self.worker_out = "speech_out" in worker_names
        self.worker_in = "speech_in" in worker_names
        self.motion = motion
        self.record = record
        self.console = console
        self.said = said
        self.said_text: collections.deque[str] = collections.deque(maxlen=200)
        self.stand_in = StandIn()
        self.speaking = 0  # sentences handed to the speech-out worker and not yet finished
        self.rate_wpm = float(config.rate_wpm)

    def say(self, intent: Say, now: float) -> None:
        """Speak one response."""
        self.said.append(intent)
        text = self.render(intent)
        self.said_text.append(text)
        # "slower" and "louder" last for the session (Conversation keeps the steps)
        self.rate_wpm = min(180.0, max(130.0, self.config.rate_wpm + SPEECH_WPM_STEP * self.conversation.rate_step))
        if self.worker_out:
            self.speaking += 1
            volume = min(1.0, self.config.volume + 0.15 * self.conversation.volume_step)
            self.workers.send("speech_out", "say", text=text, rate=self.rate_wpm, volume=volume, job=len(self.said))
        else:
            self.stand_in.rate_wpm = self.rate_wpm
            self.stand_in.say(now, len(text.split()))
        self.motion.speaking = True
        self.record("say", {"key": intent.key})
        self.console(f'says   "{text}"')

    def stop(self) -> None:
        """Silence speech at once."""
        self.stand_in.stop()
        if self.worker_out and self.speaking:
            self.speaking = 0
            self.workers.restart("speech_out", "stop")  # killing it is the only sure way to silence it
            self._done()
        self.motion.speaking = False

    @property
    def busy(self) -> bool:
        """True while the stand-in is still 'speaking'."""
        return bool(self.stand_in.queued)

    def poll(self, now: float) -> bool:
        """True once, when the stand-in's sentences have all been 'spoken'."""
        return self.stand_in.finished(now)

    def on_started(self, msg: Message, now: float) -> None:
        """The speech-out worker began a sentence."""
        self.motion.speaking = True
        self.workers.send("speech_in", "mute", on=True)  # half duplex: never hear ourselves

    def on_finished(self, msg: Message, now: float) -> bool:
        """The speech-out worker finished a sentence; True when nothing more is being spoken."""
        self.speaking = max(0, self.speaking - 1)
        if self.speaking:
            return False
        self._done()
        return True

    def _done(self) -> None:
        self.motion.speaking = False
        if self.worker_in:
            self.workers.send("speech_in", "mute", on=False)

    def render(self, say: Say) -> str:
        """The words of one response in the pack's language."""
        params = dict(say.params)
        if say.key == "quiz_question":
            return str(params.get("text", ""))
        if say.key in ("reminder", "reminder_again") and "kind" in params:
            params["kind"] = self.engine.pack.kinds.get(params["kind"], params["kind"])
        return self.engine.render(say.key, params)
