"""The speech-synthesis device's contract, passed alike by espeak-ng through pyttsx3 and by its simulated
twin, which keeps a sentence's time with a wordless voice-like sound (hardware/tts_sim.py). The
loudspeaker's twins are tested with hardware/sound_out.py."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
import webrtcvad

from hardware.audio import wav_pcm16k
from hardware.speech_devices import make_synthesiser
from hardware.tts import Speaker, SpeechError, Synthesiser
from hardware.tts_sim import seconds_of

SENTENCE = "케어봇 자체 점검입니다."
LONGER = "안녕하세요. 오늘 기분은 어떠세요? 저는 케어봇이에요."


@pytest.fixture(scope="module", params=["espeak", "sim"])
def synthesis(request: pytest.FixtureRequest) -> Synthesiser:
    return make_synthesiser(request.param, "ko")


def test_synthesis_makes_a_wav_of_the_sentence(synthesis: Synthesiser, tmp_path: Path) -> None:
    seconds = synthesis.say(SENTENCE, 150, path=tmp_path / "say.wav")
    with wave.open(str(tmp_path / "say.wav")) as w:
        assert abs(w.getnframes() / w.getframerate() - seconds) < 0.01
    assert 0.5 < seconds < 10
    assert synthesis.idle()  # nothing left running: the next sentence may start
    assert "voice" in synthesis.probe("네", 150).detail


def test_the_sentence_sounds_like_a_voice_to_voice_activity_detection(synthesis: Synthesiser,
                                                                       tmp_path: Path) -> None:
    """Speech in's VAD and echo canceller (barge-in) take the robot's sentence for a voice."""
    synthesis.say(SENTENCE, 150, path=tmp_path / "say.wav")
    pcm = wav_pcm16k(str(tmp_path / "say.wav"))
    frame = 480 * 2
    vad = webrtcvad.Vad(2)
    voiced = [vad.is_speech(pcm[i:i + frame], 16000) for i in range(0, len(pcm) - frame + 1, frame)]
    assert sum(voiced) > len(voiced) / 2


def test_a_slower_rate_and_a_longer_sentence_take_longer(synthesis: Synthesiser, tmp_path: Path) -> None:
    fast = synthesis.say(LONGER, 180, path=tmp_path / "fast.wav")
    slow = synthesis.say(LONGER, 130, path=tmp_path / "slow.wav")
    short = synthesis.say(SENTENCE, 130, path=tmp_path / "short.wav")
    assert slow > fast * 1.2 and slow > short * 1.5


def test_the_twin_keeps_espeaks_time(tmp_path: Path) -> None:
    """The twin's sentences last as long as espeak-ng's, within 15 %, so turn-taking times hold."""
    speaker = Speaker("ko")
    for text in (SENTENCE, LONGER):
        for rate in (130, 150):
            real = speaker.say(text, rate, path=tmp_path / "real.wav")
            assert seconds_of(text, rate) == pytest.approx(real, rel=0.15), (text, rate)


def test_synthesis_without_the_voice_says_which() -> None:
    speaker = Speaker("xx-carebot")
    with pytest.raises(SpeechError, match="xx-carebot"):
        speaker.probe("hello")


def test_an_unknown_engine_says_which_there_are() -> None:
    with pytest.raises(ValueError, match="'festival'.*espeak, sim"):
        make_synthesiser("festival")
