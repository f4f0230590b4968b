"""The speech-out worker: a queue of sentences, spoken one at a time by pyttsx3 with espeak-ng.

Each `say` carries a job id from the control process. Sentences are spoken in job order and
never two at once: espeak is one engine per process, and a synthesis started while another
runs takes over its callback, so the first never finishes (issue 20: the greeting's first
sentence timed out, or espeak crashed). Every reply echoes the job id: `speaking_started`
when its synthesis begins, then exactly one outcome, `speaking_finished` or `speaking_failed`
(with a reason), which the control process needs to unmute speech in (half duplex).

Synthesis runs on a thread while the worker loop keeps its heartbeat. A sentence that fails
or overruns its expected length ends as `speaking_failed` and the next one is spoken. If
espeak is still busy with the failed sentence, this process cannot go on with it: espeak's
own cancel was measured blocking 40 s behind a long synthesis, and a new sentence would
receive the old one's audio. The worker then exits, the supervisor starts a fresh process
and the control process sends the sentences that had not started again (a repeated job id
is ignored, so a sentence is never said twice). In the simulator the audio goes to WAV files
and playback is simulated by time, so turn-taking behaves as it will on the robot; each
sentence's playback start is announced (`playback`, with the file and the monotonic
time) so that speech in can cancel its echo (barge-in). There `silence` clears the queue and
cuts the playing sentence at once, without a restart; on the sound card, where pyttsx3
cannot be interrupted, the control process kills this worker instead.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hardware.tts import Speaker, SpeechTimeout
from robot.messages import Message
from robot.worker import Worker

HANG_MARGIN_S = 2.0  # on top of twice the sentence's expected length
STUCK_GRACE_S = 2.0  # a synthesis thread that outlives its own timeout by this much is wedged
KEEP_WAVS = 100  # the simulator keeps this many of the newest sentence files
EXIT_FRESH_ENGINE = 5


@dataclass
class _Job:
    """One sentence, from `say` to its outcome."""

    job: int
    text: str
    rate: float
    volume: float
    t0: float = 0.0
    deadline: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    audio_s: float = 0.0
    error: str = ""
    timed_out: bool = False
    synth_s: float = 0.0
    playing_until: float = 0.0
    path: Path | None = None
    cancelled: bool = False  # stopped while synthesising: its audio is never played

    @property
    def words(self) -> int:
        return len(self.text.split())


class SpeechOutWorker(Worker):
    """Speaks queued sentences in job order, one at a time, each answered with its outcome."""

    poll_s = 0.02

    def setup(self) -> None:
        o = self.options
        self.speaker = Speaker(str(o.get("voice", "en")), pitch=int(o.get("pitch", 50)))
        if self.speaker.voice is None:  # speak anyway, in espeak's default voice, and say why
            self.send("speech_fault", reason="voice",
                      detail=f"espeak-ng has no voice for {o.get('voice')!r} (see `espeak-ng --voices`); "
                             "using its default voice")
        self.out_dir = Path(o["out_dir"]) if o.get("out_dir") else None
        self.queue: list[tuple[int, _Job]] = []  # a heap by job id: ids grow in the order sentences were said
        self.seen: set[int] = set()
        self.current: _Job | None = None

    def handle(self, msg: Message) -> None:
        if msg.kind == "say":
            d = msg.data
            job = int(d["job"])
            if job in self.seen:  # sent again after a restart that this process had already received
                return
            self.seen.add(job)
            heapq.heappush(self.queue, (job, _Job(job, str(d["text"]), float(d.get("rate", 150)),
                                                  float(d.get("volume", 1.0)))))
        elif msg.kind == "silence":  # ("stop" is the worker loop's own: it ends the process)
            self._silence()
        elif msg.kind == "simulate_hang":  # diagnostics: prove that a wedged speech engine is recovered
            time.sleep(3600)
        else:
            super().handle(msg)

    def step(self) -> None:
        now = time.monotonic()
        job = self.current
        if job is None:
            if self.queue:
                self._start(heapq.heappop(self.queue)[1], now)
            return
        if job.done.is_set() and job.cancelled:  # stopped while it was made: it ends unheard
            self.current = None
        elif job.done.is_set():
            if job.error:
                self._fail(job, "timeout" if job.timed_out else "synthesis", job.error)
            elif job.playing_until == 0.0:
                job.synth_s = now - job.t0
                job.playing_until = now + job.audio_s  # simulated playback of the WAV (0 on the sound card)
                if job.path is not None:
                    self.send("playback", job=job.job, path=str(job.path), t0=round(now, 4),
                              audio_s=round(job.audio_s, 3))
            if job.playing_until and now >= job.playing_until:
                self.send("speaking_finished", job=job.job, audio_s=round(job.audio_s, 3),
                          synth_s=round(job.synth_s, 3))
                self.current = None
        elif now > job.deadline + STUCK_GRACE_S:  # the engine did not even give up: it is wedged
            self._fail(job, "hang", f"espeak-ng gave no answer for {now - job.t0:.1f} s")

    def _start(self, job: _Job, now: float) -> None:
        expected = job.words * 60.0 / max(job.rate, 60.0)
        job.t0, job.deadline = now, now + expected * 2 + HANG_MARGIN_S
        self.current = job
        path = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / f"say-{job.job:05d}.wav"
            (self.out_dir / f"say-{job.job - KEEP_WAVS:05d}.wav").unlink(missing_ok=True)
        job.path = path
        self.send("speaking_started", job=job.job, words=job.words)
        threading.Thread(target=self._synth, args=(job, path), name=f"say-{job.job}", daemon=True).start()

    def _silence(self) -> None:
        """Silence now: the queue is dropped and the playing sentence cut (the simulated playback).

        A sentence still being synthesised is left to finish into its file, unheard. The
        control process has already ended these jobs; nothing more is reported for them.
        """
        self.queue.clear()
        job = self.current
        if job is None:
            return
        if job.done.is_set():
            self.current = None
        else:
            job.cancelled = True
        self.send("playback_cut", job=job.job)

    def _synth(self, job: _Job, path: Path | None) -> None:
        try:
            job.audio_s = self.speaker.say(job.text, job.rate, job.volume, path,
                                           timeout_s=max(0.1, job.deadline - time.monotonic()))
        except SpeechTimeout as exc:
            job.error, job.timed_out = str(exc), True
        except Exception as exc:  # reported as this sentence's outcome; the next one is still spoken
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.done.set()

    def _fail(self, job: _Job, reason: str, detail: str) -> None:
        self.send("speaking_failed", job=job.job, reason=reason, detail=detail[:300])
        self.current = None
        if reason == "hang" or not self.speaker.idle():
            os._exit(EXIT_FRESH_ENGINE)  # espeak is still busy with it: only a fresh process is clean
