"""The speech-out worker: a queue of sentences, spoken one at a time by pyttsx3 with espeak-ng.

Each `say` carries a job id from the control process. Sentences are spoken in job order and
never two at once: espeak is one engine per process, and a synthesis started while another
runs takes over its callback, so the first never finishes (issue 20: the greeting's first
sentence timed out, or espeak crashed). Every reply echoes the job id: `speaking_started`
when its synthesis begins, then exactly one outcome, `speaking_finished` or `speaking_failed`
(with a reason), which the control process needs to unmute speech in (half duplex).

Synthesis runs on a thread while the worker loop keeps its heartbeat. A sentence that fails
or overruns its expected length ends as `speaking_failed` and the next one is spoken.
A directory that cannot take its audio (read-only, full) fails it before synthesis: espeak
would only have timed out on it, with speech in muted all the while. If
espeak is still busy with the failed sentence, this process cannot go on with it: espeak's
own cancel was measured blocking 40 s behind a long synthesis, and a new sentence would
receive the old one's audio. The worker then exits, the supervisor starts a fresh process
and the control process sends the sentences that had not started again (a repeated job id
is ignored, so a sentence is never said twice). To stop speech at once the control process
kills this worker, and its queue with it.

The loudspeaker is a device (hardware/loudspeaker.py). On the robot each sentence is made
into a WAV in memory (/dev/shm) and streamed to `aplay`
through a small pipe, and the file is deleted at once: the sentence ends when aplay exits, a
sound card that fails is a failed sentence (pyttsx3's own playback ignored aplay's exit code and
left its WAV in /tmp), and when this worker is killed the stream stops, so aplay falls silent
within its 0.2 s buffer instead of finishing the sentence as an orphan. In the simulator the
audio goes to WAV files and playback is simulated by time, so turn-taking behaves as it will
on the robot; each sentence's playback start is announced (`playback`, with the file and the
monotonic time) so that speech in can cancel its echo (barge-in), and `silence` clears the
queue and cuts the playing sentence at once, without a restart.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hardware.errors import HardwareError
from hardware.loudspeaker import AlsaLoudspeaker, FileLoudspeaker, Loudspeaker
from hardware.tts import Speaker, SpeechTimeout
from robot.messages import Message
from robot.worker import Worker

HANG_MARGIN_S = 2.0  # on top of twice the sentence's expected length
STUCK_GRACE_S = 2.0  # a synthesis thread that outlives its own timeout by this much is wedged
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
    cancelled: bool = False  # silenced while synthesising: its audio is never played

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
        self.out: Loudspeaker = (FileLoudspeaker(Path(o["out_dir"])) if o.get("out_dir")
                                 else AlsaLoudspeaker(str(o.get("playback_device") or "default")))
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
        if job.done.is_set() and job.cancelled:  # silenced while it was made: it ends unheard
            self.current = None
        elif job.done.is_set():
            if job.error:
                self._fail(job, "timeout" if job.timed_out else "synthesis", job.error)
            elif job.playing_until == 0.0:
                job.synth_s = now - job.t0
                self._play(job, now)
            elif self._played(job, now):
                self.send("speaking_finished", job=job.job, audio_s=round(job.audio_s, 3),
                          synth_s=round(job.synth_s, 3))
                self.current = None
        elif now > job.deadline + STUCK_GRACE_S:  # the engine did not even give up: it is wedged
            self._fail(job, "hang", f"espeak-ng gave no answer for {now - job.t0:.1f} s")

    def _start(self, job: _Job, now: float) -> None:
        expected = job.words * 60.0 / max(job.rate, 60.0)
        job.t0, job.deadline = now, now + expected * 2 + HANG_MARGIN_S
        self.current = job
        self.send("speaking_started", job=job.job, words=job.words)
        # A read-only, vanished or full directory fails the sentence at once: it must neither crash
        # the worker nor keep speech in muted through a synthesis that can only time out.
        try:
            job.path = self.out.prepare(job.job, job.deadline - now)
        except HardwareError as exc:
            self._fail(job, "output", str(exc))
            return
        threading.Thread(target=self._synth, args=(job,), name=f"say-{job.job}", daemon=True).start()

    def _synth(self, job: _Job) -> None:
        try:
            job.audio_s = self.speaker.say(job.text, job.rate, job.volume, job.path,
                                           timeout_s=max(0.1, job.deadline - time.monotonic()))
        except SpeechTimeout as exc:
            job.error, job.timed_out = str(exc), True
        except Exception as exc:  # reported as this sentence's outcome; the next one is still spoken
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.done.set()

    def _play(self, job: _Job, now: float) -> None:
        """Start the sentence's playback: simulated by time, or its WAV streamed to the sound card."""
        assert job.path is not None
        try:
            self.out.play(job.path, job.audio_s, now)
        except HardwareError as exc:
            self._fail(job, "playback", str(exc))
            return
        job.playing_until = now + job.audio_s
        if self.out.keeps_audio:  # the simulator's WAV: speech in's echo reference
            self.send("playback", job=job.job, path=str(job.path), t0=round(now, 4), audio_s=round(job.audio_s, 3))

    def _played(self, job: _Job, now: float) -> bool:
        """True once the sentence has been heard in full; a failed playback ends it as failed."""
        try:
            return self.out.finished(now)
        except HardwareError as exc:
            self._fail(job, "playback", str(exc))
            return False

    def _silence(self) -> None:
        """Silence now: the queue is dropped and the playing sentence cut.

        A sentence still being synthesised is left to finish into its file, unheard. The
        control process has already ended these jobs; nothing more is reported for them.
        """
        self.queue.clear()
        job = self.current
        if job is None:
            return
        self.out.cut()
        if job.done.is_set():
            self.current = None
        else:
            job.cancelled = True
        self.send("playback_cut", job=job.job)

    def teardown(self) -> None:
        self.out.close()

    def _fail(self, job: _Job, reason: str, detail: str) -> None:
        self.send("speaking_failed", job=job.job, reason=reason, detail=detail[:300])
        if job.path is not None:
            self.out.discard(job.path)
        self.current = None
        if reason == "hang" or not self.speaker.idle():
            os._exit(EXIT_FRESH_ENGINE)  # espeak is still busy with it: only a fresh process is clean
