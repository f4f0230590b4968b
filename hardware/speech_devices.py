"""The speech devices' factory: config's names in, the real engine or its simulated twin out.

Speech in and speech out build their devices here when they start (neither imports OpenCV, as
robot.workers.devices would make them). A new backend is its module and one entry here.
"""

from __future__ import annotations

from pathlib import Path

from hardware.recogniser import Recogniser, VoskRecogniser
from hardware.recogniser_text import TextRecogniser
from hardware.tts import Speaker, Synthesiser
from hardware.tts_sim import SimSpeaker

RECOGNISERS = ("vosk", "text")
SYNTHESISERS = ("espeak", "sim")


def make_recogniser(kind: str, model: Path, alternatives: int = 3) -> Recogniser:
    """The configured recogniser: Vosk on a model folder, or the twin fed typed words ("text")."""
    if kind == "text":
        return TextRecogniser(alternatives)
    if kind != "vosk":
        raise ValueError(f"no recogniser {kind!r}; there are: {', '.join(RECOGNISERS)}")
    return VoskRecogniser(model, alternatives)


def make_synthesiser(kind: str, voice: str = "en", pitch: int = 50) -> Synthesiser:
    """The configured speech synthesis: espeak-ng through pyttsx3, or the twin that only keeps time ("sim")."""
    if kind == "sim":
        return SimSpeaker()
    if kind != "espeak":
        raise ValueError(f"no speech synthesis {kind!r}; there are: {', '.join(SYNTHESISERS)}")
    return Speaker(voice, pitch)
