"""The microphone device's contract, passed alike by ALSA (arecord) and its simulated twin (WAV files).

The twin hears a resident's sentence made by espeak-ng. ALSA runs where arecord finds a
sound card and is skipped elsewhere, saying so; its failure path runs everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hardware.audio import espeak_pcm
from hardware.errors import DeviceUnavailable, HardwareError
from hardware.microphone import FRAME_BYTES, FRAME_S, RATE, AlsaMicrophone, Microphone, WavMicrophone


def _sound_card() -> bool:
    if shutil.which("arecord") is None:
        return False
    return "card " in subprocess.run(["arecord", "-l"], capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resident's sentence as a 16 kHz WAV (the test writes its own input; the microphone only reads)."""
    path = tmp_path_factory.mktemp("voice") / "help.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(espeak_pcm("도와주세요", "ko"))
    return path


@pytest.fixture(params=["alsa", "wav"])
def rig(request: pytest.FixtureRequest, sentence: Path) -> Iterator[tuple[Microphone, Callable[[], None]]]:
    """A microphone and a way to make it hear something."""
    mic: Microphone
    if request.param == "alsa":
        if not _sound_card():
            pytest.skip("arecord finds no sound card here: the ALSA microphone needs one (its failure path runs)")
        mic = AlsaMicrophone("default")

        def sound() -> None:
            """The room is always there."""
    else:
        wav = mic = WavMicrophone()

        def sound() -> None:
            wav.play(sentence)
    yield mic, sound
    mic.close()


def collect(mic: Microphone, seconds: float) -> list[bytes]:
    frames: list[bytes] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frames += mic.frames()
        time.sleep(0.005)
    return frames


def test_an_open_microphone_gives_30_ms_frames_in_real_time(rig: tuple[Microphone, Callable[[], None]]) -> None:
    mic, sound = rig
    opened = time.monotonic()
    mic.open()
    sound()
    frames = collect(mic, 0.6)
    took = time.monotonic() - opened  # (the last frames were taken before this: a late thread takes more)
    assert frames and all(len(f) == FRAME_BYTES for f in frames)
    assert 0.6 / FRAME_S * 0.5 <= len(frames) <= took / FRAME_S + 3  # about one per 30 ms, never ahead of time
    assert any(any(f) for f in frames)  # sound, not only zeros


def test_a_closed_microphone_captures_nothing(rig: tuple[Microphone, Callable[[], None]]) -> None:
    mic, sound = rig
    mic.open()
    sound()
    mic.close()
    mic.close()  # twice is safe
    sound()  # heard by no one
    assert collect(mic, 0.2) == []


def test_probe_reports_and_leaves_it_closed(rig: tuple[Microphone, Callable[[], None]]) -> None:
    mic, _ = rig
    assert mic.probe().detail
    assert mic.frames() == []


def test_an_alsa_device_that_is_not_there_says_which() -> None:
    if shutil.which("arecord") is None:
        pytest.skip("arecord is not installed")
    with pytest.raises(DeviceUnavailable, match="carebot-no-such-device"):
        AlsaMicrophone("carebot-no-such-device").probe()


def test_the_twin_refuses_a_wav_it_cannot_hear_by_name(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(4 * RATE))
    mic = WavMicrophone()
    mic.open()
    with pytest.raises(HardwareError, match="stereo.wav: need 16 kHz mono"):
        mic.play(path)
    with pytest.raises(HardwareError, match="missing.wav"):
        mic.play(tmp_path / "missing.wav")


def test_the_twin_plays_at_once_for_benchmarks(sentence: Path) -> None:
    mic = WavMicrophone()
    mic.open()
    seconds = mic.play(sentence, realtime=False)
    frames = mic.frames()
    assert len(frames) == int(seconds / FRAME_S) and mic.frames() == []
