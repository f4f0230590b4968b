"""Speech in the simulator out of the box: the README's command, run as a new user runs it, on a terminal.

`carebot sim --speech ko` starts with the Korean recogniser, the console's `play help` plays a
phrase made with espeak-ng, real Vosk hears it, the help alert is raised, and the robot's answer
is written as a WAV in the state directory.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from robot import sim_speech
from robot.cli import build_parser
from robot.config import Config
from robot.errors import CareBotError
from robot.messages import Message

from .conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def speech_on(config: Config) -> Config:
    return config.model_copy(update={"speech": config.speech.model_copy(
        update={"enabled": True, "model": sim_speech.packaged_model("ko")})})


def test_the_simulator_writes_speech_to_wavs_in_its_state_directory_unless_told_otherwise(config: Config) -> None:
    state = Path(config.robot.state_dir)
    assert sim_speech.prepare(speech_on(config)).speech.out_dir == state / "speech"
    assert sim_speech.prepare(speech_on(config), aloud=True).speech.out_dir is None  # the sound card
    told = speech_on(config).model_copy(update={"speech": speech_on(config).speech.model_copy(
        update={"out_dir": state / "mine"})})
    assert sim_speech.prepare(told).speech.out_dir == state / "mine"  # the config's own choice stands
    assert sim_speech.prepare(config).speech.enabled is False  # speech stays as configured without --speech


def test_speech_ko_turns_on_korean_recognition_with_the_packaged_model(config: Config) -> None:
    args = build_parser().parse_args(["sim", "--speech", "ko"])
    cfg = sim_speech.prepare(config, speech=args.speech, aloud=args.speak_aloud)
    assert cfg.robot.language == "ko" and cfg.speech.enabled and cfg.speech.source == "sim"
    assert cfg.speech.barge_in  # it listens while it speaks (issue 12); a config with speech on keeps its own
    assert cfg.speech.model is not None and (cfg.speech.model / "am" / "final.mdl").is_file()
    assert cfg.speech.out_dir == Path(config.robot.state_dir) / "speech"
    with pytest.raises(CareBotError, match="carebot model install"):  # no English model can be had here
        sim_speech.prepare(config, speech="en")


def test_phrases_are_made_once_at_the_microphone_format(tmp_path: Path) -> None:
    path = sim_speech.phrase("help", "ko", tmp_path)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() / 16000 > sim_speech.LEAD_S + sim_speech.TAIL_S + 0.5  # silence, voice, silence
    made = path.stat().st_mtime_ns
    assert sim_speech.phrase("help", "ko", tmp_path) == path and path.stat().st_mtime_ns == made
    with pytest.raises(CareBotError, match="there are: help, yes, no"):
        sim_speech.phrase("sing", "ko", tmp_path)


def test_the_korean_phrases_are_heard_as_meant_through_the_open_dialog(tmp_path: Path) -> None:
    # The real speech-in pipeline (VAD, pre-roll, chunks, the pack's open grammar, endpointing) and real
    # Vosk, fed frame by frame in this process; the words go through the real dialog engine.
    import datetime as dt

    from robot.dialog_engine import Conversation, DialogEngine
    from robot.dialogs import load_pack
    from robot.messages import Outgoing
    from robot.workers.speech_in import FRAME_BYTES, SpeechInWorker

    class Pipe:
        def __init__(self) -> None:
            self.sent: list[Message] = []

        def send(self, msg: Message) -> None:
            self.sent.append(msg)

    engine = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))
    pipe = Pipe()
    worker = SpeechInWorker("speech_in", {"model": str(sim_speech.packaged_model("ko"))}, Outgoing("speech_in"),
                            pipe)  # type: ignore[arg-type]
    worker.setup()
    worker._set_grammar(engine.grammar("open"))
    heard = []
    for name in ["help", "yes", "no", "help"]:  # the second help comes after other audio, as in a session
        with wave.open(str(sim_speech.phrase(name, "ko", tmp_path))) as w:
            pcm = w.readframes(w.getnframes())
        pipe.sent.clear()
        for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            worker.audio_t += 0.03
            worker._frame(pcm[i:i + FRAME_BYTES])
        [utterance] = [m for m in pipe.sent if m.kind == "utterance"]
        heard.append((utterance.data["text"], Conversation(engine).hear(utterance.data["text"],
                                                                        utterance.data["confidence"],
                                                                        dt.datetime.now())))
    assert [actions[0][0] for _, actions in heard] == ["help", "heard", "heard", "help"], heard
    assert [text for text, _ in heard[1:3]] == ["네", "아니요"]


class Terminal:
    """A process on a pseudo-terminal, as a person at a terminal runs it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.fd, child = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env, cwd=ROOT,
                                     close_fds=True)
        os.close(child)
        self.text = ""

    def read_until(self, needle: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while needle not in self.text and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.text += os.read(self.fd, 4096).decode("utf-8", "replace")
                except OSError:  # the process closed the terminal
                    break
        return needle in self.text

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


def test_the_readme_command_hears_a_spoken_call_for_help(tmp_path: Path) -> None:
    # The shipped config with the demo scene off: this test is about the speech path, not timing a
    # greeting (a phrase played over the greeting is heard too, with barge-in: tests/test_bargein.py).
    text = (ROOT / "config" / "carebot.toml").read_text()
    text = text.replace('[vision]\nenabled = true', '[vision]\nenabled = false')
    text = text.replace('path = "../dialogs"', f'path = "{ROOT / "dialogs"}"')
    assert "enabled = false" in text
    (tmp_path / "carebot.toml").write_text(text)
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    term = Terminal([sys.executable, "-m", "robot.cli", "sim", "--speech", "ko", "--config",
                     str(tmp_path / "carebot.toml"), "--state-dir", str(state), "--console", "line"], env)
    try:
        assert term.read_until("(booted)", 90), term.text
        assert f"the robot's voice goes to {state / 'speech'}" in term.text
        assert "nothing handles" not in term.text  # the recogniser's missing words are the selftest's to name
        term.type("status")
        assert term.read_until("speech listening, 0 to say", 10), term.text
        term.type("play help")
        assert term.read_until("type=help_request", 15), term.text
        assert term.read_until('says   "', 10), term.text  # the answer: it has called the staff
        assert (state / "phrases" / "ko" / "help.wav").is_file()
        deadline = time.monotonic() + 20
        while not list((state / "speech").glob("say-*.wav")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((state / "speech").glob("say-*.wav")), term.text
        term.type("quit")
        assert term.proc.wait(30) == 0
        assert term.read_until("stopped cleanly.", 5), term.text
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(5)
        os.close(term.fd)
