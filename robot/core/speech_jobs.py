"""The speech-out jobs: the sentences in flight, and whether speech in is muted because of them.

Each sentence becomes a job with an id. The speech-out worker speaks jobs one at a time in
order and answers each with `speaking_started` and exactly one outcome, `speaking_finished`
or `speaking_failed`. Speech in is muted while jobs are outstanding on a live speech-out
worker (half duplex: the robot must not hear itself) and unmuted as soon as none are,
whatever ended them: the last outcome, a stop, or the worker's death. So no sequence of
messages leaves the robot deaf with nothing to say (issue 20, and issue 11 item 7).

The worker's death fails the sentence it was speaking; the sentences it had not started are
sent again to the next process, once (a second death cancels them), so a crash costs one
sentence, not the rest of the reply. Every job ends exactly once. No I/O happens here:
commands go out through the supervisor, whose `send` never blocks.
"""

from __future__ import annotations

import collections
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from robot.messages import Message

log = logging.getLogger(__name__)

SPEECH_OUT = "speech_out"
SPEECH_IN = "speech_in"
MAX_OUTSTANDING = 16  # far more than any reply; it keeps the supervisor's command buffer from dropping one
MAX_TRIES = 2  # a sentence survives one death of the worker, not two


class Workers(Protocol):
    """The part of the supervisor the jobs use (a test passes its own)."""

    def send(self, name: str, kind: str, **data: Any) -> None: ...

    def restart(self, name: str, reason: str) -> None: ...


@dataclass(frozen=True)
class Ended:
    """A job's one outcome: finished, failed or cancelled, with the worker's reason for a failure."""

    job: int
    outcome: str
    reason: str = ""


@dataclass(frozen=True)
class Update:
    """What a call changed, for the runtime to act on: jobs that ended, and whether none is left."""

    ended: tuple[Ended, ...] = ()
    idle: bool = False  # the last outstanding job has just ended
    job: int = 0  # the job a `say` created
    started: str | None = None  # the words of the sentence the worker has just begun to speak

    @property
    def failed(self) -> list[Ended]:
        """The jobs that failed (each one a speech fault)."""
        return [e for e in self.ended if e.outcome == "failed"]


@dataclass
class _Job:
    text: str
    rate: float
    volume: float
    sent: bool = False
    started: bool = False
    tries: int = 1


class SpeechJobs:
    """Outstanding speech-out jobs and the mute state of speech in that follows from them."""

    def __init__(self, workers: Workers, *, speech_in: bool = True) -> None:
        self.workers = workers
        self.has_speech_in = speech_in
        self._jobs: dict[int, _Job] = {}  # in job order
        self._ids = itertools.count(1)
        self.worker_up = False  # speech out said `ready` and has not died since
        self.muted = False  # what speech in was last told
        self.history: collections.deque[Ended] = collections.deque(maxlen=1000)
        self.counts = {"finished": 0, "failed": 0, "cancelled": 0}  # outcomes since start (fixed keys: see summary)
        self.loudspeaker_fault = ""  # why the last sentence could not be played, until one plays again

    @property
    def outstanding(self) -> list[int]:
        """Ids of the jobs that have no outcome yet, oldest first."""
        return list(self._jobs)

    def summary(self) -> dict[str, Any]:
        """For `carebot status` (read from the housekeeping thread: plain values, no iteration of live state)."""
        return {"outstanding": len(self._jobs), "speech_in_muted": self.muted, "speech_out_up": self.worker_up,
                **dict(self.counts), "loudspeaker_fault": self.loudspeaker_fault}

    @property
    def speaking(self) -> bool:
        """True while any job is outstanding."""
        return bool(self._jobs)

    def say(self, text: str, rate: float, volume: float) -> Update:
        """Queue a sentence; it is sent now if the worker is up, else when it is ready."""
        job = next(self._ids)
        if len(self._jobs) >= MAX_OUTSTANDING:
            log.error("speech out: %d sentences waiting; sentence %d dropped", len(self._jobs), job)
            ended = Ended(job, "failed", "queue_full")
            self.history.append(ended)
            self.counts["failed"] += 1
            return Update((ended,), job=job)
        self._jobs[job] = _Job(text, rate, volume)
        if self.worker_up:
            self._send(job)
        self._sync_mute()
        return Update(job=job)

    def stop(self) -> Update:
        """Silence speech at once: every outstanding job is cancelled.

        The worker plays the audio itself (on the sound card, or by time in the simulator): it is
        told to be silent, clears its queue and drops what it plays within a block, without a
        restart. A sentence still being synthesised finishes unheard.
        """
        if not self._jobs:
            return Update()
        if self.worker_up:
            self.workers.send(SPEECH_OUT, "silence")
        return self._end(list(self._jobs), "cancelled", "stop")

    def on_message(self, msg: Message) -> Update | None:
        """Take a worker or supervisor message; None if it is not about speech out."""
        kind, data = msg.kind, msg.data
        if msg.sender == SPEECH_OUT and kind.startswith("speaking_"):
            return self._on_job(kind, data)
        if kind == "ready" and msg.sender == SPEECH_OUT:
            return self.on_worker_ready()
        if kind == "ready" and msg.sender == SPEECH_IN:
            self._send_mute()  # a fresh process starts unmuted: give it the state we want
            return None
        if kind == "worker_fault" and data.get("worker") == SPEECH_OUT:
            return self.on_worker_restart(str(data.get("reason", "")), planned=bool(data.get("planned")))
        return None

    def on_worker_ready(self) -> Update:
        """Speech out is (back) up: send what waits for it, in order."""
        self.worker_up = True
        for job, j in self._jobs.items():
            if not j.sent:
                self._send(job)
        self._sync_mute()
        return Update()

    def on_worker_restart(self, reason: str, planned: bool = False) -> Update:
        """Speech out died or is being restarted: its sentence failed, the rest wait for the next one.

        A planned restart (our own stop) costs the waiting sentences no try.
        """
        self.worker_up = False
        failed = [job for job, j in self._jobs.items() if j.started]
        given_up = [job for job, j in self._jobs.items()
                    if not j.started and j.tries >= MAX_TRIES and not planned]
        for j in self._jobs.values():
            j.sent, j.tries = False, j.tries + (0 if planned else 1)
        update = self._end(failed, "failed", "worker_died")
        more = self._end(given_up, "cancelled", "worker_died")
        if failed or given_up:
            log.warning("speech out restarted (%s): %d sentence(s) failed, %d cancelled, %d to be sent again",
                        reason, len(failed), len(given_up), len(self._jobs))
        self._sync_mute()
        return Update(update.ended + more.ended, update.idle or more.idle)

    # -- internals --------------------------------------------------------------------------------

    def _on_job(self, kind: str, data: dict[str, Any]) -> Update:
        try:
            job = int(data["job"])
        except (KeyError, TypeError, ValueError):
            log.warning("speech out sent %s without a job id", kind)
            return Update()
        j = self._jobs.get(job)
        if j is None:  # ended already (a stop, or the worker died): it has had its outcome
            return Update()
        if kind == "speaking_started":
            j.started = True
            return Update(started=j.text)
        if kind == "speaking_finished":
            self.loudspeaker_fault = ""
            return self._end([job], "finished")
        if kind == "speaking_failed":
            log.error("speech out: sentence %d failed (%s): %s", job, data.get("reason"), data.get("detail", ""))
            if data.get("reason") == "playback":  # the sound card's own words: no sentence text in them
                self.loudspeaker_fault = str(data.get("detail", ""))[:200]
            return self._end([job], "failed", str(data.get("reason", "unknown")))
        log.warning("speech out sent an unknown message %s", kind)
        return Update()

    def _end(self, jobs: list[int], outcome: str, reason: str = "") -> Update:
        if not jobs:
            return Update()
        ended = []
        for job in jobs:
            del self._jobs[job]
            ended.append(Ended(job, outcome, reason))
            self.counts[outcome] += 1
        self.history.extend(ended)
        self._sync_mute()
        return Update(tuple(ended), idle=not self._jobs)

    def _send(self, job: int) -> None:
        j = self._jobs[job]
        j.sent = True
        self.workers.send(SPEECH_OUT, "say", job=job, text=j.text, rate=j.rate, volume=j.volume)

    def _sync_mute(self) -> None:
        """Speech in is muted exactly while a live worker has sentences to speak."""
        wanted = self.worker_up and bool(self._jobs)
        if wanted != self.muted:
            self.muted = wanted
            self._send_mute()

    def _send_mute(self) -> None:
        if self.has_speech_in:
            self.workers.send(SPEECH_IN, "mute", on=self.muted)
