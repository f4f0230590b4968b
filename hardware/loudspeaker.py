"""The loudspeaker device: a sentence's WAV played on the sound card (ALSA), or kept as a file.

The speech engine writes each sentence to the path `prepare` gives; `play` starts it and
`finished` says when it has been heard in full. `AlsaLoudspeaker` spools the WAV in memory
(/dev/shm), deletes it and streams it to `aplay` through a small pipe: the sentence ends
when aplay exits, a sound card that fails is a failed sentence, and when the process is
killed aplay falls silent within its 0.2 s buffer. Its simulated twin, `FileLoudspeaker`,
keeps the newest sentences as WAV files in a directory (the simulator's speech in hears
them through the simulated room) and plays them by time, so turn-taking behaves as it
will on the robot. A directory that cannot take a sentence (read-only, gone, full) fails
it in `prepare`, before any synthesis.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from hardware.device import Probe
from hardware.errors import HardwareError

WAV_BYTES_PER_S = 44100  # espeak-ng's 22 kHz 16-bit mono: free space a sentence needs, per second it may run
KEEP_WAVS = 100  # the simulator keeps this many of the newest sentence files
HANG_MARGIN_S = 2.0  # aplay's allowance past the sentence's length
PIPE_BYTES = 4096  # what aplay can still play from the pipe after the process dies: 0.1 s at 22 kHz
F_SETPIPE_SZ = 1031  # fcntl, Linux


class Loudspeaker(ABC):
    """Plays one sentence's WAV at a time."""

    where = "loudspeaker"
    keeps_audio = False  # whether a played sentence's file stays (the simulator's echo reference)

    @abstractmethod
    def prepare(self, job: int, max_s: float) -> Path:
        """Where sentence `job` (at most `max_s` long) is to be written; HardwareError if it cannot be."""

    @abstractmethod
    def play(self, path: Path, audio_s: float, now: float) -> None:
        """Start playing the written sentence; HardwareError if it cannot start."""

    @abstractmethod
    def finished(self, now: float) -> bool:
        """True once the sentence has been heard in full; HardwareError if its playback failed."""

    @abstractmethod
    def cut(self) -> None:
        """Stop the playing sentence at once."""

    def discard(self, path: Path) -> None:
        """A sentence that failed: its audio is not kept (the twin keeps its files)."""
        if not self.keeps_audio:
            path.unlink(missing_ok=True)

    @abstractmethod
    def close(self) -> None:
        """Stop playing and release what the device holds."""

    def probe(self) -> Probe:
        """Play a fifth of a second of silence, which must end as a sentence does."""
        path = self.prepare(0, 1.0)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(bytes(22050 * 2 // 5))
        self.play(path, 0.2, time.monotonic())
        end = time.monotonic() + 0.2 + HANG_MARGIN_S + 1
        try:
            while not self.finished(time.monotonic()):
                if time.monotonic() > end:
                    raise HardwareError(f"{self.where} did not finish 0.2 s of silence")
                time.sleep(0.02)
        finally:
            self.discard(path)
        return Probe(f"{self.where} played a test sound")


def _room_for(where: Path, max_s: float) -> None:
    disk = os.statvfs(where)
    if disk.f_bavail * disk.f_frsize < WAV_BYTES_PER_S * max_s:
        raise OSError(errno.ENOSPC, "not enough free space for the sentence's audio")


class AlsaLoudspeaker(Loudspeaker):
    """The sound card, through aplay."""

    def __init__(self, device: str = "default") -> None:
        self.device = device
        self.where = f"ALSA device {device}"
        self._spool: Path | None = None  # where a sentence waits for aplay: memory, never the disk
        self._player: subprocess.Popen[bytes] | None = None
        self._deadline = 0.0
        self._audio_s = 0.0

    def _spooled(self) -> Path:
        if self._spool is None:
            shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            self._spool = Path(tempfile.mkdtemp(prefix=f"carebot-say-{os.getpid()}-", dir=shm))
        return self._spool

    def prepare(self, job: int, max_s: float) -> Path:
        try:
            spool = self._spooled()
            _room_for(spool, max_s)
        except OSError as exc:
            raise HardwareError(f"cannot write to {self._spool}: {exc}") from None
        return spool / f"say-{job}.wav"

    def play(self, path: Path, audio_s: float, now: float) -> None:
        try:
            audio = path.read_bytes()
            path.unlink()
        except OSError as exc:
            raise HardwareError(f"the sentence's audio is gone: {exc}") from None
        self._deadline, self._audio_s = now + audio_s + HANG_MARGIN_S, audio_s
        try:
            self._player = subprocess.Popen(["aplay", "-q", "-D", self.device, "--buffer-time=200000"],
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            self._player = None
            raise HardwareError(f"cannot run aplay (install alsa-utils): {exc}") from None
        stdin = self._player.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(stdin.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
        threading.Thread(target=_feed, args=(stdin, audio), name=f"aplay-{path.stem}", daemon=True).start()

    def finished(self, now: float) -> bool:
        player = self._player
        if player is None:
            return True
        code = player.poll()
        if code is None:
            if now > self._deadline:
                self.cut()
                raise HardwareError(f"aplay did not finish {self._audio_s:.1f} s of audio")
            return False
        self._player = None
        error = player.stderr.read().decode("utf-8", "replace").strip() if player.stderr else ""
        if code != 0:
            raise HardwareError(f"aplay -D {self.device} exited with code {code}: {error[-200:]}")
        return True

    def cut(self) -> None:
        player, self._player = self._player, None
        if player is not None:
            player.kill()
            player.wait()

    def close(self) -> None:
        self.cut()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None


def _feed(stdin: Any, audio: bytes) -> None:
    """Stream a WAV into aplay; a pipe closed by a killed aplay just ends it."""
    with contextlib.suppress(OSError, ValueError):
        stdin.write(audio)
        stdin.close()


class FileLoudspeaker(Loudspeaker):
    """The simulator's: sentences kept as WAV files, each 'played' for as long as it lasts."""

    keeps_audio = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.where = f"WAV files in {directory}"
        self._until: float | None = None

    def prepare(self, job: int, max_s: float) -> Path:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"say-{job - KEEP_WAVS:05d}.wav").unlink(missing_ok=True)
            _room_for(self.directory, max_s)
        except OSError as exc:
            raise HardwareError(f"cannot write to {self.directory}: {exc}") from None
        return self.directory / f"say-{job:05d}.wav"

    def play(self, path: Path, audio_s: float, now: float) -> None:
        self._until = now + audio_s

    def finished(self, now: float) -> bool:
        if self._until is None or now >= self._until:
            self._until = None
            return True
        return False

    def cut(self) -> None:
        self._until = None

    def close(self) -> None:
        self.cut()
