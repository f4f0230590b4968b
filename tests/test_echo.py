"""The echo canceller (libspeexdsp) against the simulated room, with real espeak-ng speech."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hardware.audio import espeak_pcm
from hardware.echo import EchoCanceller
from hardware.room import RATE, Room, microphone, rms, samples

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

ROBOT = "오늘은 날씨가 맑고 따뜻합니다. 점심 식사는 열두 시에 식당에서 있습니다. 오후에는 노래 교실이 있어요."


@pytest.fixture(scope="module")
def far() -> bytes:
    pcm = espeak_pcm(ROBOT, "ko", 150)
    return pcm[:len(pcm) // 320 * 320]


def test_the_room_delays_and_attenuates_the_robots_voice() -> None:
    room = Room(delay_ms=50, attenuation_db=6, reflections=(), noise_db=-120)
    click = np.zeros(RATE // 10)
    click[0] = 10000
    heard = room.echo(click)
    assert int(np.argmax(np.abs(heard))) == 800  # 50 ms at 16 kHz
    assert heard.max() == pytest.approx(10000 * 10 ** (-6 / 20))
    with pytest.raises(ValueError, match="delay_ms"):
        Room(delay_ms=-1)


def test_a_resident_is_mixed_in_at_the_chosen_moment_and_speech_to_echo_ratio(far: bytes) -> None:
    room = Room(delay_ms=20, noise_db=-120)
    near = espeak_pcm("살려 주세요", "ko", 120)
    echo = samples(microphone(room, far))
    mixed = samples(microphone(room, far, near, near_at_s=1.0, ser_db=0.0))
    voice = mixed - echo
    assert np.all(np.abs(voice[:RATE - 1]) <= 1)  # nothing of the resident before 1 s
    active = voice[np.abs(voice) > 0.05 * np.abs(voice).max()]
    assert 20 * np.log10(rms(active) / rms(echo)) == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("delay_ms", [10, 80])
def test_the_canceller_removes_most_of_the_echo_once_it_has_learnt_the_room(far: bytes, delay_ms: int) -> None:
    room = Room(delay_ms=delay_ms)
    mic = microphone(room, far)[:len(far)]
    ec = EchoCanceller()
    ec.process(mic, far)  # the first sentence teaches it the room
    out = samples(ec.process(mic, far))
    erle_db = 20 * np.log10(rms(samples(mic)) / rms(out))
    assert erle_db > 15, erle_db
    ec.close()


def test_the_residents_voice_survives_cancellation(far: bytes) -> None:
    room = Room(delay_ms=40)
    near = espeak_pcm("간호사 불러 주세요", "ko", 120)
    ec = EchoCanceller()
    ec.process(microphone(room, far)[:len(far)], far)
    mic = microphone(room, far, near, near_at_s=2.0, ser_db=0.0)[:len(far)]
    out = samples(ec.process(mic, far))
    during = out[2 * RATE:2 * RATE + len(near) // 2]
    after = out[2 * RATE + len(near) // 2 + RATE // 2:]
    assert rms(during) > 4 * rms(after)  # the voice stands well above what is left of the echo


def test_the_canceller_refuses_mismatched_blocks() -> None:
    with pytest.raises(ValueError, match="10 ms"):
        EchoCanceller().process(b"\0" * 320, b"\0" * 318)
