"""The speech-out jobs' bookkeeping against any order of events: each sentence has exactly one outcome,
and speech in is never left muted with nothing to say.

The jobs are driven by a model of the speech-out worker and the supervisor that behaves as the
real ones do (one sentence at a time in job order, a repeated job id ignored, commands to a dead
worker kept for the next process, a planned restart for a stop), plus junk messages. The real
worker and supervisor are in tests/test_speech_queue.py; this is the one place a stand-in is used,
because hypothesis needs thousands of event orders that real processes cannot give in a test run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from robot.config import Config
from robot.core.speech_jobs import MAX_OUTSTANDING, SPEECH_IN, SPEECH_OUT, SpeechJobs
from robot.messages import Message

from .conftest import ROOT


class ModelWorkers:
    """The supervisor and a speech-out worker, as the jobs see them, with messages in flight."""

    def __init__(self) -> None:
        self.inflight: list[Message] = []
        self.alive = False
        self.queue: list[int] = []
        self.seen: set[int] = set()
        self.current: int | None = None
        self.buffer: list[int] = []  # commands for a worker that is down: the next process gets them
        self.mutes: list[bool] = []
        self.says: list[int] = []
        self.silences = 0

    def send(self, name: str, kind: str, **data: Any) -> None:
        if name == SPEECH_IN:
            assert kind == "mute"
            self.mutes.append(bool(data["on"]))
            return
        if (name, kind) == (SPEECH_OUT, "silence"):  # the queue and the sentence playing end, unreported
            self.silences += 1
            if self.alive:
                self.queue, self.current = [], None
            return
        assert (name, kind) == (SPEECH_OUT, "say")
        self.says.append(int(data["job"]))
        if self.alive:
            self._take(int(data["job"]))
        else:
            self.buffer.append(int(data["job"]))

    def restart(self, name: str, reason: str) -> None:
        assert name == SPEECH_OUT
        self.die(planned=True)
        self.revive()

    def _take(self, job: int) -> None:
        if job not in self.seen:
            self.seen.add(job)
            self.queue = sorted([*self.queue, job])

    def emit(self, kind: str, **data: Any) -> None:
        self.inflight.append(Message(kind, SPEECH_OUT, data=data))

    def die(self, planned: bool = False) -> None:
        self.alive, self.queue, self.seen, self.current, self.buffer = False, [], set(), None, []
        self.inflight.append(Message("worker_fault", "control",
                                     data={"worker": SPEECH_OUT, "reason": "test", "planned": planned}))

    def revive(self) -> None:
        self.alive = True
        for job in self.buffer:
            self._take(job)
        self.buffer = []
        self.emit("ready")


class JobsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = ModelWorkers()
        self.jobs = SpeechJobs(self.w)
        self.said: list[int] = []
        self.outcomes: dict[int, list[str]] = {}

    @initialize()
    def boot(self) -> None:
        self.w.revive()

    def _take(self, update: Any) -> None:
        for e in update.ended if update is not None else ():
            self.outcomes.setdefault(e.job, []).append(e.outcome)

    @rule(n=st.integers(1, 4))
    def say(self, n: int) -> None:
        for _ in range(n):
            update = self.jobs.say("a sentence", 150, 1.0)
            self.said.append(update.job)
            self._take(update)

    @rule()
    def stop(self) -> None:
        self._take(self.jobs.stop())

    @precondition(lambda self: self.w.inflight)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        # Messages keep their order (one pipe, one supervisor thread); several may arrive in one tick.
        for _ in range(data.draw(st.integers(1, len(self.w.inflight)))):
            self._take(self.jobs.on_message(self.w.inflight.pop(0)))

    @precondition(lambda self: self.w.alive and self.w.current is None and self.w.queue)
    @rule()
    def worker_starts(self) -> None:
        self.w.current = self.w.queue.pop(0)
        self.w.emit("speaking_started", job=self.w.current, words=2)

    @precondition(lambda self: self.w.alive and self.w.current is not None)
    @rule(ok=st.booleans(), exits=st.booleans())
    def worker_ends(self, ok: bool, exits: bool) -> None:
        job, self.w.current = self.w.current, None
        if ok:
            self.w.emit("speaking_finished", job=job, audio_s=1.0, synth_s=0.1)
        else:
            self.w.emit("speaking_failed", job=job, reason="timeout", detail="test")
            if exits:  # espeak still busy: the worker exits for a fresh engine
                self.w.die()

    @precondition(lambda self: self.w.alive)
    @rule()
    def worker_killed(self) -> None:
        self.w.die()

    @precondition(lambda self: not self.w.alive)
    @rule()
    def worker_back(self) -> None:
        self.w.revive()

    @rule()
    def speech_in_restarts(self) -> None:
        self.jobs.on_message(Message("worker_fault", "control", data={"worker": SPEECH_IN, "planned": False}))
        self.jobs.on_message(Message("ready", SPEECH_IN))
        assert self.w.mutes and self.w.mutes[-1] == self.jobs.muted  # the fresh process gets the state

    @rule(kind=st.sampled_from(["speaking_started", "speaking_finished", "speaking_failed", "speaking_nonsense"]),
          job=st.one_of(st.integers(-2, 40), st.just("x"), st.none()))
    def junk(self, kind: str, job: object) -> None:
        self._take(self.jobs.on_message(Message(kind, SPEECH_OUT, data={} if job is None else {"job": job})))

    @invariant()
    def never_deaf_with_nothing_to_say(self) -> None:
        c = self.jobs
        assert c.muted == (c.worker_up and bool(c.outstanding))
        assert (self.w.mutes[-1] if self.w.mutes else False) == c.muted

    @invariant()
    def each_job_at_most_one_outcome(self) -> None:
        assert all(len(v) == 1 for v in self.outcomes.values()), self.outcomes
        assert not set(self.outcomes) & set(self.jobs.outstanding)
        assert set(self.said) <= set(self.outcomes) | set(self.jobs.outstanding)
        assert len(self.jobs.outstanding) <= MAX_OUTSTANDING
        summary = self.jobs.summary()  # what `carebot status` shows
        assert sum(summary[k] for k in ("finished", "failed", "cancelled")) == len(self.outcomes)
        assert summary["outstanding"] == len(self.jobs.outstanding) and summary["speech_in_muted"] == self.jobs.muted

    def teardown(self) -> None:
        # Let the world settle: messages arrive, the worker comes back and speaks what it has.
        w = self.w
        for _ in range(500):
            while w.inflight:
                self._take(self.jobs.on_message(w.inflight.pop(0)))
            if not self.jobs.outstanding:
                break
            if not w.alive:
                w.revive()
            elif w.current is not None:
                self.worker_ends(ok=True, exits=False)
            elif w.queue:
                self.worker_starts()
        assert not self.jobs.outstanding
        assert not self.jobs.muted and (not w.mutes or w.mutes[-1] is False)
        assert sorted(self.outcomes) == sorted(set(self.said))  # every sentence accounted for, once
        assert all(len(v) == 1 for v in self.outcomes.values())


JobsMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
TestSpeechJobs = JobsMachine.TestCase


def started(job: int) -> Message:
    return Message("speaking_started", SPEECH_OUT, data={"job": job})


def finished(job: int) -> Message:
    return Message("speaking_finished", SPEECH_OUT, data={"job": job})


def test_overlapping_sentences_of_issue_11_item_7_cannot_leave_speech_in_muted() -> None:
    # The old runtime counted two speaking_started and one speaking_finished and stayed muted for good.
    w = ModelWorkers()
    c = SpeechJobs(w)
    c.on_message(Message("ready", SPEECH_OUT))
    c.say("안녕하세요! 만나서 반가워요.", 150, 1.0)
    c.say("저는 로봇 로빈이에요.", 150, 1.0)
    assert c.muted and w.mutes == [True]
    c.on_message(started(1))
    c.on_message(started(2))  # an old worker's overlap; the new one never does this
    update = c.on_message(finished(2))
    assert update is not None and [e.job for e in update.ended] == [2] and not update.idle
    assert c.outstanding == [1] and c.muted  # sentence 1 still owes its outcome...
    crash = c.on_message(Message("worker_fault", "control", data={"worker": SPEECH_OUT, "reason": "exited"}))
    assert crash is not None and [(e.job, e.outcome) for e in crash.ended] == [(1, "failed")] and crash.idle
    assert not c.muted and w.mutes == [True, False]  # ...and a crash of speech out gives listening back


def test_a_stop_cancels_every_sentence_and_silences_the_worker_without_a_restart() -> None:
    w = ModelWorkers()
    c = SpeechJobs(w)
    c.on_message(Message("ready", SPEECH_OUT))
    restarts: list[str] = []
    w.restart = lambda name, reason: restarts.append(reason)  # type: ignore[method-assign]
    for _ in range(3):
        c.say("one", 150, 1.0)
    update = c.stop()
    assert [(e.job, e.outcome) for e in update.ended] == [(1, "cancelled"), (2, "cancelled"), (3, "cancelled")]
    assert update.idle and not c.muted and w.silences == 1
    assert c.stop().ended == () and w.silences == 1  # nothing outstanding: nothing to silence
    c.say("help is coming", 150, 1.0)  # the same worker speaks the next sentence
    assert c.muted and c.outstanding == [4] and w.says == [1, 2, 3, 4] and restarts == []


def test_a_failed_sentence_raises_one_speech_out_fault_and_the_next_one_spoken_clears_it(config: Config) -> None:
    # The runtime's speech channel with the real dialog pack and motion; the worker is the model above.
    import collections

    from robot.core.speech import FAULT, SpeechChannel
    from robot.devices import maestro_channels
    from robot.dialog_engine import Conversation, DialogEngine
    from robot.dialogs import load_pack
    from robot.intents import Say
    from robot.motion import MotionController

    engine = DialogEngine(load_pack(ROOT / "dialogs" / "en"))
    faults: list[tuple[str, bool]] = []
    w = ModelWorkers()
    motion = MotionController([c.joint for c in maestro_channels(config)])
    speech = SpeechChannel(config.speech, engine, Conversation(engine), w, {SPEECH_OUT, SPEECH_IN},
                           motion, lambda kind, data: None, lambda line: None,
                           collections.deque(), lambda reason, raised, now: faults.append((reason, raised)))
    speech.on_message(Message("ready", SPEECH_OUT), 0.0)
    for _ in range(3):
        speech.say(Say("greeting"), 0.0)
    assert speech.busy and speech.motion.speaking and w.mutes == [True]
    speech.on_message(started(1), 0.0)
    speech.on_message(Message("speaking_failed", SPEECH_OUT, data={"job": 1, "reason": "timeout"}), 0.0)
    speech.on_message(started(2), 0.0)
    speech.on_message(Message("speaking_failed", SPEECH_OUT, data={"job": 2, "reason": "synthesis"}), 0.0)
    assert faults == [(FAULT, True)]  # reported once
    speech.on_message(started(3), 0.0)
    assert speech.on_message(finished(3), 0.0) is True  # the reply is over
    assert faults == [(FAULT, True), (FAULT, False)] and not speech.busy and not speech.motion.speaking
    assert w.mutes == [True, False]


def test_a_sentence_the_sound_card_could_not_play_shows_in_status_until_one_plays(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from robot.status_cli import cmd_status

    w = ModelWorkers()
    c = SpeechJobs(w)
    c.on_message(Message("ready", SPEECH_OUT))
    c.say("one", 150, 1.0)
    c.say("two", 150, 1.0)
    c.on_message(Message("speaking_failed", SPEECH_OUT, data={
        "job": 1, "reason": "playback", "detail": "sound card default: ALSA: cannot open default: No such device"}))
    assert c.summary()["loudspeaker_fault"].endswith("No such device")
    toml = tmp_path / "carebot.toml"
    toml.write_text(f'[robot]\nstate_dir = "{tmp_path}"\n')
    status = {"state": "idle", "uptime_s": 5, "boot_id": "b", "facts": {"faults": []},
              "loop": {"rate_hz": 100, "p50_ms": 0.1, "p99_ms": 0.2, "max_ms": 0.3, "missed_ticks": 0,
                       "sched_fifo": False},
              "servo": {"connected": True, "port": "/dev/pts/1"}, "workers": {}, "speech": c.summary()}
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert cmd_status(argparse.Namespace(config=str(toml), json=False)) == 0
    assert "loudspeaker FAILING: sound card default: ALSA: cannot open default" in capsys.readouterr().out
    c.on_message(Message("speaking_failed", SPEECH_OUT, data={"job": 2, "reason": "synthesis", "detail": "x"}))
    assert c.summary()["loudspeaker_fault"]  # a synthesis failure says nothing of the card
    c.say("three", 150, 1.0)
    c.on_message(finished(3))
    assert c.summary()["loudspeaker_fault"] == ""
    (tmp_path / "status.json").write_text(json.dumps({**status, "speech": c.summary()}))
    cmd_status(argparse.Namespace(config=str(toml), json=False))
    assert "loudspeaker ok" in capsys.readouterr().out
