"""The loudspeaker: 16 kHz mono blocks to the sound card, each with the moment it will be heard.

Speech out plays through this itself (no `aplay`) so that it knows when every sample leaves the
speaker: the echo canceller in speech in needs that far end aligned with the microphone
(hardware/far_ring.py). `AlsaOut` reaches libasound2 (installed with alsa-utils on Debian and
Raspberry Pi OS) through a thin ctypes binding to its documented C API: `snd_pcm_writei` blocks
while the card's buffer is full, and `snd_pcm_delay` after it says how many frames are queued
ahead of the speaker, so the first sample just written is heard `delay - written` frames from
now. `drop` silences at once (what is queued is discarded, not played out).

`SimOut` is the simulated sound card (`playback_device = "sim"`): it takes blocks at the pace a
card with a `buffer_s` buffer would and reports the same timing, and keeps a log of what it
"played" and when, for the simulated room and the tests. This machine has no sound card.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from typing import Any, Protocol

from hardware.device import Probe
from hardware.errors import HardwareError

RATE = 16000
_FORMAT_S16_LE = 2
_ACCESS_RW_INTERLEAVED = 3
_STREAM_PLAYBACK = 0


class SoundError(HardwareError):
    """The sound card could not be opened or stopped playing."""


class SoundOut(Protocol):
    """What speech out needs from a loudspeaker."""

    def write(self, block: bytes) -> float:
        """Play 16-bit mono PCM at 16 kHz (blocks while the card is full); when its first sample is heard."""

    def drain(self) -> None:
        """Wait until everything written has been heard."""

    def drop(self) -> float:
        """Stop at once, discarding what is queued; the monotonic time the speaker fell silent."""

    def close(self) -> None:
        """Release the card."""


_lib: Any = None


def _asound() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("asound") or "libasound.so.2"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise SoundError(f"cannot load libasound ({exc}); install it: apt-get install libasound2") from exc
        vp = ctypes.c_void_p
        lib.snd_pcm_open.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.snd_pcm_set_params.argtypes = [vp, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_int, ctypes.c_uint]
        lib.snd_pcm_writei.argtypes = [vp, ctypes.c_void_p, ctypes.c_ulong]
        lib.snd_pcm_writei.restype = ctypes.c_long
        lib.snd_pcm_delay.argtypes = [vp, ctypes.POINTER(ctypes.c_long)]
        lib.snd_pcm_recover.argtypes = [vp, ctypes.c_int, ctypes.c_int]
        for fn in ("snd_pcm_drain", "snd_pcm_drop", "snd_pcm_close"):
            getattr(lib, fn).argtypes = [vp]
        lib.snd_strerror.restype = ctypes.c_char_p
        _lib = lib
    return _lib


class AlsaOut:
    """A sound card through libasound2, opened for one sentence."""

    def __init__(self, device: str = "default", latency_s: float = 0.1) -> None:
        self._lib = lib = _asound()
        self._pcm = ctypes.c_void_p()
        self._check(lib.snd_pcm_open(ctypes.byref(self._pcm), device.encode(), _STREAM_PLAYBACK, 0), f"open {device}")
        self._check(lib.snd_pcm_set_params(self._pcm, _FORMAT_S16_LE, _ACCESS_RW_INTERLEAVED, 1, RATE, 1,
                                           int(latency_s * 1e6)), f"set 16 kHz mono on {device}")

    def _check(self, code: int, what: str) -> int:
        if code < 0:
            raise SoundError(f"ALSA: cannot {what}: {self._lib.snd_strerror(code).decode()}")
        return code

    def _delay(self) -> int:
        frames = ctypes.c_long()
        return 0 if self._lib.snd_pcm_delay(self._pcm, ctypes.byref(frames)) < 0 else int(frames.value)

    def write(self, block: bytes) -> float:
        n = len(block) // 2
        written = self._lib.snd_pcm_writei(self._pcm, block, n)
        if written < 0:  # an underrun (the card ran dry): recover and write again
            self._check(self._lib.snd_pcm_recover(self._pcm, int(written), 1), "recover from an underrun")
            written = self._check(self._lib.snd_pcm_writei(self._pcm, block, n), "write")
        return time.monotonic() + (self._delay() - int(written)) / RATE

    def drain(self) -> None:
        self._lib.snd_pcm_drain(self._pcm)

    def drop(self) -> float:
        self._lib.snd_pcm_drop(self._pcm)
        return time.monotonic()

    def close(self) -> None:
        if self._pcm:
            self._lib.snd_pcm_close(self._pcm)
            self._pcm = ctypes.c_void_p()


class SimOut:
    """The simulated sound card: the pace and timing of a card with `buffer_s` of buffer.

    `played` logs (monotonic time heard, block) for what actually reached the "speaker"; blocks
    dropped before their time are taken back out of it.
    """

    def __init__(self, buffer_s: float = 0.1, played: list[tuple[float, bytes]] | None = None) -> None:
        self.buffer_s = buffer_s
        self.played = played if played is not None else []
        self._end = 0.0  # when the last written sample will have been heard
        self._lock = threading.Lock()

    def write(self, block: bytes) -> float:
        now = time.monotonic()
        start = max(now, self._end)
        if start - now > self.buffer_s:  # the card is full: wait, as snd_pcm_writei does
            time.sleep(start - now - self.buffer_s)
        with self._lock:
            self._end = start + len(block) / 2 / RATE
            self.played.append((start, block))
        return start

    def drain(self) -> None:
        time.sleep(max(0.0, self._end - time.monotonic()))

    def drop(self) -> float:
        now = time.monotonic()
        with self._lock:
            self.played[:] = [(t, b) for t, b in self.played if t < now]
            self._end = now
        return now

    def close(self) -> None:
        pass


def open_sound_out(device: str) -> SoundOut:
    """The loudspeaker named by `device`: "sim" for the simulated card, else an ALSA device name."""
    return SimOut() if device == "sim" else AlsaOut(device)


PROBE_TIMEOUT_S = 3.0  # a card plays a tenth of a second within its latency; one still silent after this hangs


def probe(device: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Open the loudspeaker, play a tenth of a second of silence to the end and release it (self-test).

    A card that never takes the samples (another program holds it, a USB card whose clock stopped)
    blocks libasound's open, write or drain for ever: the probe runs in a thread, and one that has
    not finished in `timeout_s` is a SoundError (the thread is left behind, stuck in libasound).
    """
    result: list[float | BaseException] = []

    def play() -> None:
        try:
            out = open_sound_out(device)
            try:
                t0 = time.monotonic()
                heard = out.write(bytes(RATE * 2 // 10))
                out.drain()
            finally:
                out.close()
            result.append(max(0.0, heard - t0))
        except BaseException as exc:  # handed to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=play, name="loudspeaker-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not result:
        raise SoundError(f"{device} did not play a tenth of a second of silence in {timeout_s:.0f} s: the card hangs")
    if isinstance(result[0], BaseException):
        raise result[0]
    return Probe(f"{device}: plays; {result[0] * 1000:.0f} ms from a write to the speaker")
