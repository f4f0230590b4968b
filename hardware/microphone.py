"""The microphone device: 16 kHz mono 16-bit audio in 30 ms frames, from ALSA or from WAV files.

`AlsaMicrophone` records the sound card with arecord; closing it ends the process, so a
closed microphone captures nothing at all. Its simulated twin, `WavMicrophone`, hears WAV
files played to it (a resident's voice), one frame per 30 ms of the monotonic clock as a
real microphone would, or all at once for benchmarks; the simulated room
(hardware/room.py) may instead take its frames one by one on its own clock. No audio is
written anywhere by either.
"""

from __future__ import annotations

import collections
import math
import subprocess
import time
import wave
from abc import ABC, abstractmethod
from pathlib import Path

from hardware.device import Probe
from hardware.errors import DeviceUnavailable, HardwareError

RATE = 16000
FRAME_S = 0.03
FRAME_BYTES = int(RATE * FRAME_S) * 2


def level_dbfs(pcm: bytes) -> float:
    """The RMS level of 16-bit audio in dB below full scale (-inf for digital silence)."""
    samples = memoryview(pcm).cast("h")
    if not len(samples):
        return -math.inf
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    return 20 * math.log10(rms / 32768) if rms else -math.inf


class Microphone(ABC):
    """Frames of the room's sound, while open."""

    where = "microphone"

    @abstractmethod
    def open(self) -> None:
        """Start capturing (raises DeviceUnavailable)."""

    @abstractmethod
    def close(self) -> None:
        """Stop capturing entirely; safe to call twice."""

    @abstractmethod
    def frames(self) -> list[bytes]:
        """The frames captured since the last call (waits at most one frame)."""

    def probe(self, seconds: float = 1.0) -> Probe:
        """Capture `seconds` and report their level, computed in memory and dropped."""
        self.open()
        try:
            audio = bytearray()
            end = time.monotonic() + seconds + 2.0
            while len(audio) < seconds * RATE * 2 and time.monotonic() < end:
                audio += b"".join(self.frames())
        finally:
            self.close()
        if not audio:
            raise DeviceUnavailable(f"{self.where} gave no audio in {seconds + 2:.0f} s")
        level = level_dbfs(bytes(audio))
        del audio  # never kept
        if level < -90:
            return Probe("level below -90 dBFS", "gives pure silence: is it muted (alsamixer)?")
        return Probe(f"level {level:.0f} dBFS")


class AlsaMicrophone(Microphone):
    """A sound card's input through arecord."""

    def __init__(self, device: str = "default") -> None:
        self.device = device
        self.where = f"ALSA device {device}"
        self._arecord: subprocess.Popen[bytes] | None = None

    def open(self) -> None:
        if self._arecord is not None:
            return
        try:
            # 10 ms periods: a frame is read within about a period of its capture, which is the time the
            # echo canceller pairs it with (barge-in; the filter's tail absorbs the rest)
            self._arecord = subprocess.Popen(["arecord", "-q", "-D", self.device, "-f", "S16_LE", "-r", str(RATE),
                                              "-c", "1", "-t", "raw", "--period-time=10000", "--buffer-time=200000"],
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise DeviceUnavailable(f"cannot start arecord for {self.where}: {exc}; apt-get install alsa-utils"
                                    ) from None

    def close(self) -> None:
        proc, self._arecord = self._arecord, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def frames(self) -> list[bytes]:
        proc = self._arecord
        if proc is None or proc.stdout is None:
            return []
        frame = proc.stdout.read(FRAME_BYTES)  # blocks at most one frame (30 ms)
        if len(frame) < FRAME_BYTES:
            error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            self.close()
            raise DeviceUnavailable(f"{self.where} stopped: {error[:200] or 'arecord ended'}")
        return [frame]


class WavMicrophone(Microphone):
    """The simulator's microphone: it hears the WAV files played to it."""

    where = "the simulated microphone (WAV files)"

    def __init__(self) -> None:
        self.queue: collections.deque[bytes] = collections.deque()
        self.is_open = False
        self.realtime = True
        self._t0 = 0.0
        self._played = 0

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self.queue.clear()

    def play(self, path: Path, realtime: bool = True) -> float:
        """Queue a 16 kHz mono 16-bit WAV; the seconds it lasts. HardwareError says what is wrong with it."""
        try:
            with wave.open(str(path)) as w:
                if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                    raise HardwareError(f"{path.name}: need 16 kHz mono 16-bit")
                data = w.readframes(w.getnframes())
        except (OSError, EOFError, wave.Error) as exc:
            raise HardwareError(f"{path.name}: {exc}") from None
        return self.play_pcm(data, realtime)

    def play_pcm(self, data: bytes, realtime: bool = True) -> float:
        """Queue 16 kHz mono 16-bit audio (a speech twin's sound); the seconds it lasts."""
        if not self.is_open:
            return 0.0  # a closed microphone hears nothing
        for i in range(0, len(data) - FRAME_BYTES + 1, FRAME_BYTES):
            self.queue.append(data[i:i + FRAME_BYTES])
        self._t0, self._played, self.realtime = time.monotonic(), 0, realtime
        return len(data) / 2 / RATE

    @property
    def started(self) -> float:
        """When the latest file began to play, on the monotonic clock."""
        return self._t0

    def take(self) -> bytes | None:
        """The next queued frame, for a simulated room that keeps its own clock; None when none waits."""
        return self.queue.popleft() if self.queue else None

    def frames(self) -> list[bytes]:
        if not self.queue:
            return []
        due = len(self.queue) if not self.realtime else int((time.monotonic() - self._t0) / FRAME_S) - self._played
        out = [self.queue.popleft() for _ in range(max(0, min(due, len(self.queue))))]
        self._played += len(out)
        return out

    def probe(self, seconds: float = 1.0) -> Probe:
        """The twin has nothing to capture unless played to: it says so and that it is ready."""
        self.open()
        self.close()
        return Probe("ready: it hears the WAV files played to it")


def make_microphone(source: str, device: str, simulated: WavMicrophone) -> Microphone:
    """The sound card (source "alsa"), or the simulator's microphone, which WAV files are played to."""
    return AlsaMicrophone(device) if source == "alsa" else simulated
