"""Speech out on a broken disk, with the real worker: the WAV directory cannot be made or is full.

Every sentence must still end with exactly one outcome, a failure must be reported as a failure
(a speech fault for staff, not a silent cancel), and speech in must be listening afterwards.
And a worker hung (SIGSTOP) longer than the hang timeout. The disk tests need root for a tmpfs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_speech import GRAMMAR
from .test_speech_queue import LONG, SHORT, Harness

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs at tmp_path/disk, always unmounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def start(tmp_path: Path, out: Path) -> Harness:
    h = Harness(tmp_path)
    h.sup.set_options("speech_out", out_dir=str(out))
    h.out = out
    h.sup.start()
    assert h.until(lambda: h.jobs.worker_up and len(h.of("ready")) == 2, 60), h.sup.health()
    h.sup.send("speech_in", "grammar", phrases=GRAMMAR)
    return h


def test_an_unmakeable_wav_directory_fails_each_sentence_once_and_the_worker_stays_up(tmp_path: Path,
                                                                                      mounted: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
    h = start(tmp_path, mounted / "said")
    try:
        jobs = [h.say(t) for t in SHORT[:3]]
        assert h.until(lambda: not h.jobs.outstanding, 30), (h.jobs.outstanding, [m.kind for m in h.messages])
        assert {j: h.outcomes[j] for j in jobs} == {j: ["failed"] for j in jobs}
        assert h.of("worker_fault") == []  # a bad directory is a failed sentence, not a crashing worker
        assert not h.jobs.muted
    finally:
        h.sup.stop()


def test_a_full_disk_fails_the_sentence_and_the_next_one_still_gets_its_outcome(tmp_path: Path,
                                                                               mounted: Path) -> None:
    (mounted / "said").mkdir()
    subprocess.run(["dd", "if=/dev/zero", f"of={mounted / 'fill'}", "bs=64k"], check=False,
                   stderr=subprocess.DEVNULL)
    h = start(tmp_path, mounted / "said")
    try:
        jobs = [h.say(LONG) for _ in range(3)]
        assert h.until(lambda: not h.jobs.outstanding, 45), (h.jobs.outstanding, [m.kind for m in h.messages])
        assert {j: h.outcomes[j] for j in jobs} == {j: ["failed"] for j in jobs}
        # Failed before synthesis, not by its timeout: speech in was muted, with nothing playing,
        # for the sum of the timeouts (30 s for these three sentences) when espeak met the full disk.
        assert {m.data["reason"] for m in h.of("speaking_failed")} == {"output"}
        assert not h.jobs.muted
        assert h.hears_a_call_for_help()
    finally:
        h.sup.stop()


def test_a_hung_worker_is_replaced_and_every_sentence_ends_once(tmp_path: Path) -> None:
    """SIGSTOP (hung, not dead) for longer than the hang timeout, in the middle of a sentence."""
    h = start(tmp_path, tmp_path / "said")
    try:
        jobs = [h.say(text) for text in (LONG, SHORT[1], SHORT[2])]  # hung in the long one
        assert h.until(lambda: h.jobs.outstanding and any(m.kind == "speaking_started" for m in h.messages), 30)
        pid = h.sup.health()["speech_out"].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        assert h.until(lambda: not h.jobs.outstanding, 45), (h.jobs.outstanding, [m.kind for m in h.messages])
        assert all(len(h.outcomes[j]) == 1 for j in jobs), dict(h.outcomes)
        assert h.outcomes[jobs[0]] == ["failed"] and h.outcomes[jobs[-1]] == ["finished"], dict(h.outcomes)
        assert [m.data["reason"][:15] for m in h.of("worker_fault")] == ["no heartbeat fo"]
        assert not h.jobs.muted
        assert h.hears_a_call_for_help()
    finally:
        h.sup.stop()
