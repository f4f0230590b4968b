"""The loudspeaker's contract (hardware/sound_out.py), passed alike by the sound card through libasound
and by the simulated card. The card runs where ALSA has one and is skipped elsewhere, saying so; its
failure path runs everywhere. The audio is a real sentence made by espeak-ng."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from hardware.audio import espeak_pcm
from hardware.sound_out import RATE, SoundError, SoundOut, open_sound_out, probe

BLOCK = RATE * 2 // 100  # 10 ms, as speech out writes


def _sound_card() -> bool:
    try:
        return "card " in subprocess.run(["aplay", "-l"], capture_output=True, text=True).stdout
    except OSError:
        return False


@pytest.fixture(params=["default", "sim"])
def card(request: pytest.FixtureRequest) -> Iterator[SoundOut]:
    if request.param != "sim" and not _sound_card():
        pytest.skip("ALSA finds no sound card here: the card backend needs one (its failure path runs)")
    out = open_sound_out(request.param)
    yield out
    out.close()


@pytest.fixture(scope="module")
def sentence() -> bytes:
    return espeak_pcm("네", "ko")[: RATE * 2 // 2]  # half a second


def play(card: SoundOut, pcm: bytes) -> list[float]:
    return [card.write(pcm[i:i + BLOCK]) for i in range(0, len(pcm) - BLOCK + 1, BLOCK)]


def test_blocks_are_heard_in_order_at_the_pace_of_the_audio(card: SoundOut, sentence: bytes) -> None:
    t0 = time.monotonic()
    heard = play(card, sentence)
    assert heard == sorted(heard) and heard[0] >= t0 - 0.01
    assert heard[-1] - heard[0] == pytest.approx(len(heard[:-1]) * 0.01, abs=0.05)  # one block per 10 ms
    card.drain()
    assert time.monotonic() >= heard[-1]  # drained: the last block has been heard


def test_drop_silences_at_once_and_the_next_sentence_starts_now(card: SoundOut, sentence: bytes) -> None:
    play(card, sentence)
    asked = time.monotonic()
    silent = card.drop()
    assert asked <= silent <= time.monotonic()  # at once, while drop() ran (not 'within 50 ms of a later read')
    again = card.write(sentence[:BLOCK])
    assert again - time.monotonic() < 0.2  # not behind what was dropped


@pytest.mark.parametrize("device", ["default", "sim"])
def test_probe_plays_silence_to_the_end(device: str) -> None:
    if device != "sim" and not _sound_card():
        pytest.skip("ALSA finds no sound card here")
    assert "plays" in probe(device).detail


def test_a_card_that_is_not_there_says_which() -> None:
    with pytest.raises(SoundError, match="carebot-no-such-card"):
        probe("carebot-no-such-card")
