"""Acoustic echo cancellation: the robot's own voice taken out of the microphone signal.

The canceller is libspeexdsp's (`libspeexdsp1` on Debian and Raspberry Pi OS), reached through a
thin ctypes binding to its documented C API: `speex_echo_*` (the multi-delay block frequency
domain adaptive filter) and `speex_preprocess_*` (the residual echo suppressor that follows it).
No filter is written here. Why libspeexdsp and not the WebRTC module (livekit's
`AudioProcessingModule`): measured by `carebot bench bargein` and in docs/benchmarks.md; in short
it cancels as much of the simulated room's echo, costs a few per cent of one core at 16 kHz, is a
1.2 MB system library on every Debian-based board, and needs no 60 MB wheel with a network stack.

Both signals are 16 kHz mono 16-bit PCM. The far end (what the speaker plays) must be given frame
by frame with the microphone frame captured at the same moment; the echo's delay through the room
must be shorter than the filter (`tail_ms`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np

from hardware.errors import HardwareError

RATE = 16000
FRAME = 160  # 10 ms: the canceller's block

_ECHO_SET_SAMPLING_RATE = 24
_PREPROCESS_SET_DENOISE = 0
_PREPROCESS_SET_ECHO_STATE = 24
_PREPROCESS_SET_ECHO_SUPPRESS = 20
_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 22


class EchoUnavailable(HardwareError):
    """libspeexdsp is not installed (apt-get install libspeexdsp1)."""


_lib: Any = None


def _speexdsp() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EchoUnavailable(f"cannot load libspeexdsp ({exc}); install it: apt-get install libspeexdsp1") from exc
        vp, i16p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16)
        lib.speex_echo_state_init.restype = vp
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_echo_cancellation.argtypes = [vp, i16p, i16p, i16p]
        lib.speex_echo_ctl.argtypes = [vp, ctypes.c_int, vp]
        lib.speex_echo_state_reset.argtypes = [vp]
        lib.speex_echo_state_destroy.argtypes = [vp]
        lib.speex_preprocess_state_init.restype = vp
        lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_preprocess_run.argtypes = [vp, i16p]
        lib.speex_preprocess_ctl.argtypes = [vp, ctypes.c_int, vp]
        lib.speex_preprocess_state_destroy.argtypes = [vp]
        _lib = lib
    return _lib


class EchoCanceller:
    """libspeexdsp's echo canceller and residual echo suppressor, 10 ms blocks at 16 kHz."""

    def __init__(self, tail_ms: int = 160, suppress_db: int = -40, suppress_active_db: int = -15,
                 denoise: bool = True) -> None:
        lib = _speexdsp()
        self._lib = lib
        self._echo = lib.speex_echo_state_init(FRAME, int(RATE * tail_ms / 1000))
        rate = ctypes.c_int(RATE)
        lib.speex_echo_ctl(self._echo, _ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        self._pre = lib.speex_preprocess_state_init(FRAME, RATE)
        lib.speex_preprocess_ctl(self._pre, _PREPROCESS_SET_ECHO_STATE, self._echo)
        # The residual echo suppressor only works with denoising on (speex applies no gain otherwise).
        on = ctypes.c_int(int(denoise))
        lib.speex_preprocess_ctl(self._pre, _PREPROCESS_SET_DENOISE, ctypes.byref(on))
        for request, db in ((_PREPROCESS_SET_ECHO_SUPPRESS, suppress_db),
                            (_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, suppress_active_db)):
            value = ctypes.c_int(db)
            lib.speex_preprocess_ctl(self._pre, request, ctypes.byref(value))
        self._mic = (ctypes.c_int16 * FRAME)()
        self._far = (ctypes.c_int16 * FRAME)()
        self._out = (ctypes.c_int16 * FRAME)()

    def process(self, mic: bytes, far: bytes) -> bytes:
        """The microphone's PCM less the echo of `far` (same length, a multiple of 10 ms)."""
        if len(mic) != len(far) or len(mic) % (FRAME * 2):
            raise ValueError(f"echo canceller takes equal 10 ms multiples, got {len(mic)} and {len(far)} bytes")
        out = bytearray()
        lib, n = self._lib, FRAME * 2
        for i in range(0, len(mic), n):
            ctypes.memmove(self._mic, mic[i:i + n], n)
            ctypes.memmove(self._far, far[i:i + n], n)
            lib.speex_echo_cancellation(self._echo, self._mic, self._far, self._out)
            lib.speex_preprocess_run(self._pre, self._out)
            out += bytes(self._out)
        return bytes(out)

    def reset(self) -> None:
        """Forget the learnt room (after a long silence the room may have changed)."""
        self._lib.speex_echo_state_reset(self._echo)

    def close(self) -> None:
        """Free the C state."""
        if self._echo:
            self._lib.speex_preprocess_state_destroy(self._pre)
            self._lib.speex_echo_state_destroy(self._echo)
            self._echo = self._pre = None

    def __del__(self) -> None:
        self.close()


class FarEnd:
    """The robot's own voice on a timeline: what the speaker plays at each moment.

    Each sentence is placed at the monotonic time its playback starts (every process on the
    machine shares that clock), so the microphone frame captured at time t is paired with the
    far-end samples played at t, sample for sample in the simulator.
    """

    def __init__(self) -> None:
        self._parts: list[tuple[float, np.ndarray]] = []

    def add(self, t0: float, pcm: bytes) -> None:
        """A sentence (or a block of one) whose playback starts at monotonic time `t0`.

        A block that starts within a millisecond of where the last part ends is placed right after
        it: blocks handed to a sound card one after the other play back to back, and their
        timestamps only jitter by how the card's delay was read.
        """
        if self._parts:
            last_t0, last = self._parts[-1]
            end = last_t0 + len(last) / RATE
            if abs(end - t0) < 0.001:
                t0 = end
        self._parts.append((t0, np.frombuffer(pcm, np.int16).astype(np.float64)))

    def cut(self, t: float) -> None:
        """Playback stopped at monotonic time `t`: nothing plays from then on."""
        self._parts = [(t0, x[:max(0, int(round((t - t0) * RATE)))]) for t0, x in self._parts if t0 < t]

    def clear(self) -> None:
        """Playback stopped: nothing more comes out of the speaker."""
        self._parts.clear()

    def active(self, t: float, tail_s: float = 0.3) -> bool:
        """True while a sentence plays at `t` (or its echo may still ring, `tail_s` after it)."""
        self._parts = [(t0, x) for t0, x in self._parts if t < t0 + len(x) / RATE + tail_s]
        return any(t0 - tail_s <= t for t0, _ in self._parts)

    def window(self, t: float, n: int, back: int = 0) -> np.ndarray:
        """`n` samples played from time `t`, less `back` samples (float, zeros where nothing plays)."""
        out = np.zeros(n)
        for t0, x in self._parts:
            start = int(round((t - t0) * RATE)) - back
            lo, hi = max(start, 0), min(start + n, len(x))
            if lo < hi:
                out[lo - start:hi - start] += x[lo:hi]
        return out
