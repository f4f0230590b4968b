"""The speech channel: turns Say intents into sentences and keeps track of what is being spoken.

With a speech-out worker, each sentence becomes a job (robot/core/speech_jobs.py) that the
worker speaks in turn and answers with its outcome; speech in is muted while jobs are
outstanding (half duplex) and listens again when the last one ends, fails or is cancelled, or
the worker dies. A failed sentence raises a speech-out fault for staff, once, and the next
sentence spoken in full clears it. Without a worker, a stand-in shows the
response key and takes a plausible time, so the state machine's turn-taking runs as it will
for real.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from robot.clock import Clock
from robot.config import SpeechSection
from robot.core.speech_jobs import SpeechJobs, Update
from robot.dialog_engine import Conversation, DialogEngine
from robot.intents import Say
from robot.messages import Message
from robot.motion import MotionController

STAND_IN_SPEECH_S = 1.5  # shortest time the speech stand-in gives a sentence
SPEECH_WPM_STEP = 15.0  # each "slower" takes this much off, for the rest of the session
FAULT = "speech_out"  # the robot_fault token for sentences that could not be spoken


class WorkerSender(Protocol):
    """What the speech channel needs from the worker supervisor."""

    def send(self, name: str, kind: str, **data: Any) -> None: ...

    def restart(self, name: str, reason: str) -> None: ...


@dataclass
class StandIn:
    """Speech output without a speech-out worker: a fixed time per sentence, one after another. No sound
    is made, so a sentence lasts its length in robot time (robot.clock): a simulator's fast clock says it faster."""

    busy_until: float = 0.0  # care time
    queued: int = 0
    rate_wpm: float = 150.0
    starts: collections.deque[tuple[float, str]] = field(default_factory=collections.deque)  # not yet begun (care)
    clock: Clock = field(default_factory=Clock)

    def say(self, now: float, text: str) -> None:
        seconds = max(STAND_IN_SPEECH_S, len(text.split()) * 60.0 / self.rate_wpm)
        care = self.clock.at(now)
        self.starts.append((max(self.busy_until, care), text))
        self.busy_until = max(self.busy_until, care) + seconds
        self.queued += 1

    def begun(self, now: float) -> list[str]:
        """The sentences whose turn has come since the last call."""
        out = []
        while self.starts and self.starts[0][0] <= self.clock.at(now):
            out.append(self.starts.popleft()[1])
        return out

    def stop(self) -> None:
        self.busy_until = 0.0
        self.queued = 0
        self.starts.clear()

    def finished(self, now: float) -> bool:
        if self.queued and self.clock.at(now) >= self.busy_until:
            self.queued = 0
            return True
        return False


class SpeechChannel:
    """Say, stop, and know when the robot has finished talking."""

    def __init__(self, config: SpeechSection, engine: DialogEngine, conversation: Conversation,
                 workers: WorkerSender, worker_names: set[str], motion: MotionController,
                 record: Callable[[str, dict[str, Any]], None], console: Callable[[str], None],
                 said: collections.deque[Say], fault: Callable[[str, bool, float], None],
                 started: Callable[[str, float, float], None] | None = None, clock: Clock | None = None) -> None:
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
        self.fault = fault
        self.said_text: collections.deque[str] = collections.deque(maxlen=200)
        self.stand_in = StandIn(clock=clock or Clock())
        self.jobs = SpeechJobs(workers, speech_in=self.worker_in)
        self.faulted = False  # a sentence failed and none has been spoken in full since
        self.rate_wpm = float(config.rate_wpm)
        self.started = started  # the speech-start event: a sentence as the robot begins to say it, and the rate

    def say(self, intent: Say, now: float) -> None:
        """Speak one response."""
        self.said.append(intent)
        text = self.render(intent)
        self.said_text.append(text)
        # "slower" and "louder" last for the session (Conversation keeps the steps)
        self.rate_wpm = min(180.0, max(130.0, self.config.rate_wpm + SPEECH_WPM_STEP * self.conversation.rate_step))
        if self.worker_out:
            volume = min(1.0, self.config.volume + 0.15 * self.conversation.volume_step)
            self.on_jobs(self.jobs.say(text, self.rate_wpm, volume), now)
        else:
            self.stand_in.rate_wpm = self.rate_wpm
            self.stand_in.say(now, text)
            self._begun(self.stand_in.begun(now), now)
        self.motion.speaking = True
        self.record("say", {"key": intent.key})
        self.console(f'says   "{text}"')

    def stop(self) -> None:
        """Silence speech at once."""
        self.stand_in.stop()
        if self.worker_in and self.jobs.speaking:
            self.workers.send("speech_in", "far_end_stop")  # the echo reference ends with the sound
        self.jobs.stop()  # cancels every sentence, stops or restarts the worker, unmutes speech in
        self.motion.speaking = False

    @property
    def busy(self) -> bool:
        """True while sentences are being spoken, by the worker or the stand-in."""
        return bool(self.stand_in.queued) or self.jobs.speaking

    def poll(self, now: float) -> bool:
        """True once, when the stand-in's sentences have all been 'spoken'."""
        if self.stand_in.starts:
            self._begun(self.stand_in.begun(now), now)
        return self.stand_in.finished(now)

    def _begun(self, texts: list[str], now: float) -> None:
        if self.started is not None:
            for text in texts:
                self.started(text, now, self.rate_wpm)

    def on_message(self, msg: Message, now: float) -> bool:
        """A speech-out reply, or a speech worker's ready or fault; True when the last sentence has ended."""
        update = self.jobs.on_message(msg)
        return update is not None and self.on_jobs(update, now)

    def on_jobs(self, update: Update, now: float) -> bool:
        """Act on jobs that ended: a failure raises the speech-out fault, a sentence spoken in full clears
        it; True when none is left."""
        if update.failed and not self.faulted:
            self.faulted = True
            self.fault(FAULT, True, now)
        elif self.faulted and not update.failed and any(e.outcome == "finished" for e in update.ended):
            self.faulted = False
            self.fault(FAULT, False, now)
        if update.started is not None:
            self._begun([update.started], now)
        if update.idle:
            self.motion.speaking = False
        return update.idle

    def render(self, say: Say) -> str:
        """The words of one response in the pack's language."""
        params = dict(say.params)
        if say.key == "quiz_question":
            return str(params.get("text", ""))
        if say.key in ("reminder", "reminder_again") and "kind" in params:
            params["kind"] = self.engine.pack.kinds.get(params["kind"], params["kind"])
        return self.engine.render(say.key, params)
