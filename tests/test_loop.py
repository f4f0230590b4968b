"""The control loop: fixed rate on absolute deadlines, skips rather than bursts, counts overruns."""

from __future__ import annotations

import time

import pytest

from robot.loop import BUCKET_US, ControlLoop, LatencyHistogram

from .conftest import wait_for


def test_histogram_percentiles_are_bucket_upper_edges() -> None:
    h = LatencyHistogram()
    for us in range(1, 101):  # 1..100 µs
        h.add(us * 1000)
    assert h.n == 100
    assert h.percentile_ms(0.5) == pytest.approx(0.05 + BUCKET_US / 1000, abs=0.011)
    assert h.percentile_ms(0.99) == pytest.approx(0.1, abs=0.011)
    assert h.summary()["max_ms"] == 0.1


def test_histogram_overflow_reports_the_true_max() -> None:
    h = LatencyHistogram()
    h.add(80_000_000)  # 80 ms, past the last bucket
    assert h.percentile_ms(0.99) == 80.0


def test_loop_runs_at_its_rate_on_absolute_deadlines() -> None:
    stamps: list[int] = []
    loop = ControlLoop(lambda now, dt: stamps.append(now), rate_hz=100)
    loop.run_for(1.0)
    missed = loop.stats.missed_ticks
    # How many ticks a busy machine makes the loop skip is a figure for `carebot bench loop`, not a
    # test: a VM stalls a sleeping thread for 5-10 ms now and then. What must hold whatever the load:
    # every period is run once or counted as missed, and a skipped tick is counted, never burst.
    assert 95 <= len(stamps) + missed <= 101
    assert len(stamps) > missed, "most periods run"
    gaps_ms = [(b - a) / 1e6 for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps_ms) > 2.0, "no two ticks run back to back"
    # Absolute deadlines: lateness never accumulates, so the mean period is the period exactly.
    mean_period_ms = (stamps[-1] - stamps[0]) / (len(stamps) - 1 + missed) / 1e6
    assert mean_period_ms == pytest.approx(10.0, abs=0.1)


def test_late_tick_skips_missed_ticks_instead_of_bursting() -> None:
    stamps: list[int] = []

    def tick(now: int, dt: float) -> None:
        stamps.append(now)
        if len(stamps) == 10:
            time.sleep(0.055)  # a stall of five and a half periods

    loop = ControlLoop(tick, rate_hz=100, overrun_fault_after=100)
    loop.run_for(0.5)
    assert loop.stats.missed_ticks >= 4
    gaps = [(b - a) / 1e6 for a, b in zip(stamps[10:], stamps[11:], strict=False)]
    # After the stall the next tick realigns to the 10 ms grid; none are run back to back.
    assert min(gaps) > 2.0, "ticks after a stall must not burst to catch up"
    assert len(stamps) + loop.stats.missed_ticks <= 51  # every period is either run once or counted


def test_a_run_of_overruns_is_one_fault() -> None:
    faults: list[str] = []
    loop = ControlLoop(lambda now, dt: time.sleep(0.012), rate_hz=100, overrun_fault_after=5,
                       on_fault=faults.append)
    loop.run_for(0.3)
    assert loop.stats.overruns >= 5
    assert faults == ["loop_overrun"]


def test_an_exception_in_a_tick_is_a_fault_and_the_loop_goes_on() -> None:
    faults: list[str] = []
    count = [0]

    def tick(now: int, dt: float) -> None:
        count[0] += 1
        if count[0] == 3:
            raise RuntimeError("bug")

    loop = ControlLoop(tick, rate_hz=200, on_fault=faults.append)
    loop.run_for(0.2)
    assert faults == ["tick_exception"]
    assert count[0] > 20


def test_sched_fifo_is_used_when_permitted_and_skipped_when_off() -> None:
    import os

    loop = ControlLoop(lambda now, dt: None, rate_hz=100, realtime="auto")
    loop.run_for(0.05)
    permitted = os.geteuid() == 0  # root here and in CI; LimitRTPRIO on a robot
    assert loop.stats.realtime is permitted
    off = ControlLoop(lambda now, dt: None, rate_hz=100, realtime="off")
    off.run_for(0.05)
    assert off.stats.realtime is False


def test_rate_outside_range_is_refused() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        ControlLoop(lambda now, dt: None, rate_hz=0)


def test_an_overrun_fault_clears_after_a_run_of_healthy_ticks() -> None:
    events: list[tuple[str, str]] = []
    slow = [True]
    loop = ControlLoop(lambda now, dt: time.sleep(0.012) if slow[0] else None, rate_hz=100, overrun_fault_after=5,
                       on_fault=lambda r: events.append(("fault", r)),
                       on_recover=lambda r: events.append(("recover", r)), fault_clear_s=0.3)
    loop.start()
    try:
        assert wait_for(lambda: ("fault", "loop_overrun") in events, 2)
        time.sleep(0.2)
        assert events == [("fault", "loop_overrun")]  # still overrunning: not cleared
        slow[0] = False
        assert wait_for(lambda: ("recover", "loop_overrun") in events, 2)
    finally:
        loop.stop()
    assert events == [("fault", "loop_overrun"), ("recover", "loop_overrun")]


def test_a_tick_exception_fault_clears_once_ticks_run_cleanly_again() -> None:
    events: list[tuple[str, str]] = []
    count = [0]

    def tick(now: int, dt: float) -> None:
        count[0] += 1
        if count[0] <= 30:
            raise RuntimeError("bug hit for a while")

    loop = ControlLoop(tick, rate_hz=200, on_fault=lambda r: events.append(("fault", r)),
                       on_recover=lambda r: events.append(("recover", r)), fault_clear_s=0.3)
    loop.start()
    try:
        assert wait_for(lambda: ("recover", "tick_exception") in events, 3)
    finally:
        loop.stop()
    assert events == [("fault", "tick_exception"), ("recover", "tick_exception")]  # one fault, one clear
    assert loop.stats.tick_exceptions == 30
