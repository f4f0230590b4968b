"""Audio helpers for the simulator: synthetic residents' voices at the microphone's format."""

from __future__ import annotations

import io
import subprocess
import wave

import numpy as np

RATE = 16000


def espeak_pcm(text: str, voice: str = "ko", wpm: int = 120) -> bytes:
    """16 kHz mono 16-bit PCM of espeak-ng saying `text` (slowly by default, as many residents speak)."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text], capture_output=True,
                         check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    return resample16k(data, rate).astype(np.int16).tobytes()


def resample16k(data: np.ndarray, rate: int) -> np.ndarray:
    """Mono samples at `rate` to 16 kHz (linear interpolation: enough for a reference and a simulation)."""
    if rate == RATE:
        return data
    n = int(len(data) * RATE / rate)
    return np.interp(np.linspace(0, len(data), n, endpoint=False), np.arange(len(data)), data)


def wav_pcm16k(path: str) -> bytes:
    """A mono 16-bit WAV file (such as espeak-ng's 22.05 kHz sentences) as 16 kHz PCM."""
    with wave.open(path) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: need mono 16-bit audio")
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    return resample16k(data, rate).astype(np.int16).tobytes()


def voice_like(seconds: float, volume: float = 1.0, f0: float = 120.0) -> bytes:
    """16 kHz PCM of a voice-like sound with no words in it: for the speech twins, which have no voice.

    Harmonics of a wavering pitch through three vowel formants, four syllables a second. It
    passes webrtcvad as speech (every frame, measured) and gives an echo canceller something
    to learn the room from, which silence would not.
    """
    n = max(0, int(seconds * RATE))
    t = np.arange(n) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / RATE
    out = np.zeros(n)
    for k in range(1, 30):
        gain = sum(np.exp(-((k * f0 - f) / b) ** 2) for f, b in ((700, 130), (1200, 150), (2600, 250))) + 0.05
        out += gain / k ** 0.5 * np.sin(k * phase)
    out *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    peak = np.abs(out).max() if n else 0.0
    scale = 8000 * max(0.0, min(1.0, volume)) / peak if peak else 0.0
    return (out * scale).astype(np.int16).tobytes()
