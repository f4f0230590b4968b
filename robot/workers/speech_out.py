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

On the robot each sentence is made into a WAV in memory (/dev/shm), read back as 16 kHz PCM and
deleted at once, and played by this worker itself through the sound card (hardware/sound_out.py,
libasound2): the sentence ends when the card has played it, and a card that fails is a failed
sentence. Every 10 ms block handed to the card goes, with the moment the card will play it, into
the far-end ring in shared memory (hardware/far_ring.py) that speech in's echo canceller reads
(barge-in). `silence` clears the queue and drops what the card still holds, so the robot falls
silent within a block, without a restart. In the simulator the audio goes to WAV files and
playback is simulated by time, so turn-taking behaves as it will on the robot; each sentence's
playback start is announced (`playback`, with the file and the monotonic time) so that speech in
can cancel its echo, and `silence` cuts the playing sentence the same way.
"""

from __future__ import annotations

import errno
import heapq
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardware.audio import wav_pcm16k
from hardware.far_ring import FarRing, FarRingError, pcm16k_blocks
from hardware.sound_out import SoundError, SoundOut, open_sound_out
from hardware.speech_devices import make_synthesiser
from hardware.tts import SpeechTimeout, Synthesiser
from robot.messages import Message
from robot.worker import Worker

HANG_MARGIN_S = 2.0  # on top of twice the sentence's expected length
STUCK_GRACE_S = 2.0  # a synthesis thread that outlives its own timeout by this much is wedged
WAV_BYTES_PER_S = 44100  # espeak-ng's 22 kHz 16-bit mono: free space a sentence needs, per second it may run
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
    cancelled: bool = False  # silenced while synthesising: its audio is never played
    played: threading.Event = field(default_factory=threading.Event)  # the sound card is done with it
    play_error: str = ""
    cut: threading.Event = field(default_factory=threading.Event)  # silence: drop what the card holds

    @property
    def words(self) -> int:
        return len(self.text.split())


class SpeechOutWorker(Worker):
    """Speaks queued sentences in job order, one at a time, each answered with its outcome."""

    poll_s = 0.02

    def setup(self) -> None:
        o = self.options
        self.speaker: Synthesiser = make_synthesiser(str(o.get("synthesiser", "espeak")), str(o.get("voice", "en")),
                                                     int(o.get("pitch", 50)))
        if self.speaker.voice is None:  # speak anyway, in espeak's default voice, and say why
            self.send("speech_fault", reason="voice",
                      detail=f"espeak-ng has no voice for {o.get('voice')!r} (see `espeak-ng --voices`); "
                             "using its default voice")
        self.out_dir = Path(o["out_dir"]) if o.get("out_dir") else None
        self.device = str(o.get("playback_device") or "default")
        self.spool: Path | None = None  # where a sentence waits for aplay: memory, never the disk
        if self.out_dir is None:
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self.spool = Path(tempfile.mkdtemp(prefix=f"carebot-say-{os.getpid()}-", dir=shm))
        self.ring: FarRing | None = None
        if o.get("far_ring") and self.spool is not None:
            try:
                self.ring = FarRing(Path(o["far_ring"]))
            except FarRingError as exc:  # the robot still speaks; speech in just cannot cancel its voice
                self.send("speech_fault", reason="far_ring", detail=str(exc)[:200])
        self.sound_out: Callable[[], SoundOut] = lambda: open_sound_out(self.device)  # one per sentence
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
        where = self.out_dir if self.out_dir is not None else self.spool
        if where is not None:
            # A read-only, vanished or full directory fails the sentence at once: it must neither crash
            # the worker nor keep speech in muted through a synthesis that can only time out.
            try:
                if self.out_dir is not None:
                    self.out_dir.mkdir(parents=True, exist_ok=True)
                    (self.out_dir / f"say-{job.job - KEEP_WAVS:05d}.wav").unlink(missing_ok=True)
                disk = os.statvfs(where)
                if disk.f_bavail * disk.f_frsize < WAV_BYTES_PER_S * (job.deadline - now):
                    raise OSError(errno.ENOSPC, "not enough free space for the sentence's audio")
            except OSError as exc:
                self._fail(job, "output", f"cannot write to {where}: {exc}")
                return
            job.path = where / (f"say-{job.job:05d}.wav" if self.out_dir is not None else f"say-{job.job}.wav")
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
        """Start the sentence's playback: simulated by time, or played on the sound card by a thread."""
        if self.spool is None or job.path is None:
            job.playing_until = now + job.audio_s
            if job.path is not None:  # the simulator's WAV: speech in's echo reference
                self.send("playback", job=job.job, path=str(job.path), t0=round(now, 4),
                          audio_s=round(job.audio_s, 3))
            return
        try:
            pcm = wav_pcm16k(str(job.path))
            job.path.unlink()
        except (OSError, EOFError, ValueError) as exc:
            self._fail(job, "playback", f"the sentence's audio is gone or unreadable: {exc}")
            return
        job.playing_until = now + job.audio_s + HANG_MARGIN_S  # the card's deadline
        threading.Thread(target=self._card, args=(job, pcm), name=f"play-{job.job}", daemon=True).start()

    def _card(self, job: _Job, pcm: bytes) -> None:
        """Play on the sound card block by block, each block also to the far-end ring; stop at a cut."""
        try:
            out = self.sound_out()
            try:
                for block in pcm16k_blocks(pcm):
                    if job.cut.is_set():
                        break
                    t = out.write(block)
                    if self.ring is not None:
                        self.ring.write(t, block)
                if job.cut.is_set():
                    silent = out.drop()
                    if self.ring is not None:
                        self.ring.cut(silent)
                else:
                    out.drain()
            finally:
                out.close()
        except SoundError as exc:
            job.play_error = str(exc)
        except Exception as exc:  # reported as this sentence's outcome
            job.play_error = f"{type(exc).__name__}: {exc}"
        finally:
            job.played.set()

    def _played(self, job: _Job, now: float) -> bool:
        """True once the sentence has been heard in full; a failed playback ends it as failed."""
        if self.spool is None:
            return now >= job.playing_until
        if not job.played.is_set():
            if now > job.playing_until:  # the card took far longer than the sentence lasts
                job.cut.set()
                self._fail(job, "playback", f"the sound card {self.device} did not play {job.audio_s:.1f} s of audio")
            return False
        if job.play_error:
            self._fail(job, "playback", f"sound card {self.device}: {job.play_error}")
            return False
        return True

    def _silence(self) -> None:
        """Silence now: the queue is dropped and the playing sentence cut.

        A sentence still being synthesised is left to finish into its file, unheard. The
        control process has already ended these jobs; nothing more is reported for them.
        """
        self.queue.clear()
        job = self.current
        if job is None:
            return
        job.cut.set()  # the card's thread drops what it holds within a block (10 ms)
        if job.done.is_set():
            self.current = None
        else:
            job.cancelled = True
        self.send("playback_cut", job=job.job)

    def teardown(self) -> None:
        if self.current is not None:
            self.current.cut.set()
        if self.ring is not None:
            self.ring.close()
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)

    def _fail(self, job: _Job, reason: str, detail: str) -> None:
        self.send("speaking_failed", job=job.job, reason=reason, detail=detail[:300])
        if self.spool is not None and job.path is not None:
            job.path.unlink(missing_ok=True)
        self.current = None
        if reason == "hang" or not self.speaker.idle():
            os._exit(EXIT_FRESH_ENGINE)  # espeak is still busy with it: only a fresh process is clean
