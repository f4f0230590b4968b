"""The speech-synthesis device's contract with the real parts: espeak-ng through pyttsx3. One backend,
no simulated twin (the simulator speaks with espeak-ng too); the loudspeaker's twins are tested with
hardware/sound_out.py."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from hardware.tts import Speaker, SpeechError, Synthesiser


@pytest.fixture(scope="module", params=["espeak-ng"])
def synthesis(request: pytest.FixtureRequest) -> Synthesiser:
    return Speaker("ko")


def test_synthesis_makes_a_wav_of_the_sentence(synthesis: Synthesiser, tmp_path: Path) -> None:
    seconds = synthesis.say("케어봇 자체 점검입니다.", 150, path=tmp_path / "say.wav")
    with wave.open(str(tmp_path / "say.wav")) as w:
        assert abs(w.getnframes() / w.getframerate() - seconds) < 0.01
    assert 0.5 < seconds < 10
    assert "voice" in synthesis.probe("네", 150).detail


def test_synthesis_without_the_voice_says_which() -> None:
    speaker = Speaker("xx-carebot")
    with pytest.raises(SpeechError, match="xx-carebot"):
        speaker.probe("hello")
