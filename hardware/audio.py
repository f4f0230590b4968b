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
    n = int(len(data) * RATE / rate)
    at = np.linspace(0, len(data), n, endpoint=False)
    return np.interp(at, np.arange(len(data)), data).astype(np.int16).tobytes()
