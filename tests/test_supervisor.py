"""Worker supervision with real processes: crash, hang and memory faults restart with backoff."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from robot.config import WorkersSection
from robot.messages import Message
from robot.supervisor import Supervisor, WorkerSpec

from .conftest import alive, children_of, wait_for

DIAG = "robot.workers.diagnostic:DiagnosticWorker"


class Collector:
    """Drains a supervisor the way the control tick does, keeping every message."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.messages: list[Message] = []

    def kinds(self, kind: str) -> list[Message]:
        self.messages += self.sup.drain()
        return [m for m in self.messages if m.kind == kind]


@pytest.fixture
def sup(fast_workers: WorkersSection) -> Iterator[Supervisor]:
    s = Supervisor([WorkerSpec("diag", DIAG), WorkerSpec("other", DIAG)], fast_workers)
    s.start()
    yield s
    s.stop()


def ready(sup: Supervisor, name: str = "diag") -> bool:
    return sup.health()[name].state == "running"


def test_workers_start_and_answer_with_timestamped_messages(sup: Supervisor) -> None:
    c = Collector(sup)
    assert wait_for(lambda: ready(sup) and ready(sup, "other"), 15)
    sup.send("diag", "echo", n=7)
    assert wait_for(lambda: c.kinds("echo"), 3)
    echo = c.kinds("echo")[0]
    assert echo.sender == "diag" and echo.data["n"] == 7 and echo.seq > 0
    assert 0 <= echo.t - echo.data["sent_t"] < 1.0  # both sides share CLOCK_MONOTONIC


def test_a_crashed_worker_is_reported_and_restarted_while_others_keep_running(sup: Supervisor) -> None:
    c = Collector(sup)
    assert wait_for(lambda: ready(sup) and ready(sup, "other"), 15)
    first_pid = sup.health()["diag"].pid
    other_pid = sup.health()["other"].pid
    sup.send("diag", "crash", code=3)
    assert wait_for(lambda: c.kinds("worker_fault"), 3)
    fault = c.kinds("worker_fault")[0]
    assert fault.data["worker"] == "diag" and "exited with code 3" in fault.data["reason"]
    assert wait_for(lambda: ready(sup) and sup.health()["diag"].pid != first_pid, 10)
    assert sup.health()["diag"].restarts == 1
    assert sup.health()["other"].pid == other_pid and sup.health()["other"].restarts == 0
    assert first_pid is not None and not alive(first_pid)


def test_a_hung_worker_is_killed_and_restarted(sup: Supervisor) -> None:
    c = Collector(sup)
    assert wait_for(lambda: ready(sup), 15)
    pid = sup.health()["diag"].pid
    sup.send("diag", "hang", seconds=60)
    assert wait_for(lambda: c.kinds("worker_fault"), 5)
    assert "no heartbeat" in c.kinds("worker_fault")[0].data["reason"]
    assert wait_for(lambda: ready(sup) and sup.health()["diag"].pid != pid, 10)
    assert pid is not None and wait_for(lambda: not alive(pid), 2)


def test_restart_backoff_doubles_up_to_its_limit(fast_workers: WorkersSection) -> None:
    s = Supervisor([WorkerSpec("diag", DIAG)], fast_workers)
    s.start()
    c = Collector(s)
    try:
        delays = []
        for _ in range(4):
            assert wait_for(lambda: ready(s), 15)
            s.send("diag", "crash")
            n = len(delays) + 1
            assert wait_for(lambda n=n: len(c.kinds("worker_fault")) >= n, 5)
            delays.append(c.kinds("worker_fault")[-1].data["restart_in_s"])
        assert delays == [0.1, 0.2, 0.4, 0.4]  # initial 0.1 s, doubling, capped at 0.4 s
    finally:
        s.stop()


def test_a_worker_over_its_memory_limit_is_recycled(fast_workers: WorkersSection) -> None:
    limited = fast_workers.model_copy(update={"max_rss_mb": 1})  # every Python process is bigger
    s = Supervisor([WorkerSpec("diag", DIAG)], limited)
    s.start()
    c = Collector(s)
    try:
        assert wait_for(lambda: c.kinds("worker_fault"), 15)
        assert "memory" in c.kinds("worker_fault")[0].data["reason"]
    finally:
        s.stop()


def test_commands_to_a_wedged_worker_never_block_the_caller(fast_workers: WorkersSection) -> None:
    # No hang timeout to end the wedge early: a send that blocked on the full pipe would wait out the whole
    # 60 s hang. How fast a send is (5000 in well under 1 s here) is speed, not what this test is about.
    sup = Supervisor([WorkerSpec("diag", DIAG)], fast_workers.model_copy(update={"hang_timeout_s": 120}))
    sup.start()
    try:
        assert wait_for(lambda: ready(sup), 15)
        sup.send("diag", "hang", seconds=60)
        t0 = time.monotonic()
        for i in range(5000):  # a megabyte: far more than the pipe holds while nobody reads
            sup.send("diag", "echo", blob="x" * 200, i=i)
        assert time.monotonic() - t0 < 30
        assert wait_for(lambda: sup.health()["diag"].dropped_commands > 0, 30)  # dropped, not waited on
    finally:
        sup.stop()


def test_stop_leaves_no_processes_behind(fast_workers: WorkersSection) -> None:
    s = Supervisor([WorkerSpec(f"w{i}", DIAG) for i in range(3)], fast_workers)
    s.start()
    assert wait_for(lambda: all(h.state == "running" for h in s.health().values()), 15)
    pids = s.pids()
    assert len(pids) == 3
    s.stop()
    assert all(not alive(p) for p in pids)
    assert not [p for p in children_of(os.getpid()) if p in pids]
    assert all(h.state == "stopped" for h in s.health().values())


def test_a_worker_that_ignores_stop_is_terminated(fast_workers: WorkersSection) -> None:
    s = Supervisor([WorkerSpec("diag", DIAG)], fast_workers)
    s.start()
    assert wait_for(lambda: ready(s), 15)
    pid = s.health()["diag"].pid
    s.send("diag", "hang", seconds=60)
    time.sleep(0.1)
    t0 = time.monotonic()
    s.stop()
    # Terminated after the 1 s grace, not waited for: the hang has a minute to go. (Under 3 s here quiet.)
    assert time.monotonic() - t0 < 30
    assert pid is not None and not alive(pid)


def test_a_worker_that_cannot_start_says_why_and_is_retried(fast_workers: WorkersSection) -> None:
    s = Supervisor([WorkerSpec("broken", "robot.workers.no_such_module:Nothing")], fast_workers)
    s.start()
    c = Collector(s)
    try:
        assert wait_for(lambda: c.kinds("setup_failed"), 15)
        assert "ModuleNotFoundError" in c.kinds("setup_failed")[0].data["reason"]
        assert wait_for(lambda: c.kinds("worker_fault"), 5)
        assert "exited with code 4" in c.kinds("worker_fault")[0].data["reason"]
    finally:
        s.stop()
