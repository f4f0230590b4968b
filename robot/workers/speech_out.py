"""The speech-out worker: pyttsx3 with espeak-ng, one sentence per job, in its own process.

It reports `speaking_started` and `speaking_finished`, which drive the speaking animation
and mute recognition (half duplex). Synthesis runs on a thread inside this process while
the worker loop keeps its heartbeat: a job that overruns its expected length is a hang,
and the worker exits so the supervisor restarts it. To stop speech at once the control
process kills this worker (pyttsx3 cannot be interrupted reliably) and it comes back.
In the simulator the audio goes to WAV files instead of the sound card; playback is
then simulated by time, so turn-taking behaves as it will on the robot.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from hardware.tts import Speaker
from robot.messages import Message
from robot.worker import Worker

HANG_MARGIN_S = 2.0


class SpeechOutWorker(Worker):
    """Says one sentence per `say` command."""

    poll_s = 0.02

    def setup(self) -> None:
        o = self.options
        self.speaker = Speaker(str(o.get("voice", "en")), pitch=int(o.get("pitch", 50)))
        if self.speaker.voice is None:  # speak anyway, in espeak's default voice, and say why
            self.send("speech_fault", reason="voice",
                      detail=f"espeak-ng has no voice for {o.get('voice')!r} (see `espeak-ng --voices`); "
                             "using its default voice")
        self.out_dir = Path(o["out_dir"]) if o.get("out_dir") else None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = 0
        self.current: dict[str, Any] | None = None
        self.playing_until = 0.0
        self.deadline = 0.0
        self._done = threading.Event()
        self._duration = 0.0

    def handle(self, msg: Message) -> None:
        if msg.kind == "say":
            self._start(str(msg.data["text"]), float(msg.data.get("rate", 150)), float(msg.data.get("volume", 1.0)),
                        int(msg.data.get("job", 0)))
        elif msg.kind == "simulate_hang":  # diagnostics: prove that a wedged speech engine is recovered
            time.sleep(3600)
        else:
            super().handle(msg)

    def _start(self, text: str, rate: float, volume: float, job: int) -> None:
        self.jobs += 1
        words = len(text.split())
        expected = words * 60.0 / max(rate, 60.0)
        self.current = {"job": job, "words": words, "t0": time.monotonic()}
        self.deadline = time.monotonic() + expected * 2 + HANG_MARGIN_S
        self._done.clear()
        path = self.out_dir / f"say-{os.getpid()}-{self.jobs:05d}.wav" if self.out_dir else None
        self.send("speaking_started", job=job, words=words)
        threading.Thread(target=self._synth, args=(text, rate, volume, path), daemon=True).start()

    def _synth(self, text: str, rate: float, volume: float, path: Path | None) -> None:
        try:
            self._duration = self.speaker.say(text, rate, volume, path, timeout_s=self.deadline - time.monotonic())
            self._done.set()
        except Exception as exc:  # report it; the job deadline then restarts the worker
            self.send("speech_fault", reason="synthesis", detail=f"{type(exc).__name__}: {exc}"[:300])

    def step(self) -> None:
        if self.current is None:
            return
        now = time.monotonic()
        if self._done.is_set():
            if self.playing_until == 0.0:
                self.playing_until = now + self._duration  # simulated playback of the WAV
                self.current["synth_s"] = round(now - self.current["t0"], 3)
            if now >= self.playing_until:
                self.send("speaking_finished", job=self.current["job"], audio_s=round(self._duration, 3),
                          synth_s=self.current["synth_s"])
                self.current, self.playing_until = None, 0.0
        elif now > self.deadline:
            self.send("speech_hang", job=self.current["job"])
            os._exit(5)  # the engine is wedged: let the supervisor start a fresh process
