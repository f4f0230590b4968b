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
