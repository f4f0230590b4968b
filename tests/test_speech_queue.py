"""Speech out as a queue, with the real parts: the speech-out worker (pyttsx3 with espeak-ng), the
speech-in worker (Vosk with the Korean model), the real supervisor, and the speech-out jobs' bookkeeping between.

Sentences queued faster than they can be spoken, a sentence that fails, a worker killed in the
middle of a sentence: afterwards every sentence has exactly one outcome, and speech in hears a
spoken call for help (it is unmuted for real, not only in the books). A greeting cut off by a
pause goes through the whole robot (a greeting spoken in full, then a spoken call for help:
tests/test_bargein.py, half duplex).
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot import sim_speech
from robot.config import Config, WorkersSection
from robot.core.speech_jobs import SpeechJobs
from robot.messages import Message
from robot.supervisor import Supervisor, WorkerSpec

from .conftest import alive, running, wait_for, wav
from .test_korean_speech import speak
from .test_speech import GRAMMAR, MODEL
from .voice import korean_voice

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SHORT = ["안녕하세요.", "만나서 반가워요.", "오늘 날씨가 좋네요.", "물 드셨어요?", "산책 가요.", "고마워요."]
LONG = "오늘은 날씨가 아주 좋아서 정원에 나가서 함께 산책을 하면 좋겠어요."
#: one "word" that espeak reads digit by digit: minutes of audio for a sentence expected to take 0.4 s
RUNAWAY = "7" * 20000


class Harness:
    """The supervisor and the jobs, pumped as the control tick pumps them, with every message kept."""

    def __init__(self, tmp_path: Path) -> None:
        self.out = tmp_path / "said"
        self.sup = Supervisor([
            WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                       {"voice": "ko", "out_dir": str(self.out)}),
            WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker",
                       {"model": MODEL, "source": "sim", "endpoint_s": 0.8}),
        ], WorkersSection(hang_timeout_s=5.0, backoff_initial_s=0.1, backoff_max_s=0.5))
        self.jobs = SpeechJobs(self.sup)
        self.messages: list[Message] = []
        self.outcomes: dict[int, list[str]] = collections.defaultdict(list)
        self.tmp = tmp_path

    def pump(self) -> None:
        for msg in self.sup.drain():
            self.messages.append(msg)
            update = self.jobs.on_message(msg)
            for e in update.ended if update else ():
                self.outcomes[e.job].append(e.outcome)

    def until(self, predicate: object, timeout: float) -> bool:
        def check() -> bool:
            self.pump()
            return bool(predicate())  # type: ignore[operator]
        return wait_for(check, timeout, interval=0.01)

    def say(self, text: str, rate: float = 150) -> int:
        update = self.jobs.say(text, rate, 1.0)
        return update.job

    def of(self, kind: str) -> list[Message]:
        return [m for m in self.messages if m.kind == kind]

    def hears_a_call_for_help(self) -> bool:
        """Play "간호사 불러 주세요" to the real speech-in worker and wait for what it recognises."""
        before = len(self.of("utterance"))
        pcm = b"\0" * 8000 + speak("간호사 불러 주세요") + b"\0" * 32000
        self.sup.send("speech_in", "play", path=str(wav(self.tmp / f"help-{before}.wav", pcm)))
        assert self.until(lambda: len(self.of("utterance")) > before, 15), [m.kind for m in self.messages[-20:]]
        return "간호사" in self.of("utterance")[-1].data["text"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    h.sup.start()
    assert h.until(lambda: h.jobs.worker_up and len(h.of("ready")) == 2, 60), h.sup.health()
    h.sup.send("speech_in", "grammar", phrases=GRAMMAR)
    yield h
    h.sup.stop()


def job_events(h: Harness) -> list[tuple[str, int]]:
    """The worker's own replies in the order they came: (kind, job)."""
    return [(m.kind, int(m.data["job"])) for m in h.messages if m.kind.startswith("speaking_")]


def test_sentences_queued_at_once_are_spoken_one_at_a_time_in_order(harness: Harness) -> None:
    h = harness
    jobs = [h.say(text) for text in SHORT]  # far faster than they can be spoken
    assert h.jobs.muted  # half duplex from the first sentence on
    assert h.until(lambda: not h.jobs.outstanding, 60), (job_events(h), h.jobs.outstanding)
    # One at a time: each sentence starts only after the one before it has finished.
    assert job_events(h) == [(kind, j) for j in jobs for kind in ("speaking_started", "speaking_finished")]
    assert {j: h.outcomes[j] for j in jobs} == {j: ["finished"] for j in jobs}
    assert sorted(p.name for p in h.out.glob("*.wav")) == [f"say-{j:05d}.wav" for j in jobs]
    for m in h.of("speaking_finished"):
        assert m.data["audio_s"] > 0.5  # real audio, each sentence its own
    assert not h.jobs.muted and h.of("speech_fault") == []
    assert h.hears_a_call_for_help()  # speech in is listening, for real


def test_a_failed_sentence_ends_its_job_once_and_the_next_one_still_plays(harness: Harness) -> None:
    h = harness
    pid = h.sup.health()["speech_out"].pid
    first, runaway, *rest = [h.say(t) for t in (SHORT[0], RUNAWAY, SHORT[1], SHORT[2])]
    assert h.until(lambda: not h.jobs.outstanding, 60), (job_events(h), h.jobs.outstanding)
    failed = [m for m in h.of("speaking_failed") if m.data["job"] == runaway]
    assert len(failed) == 1 and failed[0].data["reason"] == "timeout", failed
    assert h.outcomes == {first: ["finished"], runaway: ["failed"], rest[0]: ["finished"], rest[1]: ["finished"]}
    # espeak was still busy with the runaway sentence, so a fresh process spoke the rest.
    assert h.sup.health()["speech_out"].pid != pid and not alive(pid)  # type: ignore[arg-type]
    assert [j for kind, j in job_events(h) if kind == "speaking_started"] == [first, runaway, *rest]
    assert not h.jobs.muted
    assert h.hears_a_call_for_help()


def test_a_worker_killed_mid_sentence_fails_that_sentence_and_speaks_the_rest(harness: Harness) -> None:
    h = harness
    jobs = [h.say(text) for text in (SHORT[0], LONG, SHORT[1], SHORT[2])]  # the long one is killed
    assert h.until(lambda: ("speaking_started", jobs[1]) in job_events(h), 30), job_events(h)
    pid = h.sup.health()["speech_out"].pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert h.until(lambda: not h.jobs.outstanding, 60), (job_events(h), h.jobs.outstanding)
    assert h.outcomes == {jobs[0]: ["finished"], jobs[1]: ["failed"], jobs[2]: ["finished"], jobs[3]: ["finished"]}
    assert [m.data["reason"] for m in h.of("worker_fault")] == [f"exited with code {-signal.SIGKILL}"]
    assert not h.jobs.muted
    assert h.hears_a_call_for_help()


def test_a_stop_cancels_the_queue_and_speech_in_listens_at_once(harness: Harness) -> None:
    h = harness
    jobs = [h.say(LONG) for _ in range(3)]
    assert h.until(lambda: ("speaking_started", jobs[0]) in job_events(h), 30)
    update = h.jobs.stop()
    assert [(e.job, e.outcome) for e in update.ended] == [(j, "cancelled") for j in jobs]
    assert not h.jobs.muted
    assert h.hears_a_call_for_help()
    assert h.until(lambda: h.jobs.worker_up, 30)
    assert [j for kind, j in job_events(h) if kind == "speaking_finished"] == []  # nothing said after the stop
    after = h.say(SHORT[-1])
    assert h.until(lambda: h.outcomes.get(after) == ["finished"], 30)


def test_the_multi_sentence_bench_runs_the_real_worker_against_its_floor(tmp_path: Path) -> None:
    # Machinery only (figures come from `carebot bench speech` on a quiet machine): every sentence of
    # the reply spoken in order, and the figures set against the same run's floor. One reply: the bench's
    # second is the same four sentences again on the same worker (10 s more of real-time playback).
    from hardware.tts import Speaker
    from robot.bench.speech import REPLY, _multi_sentence

    result = _multi_sentence(Speaker("ko"), tmp_path, replies=1)
    assert result["in_order"] and result["faults"] == 0 and result["sentences"] == len(REPLY)
    assert result["floor_s"] > 0 and abs(result["ratio"] - result["queue_to_last_end_s"] / result["floor_s"]) < 0.01
    assert 0 < result["gap_ms"]["p50"] <= result["gap_ms"]["p90"] <= result["gap_ms"]["max"]



@pytest.mark.parametrize("device", ["null", "default"])
def test_on_the_sound_card_each_sentence_is_played_by_speech_out_and_a_failing_card_fails_it(tmp_path: Path,
                                                                                      device: str) -> None:
    # ALSA's null device takes the audio; this machine has no sound card, so "default" fails as a
    # broken card would (pyttsx3's own playback ignored that and reported the sentence as spoken).
    sup = Supervisor([WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                                 {"voice": "ko", "playback_device": device})], WorkersSection())
    jobs = SpeechJobs(sup, speech_in=False)
    messages: list[Message] = []
    outcomes: dict[int, list[str]] = collections.defaultdict(list)

    def settled() -> bool:
        for msg in sup.drain():
            messages.append(msg)
            update = jobs.on_message(msg)
            for e in update.ended if update else ():
                outcomes[e.job].append(e.outcome)
        return jobs.worker_up and not jobs.outstanding

    sup.start()
    try:
        assert wait_for(settled, 30)
        said = [jobs.say(text, 150, 1.0).job for text in SHORT[:3]]
        assert wait_for(settled, 30), (messages, jobs.outstanding)
        pid = sup.health()["speech_out"].pid
        [spool] = Path("/dev/shm").glob(f"carebot-say-{pid}-*")
        assert list(spool.iterdir()) == []  # each sentence's audio was deleted as soon as it was read
    finally:
        sup.stop()
    if device == "null":
        assert dict(outcomes) == {j: ["finished"] for j in said}
        assert all(m.data["audio_s"] > 0.5 for m in messages if m.kind == "speaking_finished")
    else:
        assert dict(outcomes) == {j: ["failed"] for j in said}  # each reported, and the next one still tried
        failed = [m.data for m in messages if m.kind == "speaking_failed"]
        assert all(d["reason"] == "playback" and "ALSA: cannot open default" in d["detail"] for d in failed)
        assert sup.health()["speech_out"].restarts == 0  # a broken card does not need a fresh engine
    assert pid is not None and not alive(pid) and not spool.exists()  # a clean stop removes the spool


def test_a_pause_in_the_middle_of_the_greeting_cuts_it_off_and_the_robot_listens_again(config: Config,
                                                                                        tmp_path: Path) -> None:
    # StopSpeech through the whole robot: the sentence being spoken and the queue are cancelled, speech
    # out cuts its sentence itself (the simulator's playback; on the sound card it is restarted), speech
    # in is unmuted, and a call for help is heard.
    cfg = korean_voice(config, tmp_path)
    with running(cfg, idle_s=60) as rt:
        jobs = rt.speech.jobs
        rt.inject("engage")  # a resident faces the robot: greeting and disclosure, queued at once
        assert wait_for(lambda: len(jobs.outstanding) == 2 or len(jobs.history) == 1, 10)
        disclosure = max(jobs.outstanding)
        assert wait_for(lambda: jobs.outstanding == [disclosure], 30), list(jobs.history)  # greeting spoken
        pid = rt.supervisor.health()["speech_out"].pid
        rt.inject("pause")  # staff pause the robot in the middle of the disclosure
        assert wait_for(lambda: not jobs.speaking, 5)
        assert [(e.outcome, e.reason) for e in jobs.history] == [("finished", ""), ("cancelled", "stop")]
        assert not jobs.muted and rt.behaviour.state == "paused"
        time.sleep(0.5)  # a restart would have begun by now
        assert pid is not None and alive(pid) and rt.supervisor.health()["speech_out"].pid == pid  # no restart
        rt.inject("resume")
        assert wait_for(lambda: rt.behaviour.state in ("idle", "engaged") and jobs.worker_up, 30)
        rt.supervisor.send("speech_in", "play", path=str(sim_speech.phrase("help", "ko", tmp_path)))
        assert wait_for(lambda: [u["type"] for u in rt.alert_updates] == ["help_request"], 5), (
            rt.behaviour.state, list(rt.alert_updates))
