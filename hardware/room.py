"""The simulated room and microphone: the robot's own voice comes back, a resident may talk over it.

What the microphone hears is the robot's speech through the room (a direct path after `delay_ms`,
`attenuation_db` quieter, plus a few weaker reflections), a resident's utterance starting at a
chosen moment, and a little noise. The far end is known sample for sample, as on the robot, so
the echo canceller can be tried against it. Everything is 16 kHz mono 16-bit PCM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class Room:
    """How the robot's speaker reaches its microphone."""

    delay_ms: float = 30.0  # 10-80 ms: the path plus the sound card's buffers
    attenuation_db: float = 6.0
    reflections: tuple[tuple[float, float], ...] = ((7.0, -9.0), (19.0, -14.0), (41.0, -20.0))  # (+ms, dB)
    noise_db: float = -60.0  # noise level relative to full scale
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_ms <= 200.0:
            raise ValueError(f"room delay_ms must be 0-200, got {self.delay_ms}")

    def taps(self) -> list[tuple[int, float]]:
        """The paths from the speaker to the microphone: (delay in samples, gain)."""
        gain = 10 ** (-self.attenuation_db / 20)
        paths = [(self.delay_ms, 0.0)] + [(self.delay_ms + ms, db) for ms, db in self.reflections]
        return [(int(ms * RATE / 1000), gain * 10 ** (db / 20)) for ms, db in paths]

    def impulse(self) -> np.ndarray:
        """The room's impulse response from the speaker to the microphone."""
        taps = self.taps()
        h = np.zeros(max(d for d, _ in taps) + 1)
        for d, g in taps:
            h[d] += g
        return h

    def echo(self, far: np.ndarray) -> np.ndarray:
        """The robot's voice as the microphone hears it (float samples, same length as `far`)."""
        return np.convolve(far.astype(np.float64), self.impulse())[:len(far)]

    def noise(self, n: int, offset: int = 0) -> np.ndarray:
        """`n` samples of the room's noise (white, at `noise_db` of full scale)."""
        rng = np.random.default_rng(self.seed + offset)
        return rng.normal(0.0, 32768 * 10 ** (self.noise_db / 20), n)


def pcm(samples: np.ndarray) -> bytes:
    """Float samples to 16-bit PCM, clipped as a real converter clips."""
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16).tobytes()


def samples(data: bytes) -> np.ndarray:
    """16-bit PCM to float samples."""
    return np.frombuffer(data, np.int16).astype(np.float64)


def rms(x: np.ndarray) -> float:
    """Root mean square of float samples (0 for none)."""
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def microphone(room: Room, far: bytes, near: bytes = b"", near_at_s: float = 0.0,
               ser_db: float | None = None) -> bytes:
    """What the microphone hears while the robot says `far` and a resident says `near` from `near_at_s`.

    With `ser_db` the resident's voice is scaled to that speech-to-echo ratio (the echo's level
    over the whole sentence). The result is as long as whichever ends later.
    """
    echo = room.echo(samples(far))
    voice = samples(near)
    start = int(near_at_s * RATE)
    if ser_db is not None and len(voice) and rms(echo):
        active = voice[np.abs(voice) > 0.05 * np.max(np.abs(voice))]
        voice = voice * (rms(echo) * 10 ** (ser_db / 20) / max(rms(active), 1e-9))
    n = max(len(echo), start + len(voice))
    mix = np.zeros(n)
    mix[:len(echo)] += echo
    mix[start:start + len(voice)] += voice
    return pcm(mix + room.noise(n))
