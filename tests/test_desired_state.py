"""Desired state, re-applied (issue 11, defect 6): a worker that restarts gets the camera,
microphone, mute and grammar state the robot wants, and no restart reopens what privacy closed.

Real worker processes throughout: the vision worker with its simulated camera, and the
diagnostic worker standing in for speech in (it answers every command it is sent with a
`got` message, so the test sees exactly what the control process asked of it).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from robot.config import Config, WorkersSection
from robot.messages import Message
from robot.runtime import Runtime
from robot.supervisor import WorkerSpec

from .conftest import running, wait_for

DIAG = "robot.workers.diagnostic:DiagnosticWorker"


def restart(rt: Runtime, name: str) -> int:
    """Kill a worker with SIGKILL and wait until its successor is running; the new pid."""
    pid = rt.supervisor.health()[name].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: rt.supervisor.health()[name].state == "running"
                    and rt.supervisor.health()[name].pid not in (None, pid), 15)
    new = rt.supervisor.health()[name].pid
    assert new is not None
    return new


def tap(rt: Runtime, kind: str) -> list[tuple[float, Message]]:
    """Every message of `kind` the tick handles from now on, with when it was handled."""
    seen: list[tuple[float, Message]] = []
    rt.workers.also_on(kind, lambda msg, now: seen.append((time.monotonic(), msg)))
    return seen


def test_a_restarted_vision_worker_never_reopens_the_camera_in_privacy_mode(config: Config,
                                                                           fast_workers: WorkersSection) -> None:
    cfg = config.model_copy(update={"vision": config.vision.model_copy(update={"enabled": True}),
                                    "workers": fast_workers})
    with running(cfg, idle_s=15) as rt:
        frames = tap(rt, "vision")
        assert wait_for(lambda: frames, 5)  # the camera runs
        rt.press_button()
        assert wait_for(lambda: rt.behaviour.state == "privacy", 2)
        time.sleep(0.5)
        restart(rt, "vision")
        restarted = time.monotonic()
        time.sleep(2.5)  # a camera that opened would have sent frames at 2 fps by now
        assert not [t for t, _ in frames if t >= restarted], "the restarted worker reopened the camera"
        rt.press_button()  # privacy ends: the camera comes back
        assert wait_for(lambda: rt.behaviour.state != "privacy", 2)
        back = time.monotonic()
        assert wait_for(lambda: [t for t, _ in frames if t >= back], 5)


def test_speech_in_gets_its_grammar_and_mute_again_after_every_restart(config: Config,
                                                                       fast_workers: WorkersSection) -> None:
    cfg = config.model_copy(update={"workers": fast_workers})
    with running(cfg, idle_s=15, workers=[WorkerSpec("speech_in", DIAG)]) as rt:
        got = tap(rt, "got")
        rt.press_button()
        assert wait_for(lambda: rt.behaviour.state == "privacy", 2)
        wake_and_help = rt.engine.grammar("privacy")
        assert wait_for(lambda: [s.key for s in rt.said][-2:] == ["privacy_on", "privacy_listening"], 2)

        def commands(since: float) -> dict[str, dict[str, Any]]:
            return {m.data["command"]: m.data for t, m in got if t >= since}

        assert wait_for(lambda: commands(0).get("grammar", {}).get("phrases") == wake_and_help, 3)
        restart(rt, "speech_in")
        restarted = time.monotonic()
        # the new process hears again what the robot wants: the privacy grammar, microphone on
        assert wait_for(lambda: commands(restarted).get("grammar", {}).get("phrases") == wake_and_help, 3)
        assert commands(restarted)["microphone"]["on"] is True
        assert "mute" in commands(restarted)


def test_with_the_microphone_set_off_privacy_closes_it_and_a_restart_keeps_it_closed(
        config: Config, fast_workers: WorkersSection) -> None:
    cfg = config.model_copy(update={"workers": fast_workers,
                                    "privacy": config.privacy.model_copy(update={"microphone": "off"})})
    with running(cfg, idle_s=15, workers=[WorkerSpec("speech_in", DIAG)]) as rt:
        got = tap(rt, "got")
        rt.press_button()
        assert wait_for(lambda: rt.behaviour.state == "privacy", 2)

        def mic(since: float) -> list[bool]:
            return [m.data["on"] for t, m in got if t >= since and m.data["command"] == "microphone"]

        assert wait_for(lambda: mic(0)[-1:] == [False], 3)
        assert [s.key for s in rt.said][-2:] == ["privacy_on", "privacy_mic_off"]  # it says what it did
        restart(rt, "speech_in")
        restarted = time.monotonic()
        assert wait_for(lambda: mic(restarted) == [False], 3)
        assert rt.supervisor.options("speech_in")["microphone"] is False  # and it starts with it closed
        rt.press_button()  # the button (or staff) ends privacy; no words can
        assert wait_for(lambda: mic(restarted)[-1:] == [True], 3)


def test_speech_in_with_its_microphone_closed_hears_nothing_until_it_is_opened(tmp_path: Any) -> None:
    """The real speech-in worker and the Korean model: closed, a call is not even captured."""
    import shutil

    import pytest

    from .voice import speech_in_alone, spoken_wav

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = spoken_wav(tmp_path / "call.wav", "간호사 불러 주세요")
    # started closed, as after a restart in privacy with the microphone off
    with speech_in_alone(microphone=False) as (sup, kinds):
        sup.send("speech_in", "play", path=str(path), realtime=False)
        time.sleep(2.0)
        assert not {"playing", "speech_started", "utterance"} & set(kinds())
        sup.send("speech_in", "microphone", on=True)
        sup.send("speech_in", "play", path=str(path), realtime=False)
        assert wait_for(lambda: "utterance" in kinds(), 30)  # 10 s was once too short beside another worker


def test_a_speech_in_fault_clears_once_speech_in_hears_again(config: Config, tmp_path: Any) -> None:
    """The real speech-in worker: a file it cannot play is a speech fault for staff; the next
    utterance it recognises shows it works again, and the fault clears."""
    import shutil
    import wave

    import pytest

    from .voice import MODEL, spoken_wav

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    bad = tmp_path / "8k.wav"
    with wave.open(str(bad), "wb") as w:  # the wrong rate for the model
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0" * 16000)
    good = spoken_wav(tmp_path / "call.wav", "네")
    options = {"model": MODEL, "source": "sim"}
    korean = config.model_copy(update={"robot": config.robot.model_copy(update={"language": "ko"})})
    with running(korean, idle_s=30,
                 workers=[WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker", options)]) as rt:

        def states() -> list[str]:
            return [u["state"] for u in rt.alert_updates
                    if u["type"] == "robot_fault" and u.get("fault") == "speech_in"]

        rt.supervisor.send("speech_in", "play", path=str(bad))
        assert wait_for(lambda: states() == ["raised"], 5)
        rt.supervisor.send("speech_in", "play", path=str(good), realtime=False)
        assert wait_for(lambda: states() == ["raised", "cancelled"], 10)


def test_a_grammar_the_model_cannot_spell_never_crashes_speech_in(tmp_path: Any) -> None:
    """An English grammar for the Korean model: every phrase is missing. Vosk crashed (SIGSEGV)
    on the empty grammar this left, at the next voice; now the worker keeps its grammar."""
    import shutil

    import pytest

    from .voice import speech_in_alone, spoken_wav

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = spoken_wav(tmp_path / "call.wav", "간호사 불러 주세요")
    with speech_in_alone() as (sup, kinds):
        sup.send("speech_in", "grammar", phrases=["hello robin", "i need a nurse"])
        assert wait_for(lambda: "grammar_missing" in kinds(), 5)
        sup.send("speech_in", "play", path=str(path), realtime=False)
        assert wait_for(lambda: "utterance" in kinds() or "worker_fault" in kinds(), 60)  # (10 s failed when loaded)
        assert "worker_fault" not in kinds()
