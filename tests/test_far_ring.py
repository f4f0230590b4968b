"""Barge-in on the robot: the audio speech out gives the sound card reaches speech in's echo canceller
through shared memory, sample-aligned, with the moment the card plays it.

Faked, because this machine has no sound card: the card itself (hardware/sound_out.py's SimOut
takes blocks at a real card's pace and says when each is heard, as snd_pcm_delay does on ALSA),
and the room between loudspeaker and microphone (hardware/room.py). Real: speech out's own
playback thread and process, the shared-memory ring, speech in's far-end timeline and
libspeexdsp's canceller. The microphone hears what the card logged as played, at the times it
played it, so the reference path (the ring) is checked against an independent record.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hardware.audio import espeak_pcm
from hardware.echo import FRAME, EchoCanceller, FarEnd
from hardware.far_ring import BLOCK, FarRing, FarRingError, pcm16k_blocks, ring_path
from hardware.room import Room, pcm, rms
from hardware.sound_out import SimOut
from robot.config import WorkersSection
from robot.supervisor import Supervisor, WorkerSpec
from robot.workers.speech_out import SpeechOutWorker, _Job

from .conftest import wait_for

espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def test_the_ring_hands_over_blocks_in_order_and_a_cut_ends_what_was_queued(tmp_path: Path) -> None:
    writer, reader = FarRing(tmp_path / "ring"), FarRing(tmp_path / "ring")
    blocks = pcm16k_blocks(np.arange(5 * BLOCK, dtype=np.int16).tobytes())
    for i, b in enumerate(blocks):
        writer.write(100.0 + i * 0.01, b)
    got, cut = reader.read()
    assert [t for t, _ in got] == [100.0 + i * 0.01 for i in range(5)] and cut is None
    assert b"".join(b for _, b in got) == b"".join(blocks)
    writer.write(100.05, blocks[0])
    writer.cut(100.045)  # the card dropped its queue: the block at 100.05 is never heard
    writer.write(101.0, blocks[1])  # the next sentence
    got, cut = reader.read()
    assert cut == 100.045 and [t for t, _ in got] == [101.0]
    with pytest.raises(ValueError, match="320 bytes"):
        writer.write(0.0, b"\0" * 10)


class _Watched(SimOut):
    """The simulated card, noting when each block was handed to it."""

    def __init__(self, buffer_s: float, played: list[tuple[float, bytes]]) -> None:
        super().__init__(buffer_s=buffer_s, played=played)
        self.handed: list[float] = []

    def write(self, block: bytes) -> float:
        self.handed.append(time.monotonic())
        return super().write(block)


def _speak(ring: FarRing, pcm16k: bytes, card: SimOut, cut_after_s: float | None = None,
           told: list[float] | None = None) -> _Job:
    """Speech out's own playback thread, with the simulated card (`told` gets the moment of a cut)."""
    job = _Job(1, "", 150, 1.0)
    worker = types.SimpleNamespace(sound_out=lambda: card, ring=ring)
    thread = threading.Thread(target=SpeechOutWorker._card, args=(worker, job, pcm16k))
    thread.start()
    if cut_after_s is not None:
        time.sleep(cut_after_s)
        if told is not None:
            told.append(time.monotonic())
        job.cut.set()
    thread.join(30)
    assert job.played.is_set() and not job.play_error
    return job


@espeak
def test_the_canceller_fed_from_the_ring_removes_the_echo_of_what_the_card_played(tmp_path: Path) -> None:
    voice = espeak_pcm("저는 로봇 로빈이에요. 사람이 아니라 기계예요.", "ko", 150)
    played: list[tuple[float, bytes]] = []
    card = SimOut(buffer_s=0.1, played=played)
    writer, reader = FarRing(tmp_path / "ring"), FarRing(tmp_path / "ring")
    room = Room(delay_ms=60.0)
    speaking = threading.Thread(target=_speak, args=(writer, voice, card))
    speaking.start()
    speaking.join(30)
    # What the microphone heard (the played log through the room) against what speech in took from the ring,
    # frame by frame on the capture clock, as speech in's _pull_far_end and _cancel do it.
    heard, reference = FarEnd(), FarEnd()
    for t, block in played:
        heard.add(t, block)
    aec = EchoCanceller()
    t0 = played[0][0]
    blocks, _ = reader.read()
    for t, block in blocks:
        reference.add(t, block)
    n = FRAME * 3
    echo, left = [], []
    for k in range(int((len(voice) / 2 / 16000) / 0.03)):
        t = t0 + k * 0.03
        mic = sum((g * heard.window(t, n, back=d) for d, g in room.taps()), np.zeros(n)) + room.noise(n, k)
        out = aec.process(pcm(mic), pcm(reference.window(t, n)))
        echo.append(mic)
        left.append(np.frombuffer(out, np.int16).astype(np.float64))
    assert np.array_equal(reference.window(t0, len(voice) // 2), heard.window(t0, len(voice) // 2))  # aligned
    late = slice(len(echo) // 2, None)  # after the canceller has learnt the room
    erle = 20 * np.log10(rms(np.concatenate(echo[late])) / max(rms(np.concatenate(left[late])), 1e-9))
    assert erle >= 20, erle


@espeak
def test_a_cut_silences_the_card_within_a_block_and_the_reference_ends_with_it(tmp_path: Path) -> None:
    voice = espeak_pcm("저는 로봇 로빈이에요. 사람이 아니라 기계예요.", "ko", 150)
    played: list[tuple[float, bytes]] = []
    writer, reader = FarRing(tmp_path / "ring"), FarRing(tmp_path / "ring")
    card, told = _Watched(buffer_s=0.1, played=played), []
    _speak(writer, voice, card, cut_after_s=0.5, told=told)
    blocks, cut = reader.read()
    # Silent within a block of being told: the playback thread looks for a cut before each block it hands the
    # card, so at most the one it was handing over goes after it. Counted, not timed (it was: 50 ms from when
    # the test meant to cut, which a loaded machine's late sleep alone can pass); how soon the voice stops is
    # `carebot bench bargein`'s stop_to_silence_ms.
    assert cut is not None and cut >= told[0] and len([t for t in card.handed if t > told[0]]) <= 1
    assert played and played[-1][0] < cut and len(played) < len(voice) // 2 // BLOCK
    reference = FarEnd()
    for t, block in blocks:
        reference.add(t, block)
    reference.cut(cut)
    assert not reference.window(cut, 1600).any()  # nothing is expected from the speaker after the cut


def _speech_out(ring: Path) -> tuple[Supervisor, list, Callable[[str], bool]]:
    """The real speech-out worker as on the robot (the simulated card), its messages, and a check for a kind."""
    sup = Supervisor([WorkerSpec("speech_out", "robot.workers.speech_out:SpeechOutWorker",
                                 {"voice": "ko", "playback_device": "sim", "far_ring": str(ring)})],
                     WorkersSection())
    sup.start()
    messages: list = []

    def got(kind: str) -> bool:
        messages.extend(sup.drain())
        return any(m.kind == kind for m in messages)

    return sup, messages, got


@espeak
def test_speech_out_on_the_robot_hands_each_played_block_to_the_ring(tmp_path: Path) -> None:
    # The real speech-out process, as on the robot (a sentence in /dev/shm, played by the worker itself),
    # with the simulated card; the test reads the ring as speech in does.
    ring = tmp_path / "ring"
    reader = FarRing(ring)
    sup, messages, got = _speech_out(ring)
    try:

        assert wait_for(lambda: got("ready"), 30)
        sup.send("speech_out", "say", job=1, text="저는 로봇 로빈이에요.", rate=150)
        assert wait_for(lambda: got("speaking_finished"), 30), messages
        blocks, _ = reader.read()
        audio_s = next(m.data["audio_s"] for m in messages if m.kind == "speaking_finished")
        assert abs(len(blocks) * 0.01 - audio_s) < 0.05  # the whole sentence, resampled to 16 kHz
        times = np.array([t for t, _ in blocks])
        assert np.allclose(np.diff(times), 0.01, atol=1e-6)  # back to back, as the card played them
        assert rms(np.frombuffer(b"".join(b for _, b in blocks), np.int16).astype(float)) > 300
    finally:
        sup.stop()


def test_the_ring_refuses_what_another_user_could_have_planted_at_its_path(tmp_path: Path) -> None:
    # /dev/shm is writable by everyone: a link, a shared file, someone else's file or a directory at the
    # ring's path must neither receive the robot's voice nor be truncated; a clear error says why.
    target = tmp_path / "precious"
    target.write_bytes(b"not audio")
    (tmp_path / "link").symlink_to(target)
    shared = tmp_path / "shared"
    shared.write_bytes(b"")
    shared.chmod(0o666)
    odd = tmp_path / "odd"
    odd.write_bytes(b"x" * 100)
    odd.chmod(0o600)
    (tmp_path / "dir").mkdir()
    for name in ("link", "shared", "odd", "dir"):
        with pytest.raises(FarRingError, match=name):
            FarRing(tmp_path / name)
    assert target.read_bytes() == b"not audio" and odd.stat().st_size == 100
    if os.geteuid() == 0:  # only root can give a file away to show another owner
        theirs = tmp_path / "theirs"
        theirs.write_bytes(b"")
        theirs.chmod(0o600)
        os.chown(theirs, 4242, 4242)
        with pytest.raises(FarRingError, match="owner uid 4242"):
            FarRing(theirs)
    FarRing(tmp_path / "ours").close()  # a fresh one is made private
    assert (tmp_path / "ours").stat().st_mode & 0o777 == 0o600


def test_the_rings_path_cannot_be_guessed_from_the_control_processes_pid() -> None:
    assert ring_path(os.getpid()) != ring_path(os.getpid())


def test_speech_out_still_speaks_and_says_so_when_its_ring_path_is_taken(tmp_path: Path) -> None:
    # Another user made a directory where the ring goes: before, speech out died at start, over and over,
    # and the robot was silent. Now it speaks without the ring, and a speech fault tells staff why.
    ring = tmp_path / "ring"
    ring.mkdir()
    sup, messages, got = _speech_out(ring)
    try:

        assert wait_for(lambda: got("ready"), 30), messages
        sup.send("speech_out", "say", job=1, text="네.", rate=150)
        assert wait_for(lambda: got("speaking_finished"), 30), messages
        faults = [m.data for m in messages if m.kind == "speech_fault"]
        assert [f["reason"] for f in faults] == ["far_ring"] and str(ring) in faults[0]["detail"]
        assert not [m for m in messages if m.kind == "worker_fault"]
    finally:
        sup.stop()
