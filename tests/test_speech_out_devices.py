"""The speech-out devices' contracts, with real parts: espeak-ng through pyttsx3 makes the sentences;
the loudspeaker's real backend (aplay) and its simulated twin (WAV files kept, played by time) pass
the same test. aplay runs where it finds a sound card and is skipped elsewhere, saying so; its
failure path runs everywhere."""

from __future__ import annotations

import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.audio import espeak_pcm
from hardware.errors import HardwareError
from hardware.loudspeaker import AlsaLoudspeaker, FileLoudspeaker, Loudspeaker
from hardware.tts import Speaker, SpeechError

from .conftest import wait_for


def _sound_card() -> bool:
    return shutil.which("aplay") is not None and "card " in subprocess.run(
        ["aplay", "-l"], capture_output=True, text=True).stdout


@pytest.fixture(params=["alsa", "files"])
def loudspeaker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Loudspeaker]:
    if request.param == "alsa" and not _sound_card():
        pytest.skip("aplay finds no sound card here: the ALSA loudspeaker needs one (its failure path runs)")
    out: Loudspeaker = AlsaLoudspeaker() if request.param == "alsa" else FileLoudspeaker(tmp_path / "said")
    yield out
    out.close()


def write_sentence(path: Path) -> float:
    """A short sentence as espeak-ng makes it (16 kHz here); its seconds."""
    pcm = espeak_pcm("네", "ko")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    return len(pcm) / 32000


def test_a_sentence_plays_for_as_long_as_it_lasts(loudspeaker: Loudspeaker) -> None:
    path = loudspeaker.prepare(1, 10.0)
    seconds = write_sentence(path)
    t0 = time.monotonic()
    loudspeaker.play(path, seconds, t0)
    assert not loudspeaker.finished(time.monotonic())
    assert wait_for(lambda: loudspeaker.finished(time.monotonic()), seconds + 3)
    assert time.monotonic() - t0 >= seconds * 0.8
    assert path.exists() == loudspeaker.keeps_audio  # the twin keeps it (speech in's echo reference)


def test_cut_stops_the_sentence_at_once(loudspeaker: Loudspeaker) -> None:
    path = loudspeaker.prepare(2, 10.0)
    seconds = write_sentence(path)
    loudspeaker.play(path, seconds, time.monotonic())
    loudspeaker.cut()
    assert loudspeaker.finished(time.monotonic())


def test_probe_plays_a_test_sound(loudspeaker: Loudspeaker) -> None:
    assert "played" in loudspeaker.probe().detail


def test_a_sound_card_that_is_not_there_fails_the_sentence_by_name(tmp_path: Path) -> None:
    if shutil.which("aplay") is None:
        pytest.skip("aplay is not installed")
    out = AlsaLoudspeaker("carebot-no-such-card")
    try:
        with pytest.raises(HardwareError, match="aplay -D carebot-no-such-card exited with code"):
            out.probe()
    finally:
        out.close()


def test_a_directory_that_cannot_take_the_sentence_fails_it_before_synthesis(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(HardwareError, match="cannot write to .*a-file"):
        FileLoudspeaker(tmp_path / "a-file" / "said").prepare(1, 5.0)


def test_the_twin_keeps_only_the_newest_sentences(tmp_path: Path) -> None:
    out = FileLoudspeaker(tmp_path)
    for job in (1, 101):
        out.prepare(job, 1.0).write_bytes(b"RIFF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["say-00101.wav"]


@pytest.fixture(scope="module")
def synthesis() -> Speaker:
    return Speaker("ko")


def test_synthesis_makes_a_wav_of_the_sentence(synthesis: Speaker, tmp_path: Path) -> None:
    seconds = synthesis.say("케어봇 자체 점검입니다.", 150, path=tmp_path / "say.wav")
    with wave.open(str(tmp_path / "say.wav")) as w:
        assert abs(w.getnframes() / w.getframerate() - seconds) < 0.01
    assert 0.5 < seconds < 10
    assert "voice" in synthesis.probe("네", 150).detail


def test_synthesis_without_the_voice_says_which() -> None:
    speaker = Speaker("xx-carebot")
    with pytest.raises(SpeechError, match="xx-carebot"):
        speaker.probe("hello")
