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


def on_the_grid(ticks: list[tuple[int, int]], period_ns: int) -> None:
    """What holds for (time, missed so far) at each tick whatever the load: every period since the first tick is
    run once or counted as missed, lateness never accumulates (absolute deadlines), and a late tick is skipped
    or run late, never burst: no three ticks within one period."""
    hair = 500_000  # a sleep may end a hair early
    t0, missed0 = ticks[0]
    for i, (t, missed) in enumerate(ticks):
        # each tick runs less than a period after its deadline; deadlines lie whole periods apart
        periods = i + missed - missed0
        assert abs((t - t0) - periods * period_ns) < period_ns + hair, (i, t - t0, periods)
    stamps = [t for t, _ in ticks]
    assert all(c - a > period_ns - hair for a, c in zip(stamps, stamps[2:], strict=False)), "a burst"


def test_loop_runs_at_its_rate_on_absolute_deadlines() -> None:
    ticks: list[tuple[int, int]] = []
    loop = ControlLoop(lambda now, dt: ticks.append((now, loop.stats.missed_ticks)), rate_hz=100)
    loop.run_for(1.0)
    # How many ticks a busy machine makes the loop skip, how late they run, and so how many run in a second,
    # are figures for `carebot bench loop`, not a test: a VM stalls a sleeping thread for 5-10 ms now and then
    # (and for longer without SCHED_FIFO, where a tick 8 ms late runs 2 ms before the next: the bounds on
    # those failed 3 runs in 20 under load here). What holds whatever the load:
    assert len(ticks) >= 10
    on_the_grid(ticks, loop.period_ns)


def test_late_tick_skips_missed_ticks_instead_of_bursting() -> None:
    ticks: list[tuple[int, int]] = []

    def tick(now: int, dt: float) -> None:
        ticks.append((now, loop.stats.missed_ticks))
        if len(ticks) == 10:
            time.sleep(0.055)  # a stall of five and a half periods

    loop = ControlLoop(tick, rate_hz=100, overrun_fault_after=100)
    loop.run_for(0.5)
    assert len(ticks) > 10 and ticks[10][1] - ticks[9][1] >= 4  # the stalled periods were counted
    # After the stall the ticks realign to the 10 ms grid: skipped, not run in a burst to catch up.
    on_the_grid(ticks, loop.period_ns)


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
    loop.start()
    try:
        assert wait_for(lambda: count[0] > 20, 10)  # it goes on (in 0.1 s quiet; a loaded machine is slower)
    finally:
        loop.stop()
    assert faults == ["tick_exception"]


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
        assert wait_for(lambda: ("fault", "loop_overrun") in events, 10)
        time.sleep(0.2)
        assert events == [("fault", "loop_overrun")]  # still overrunning: not cleared
        slow[0] = False
        assert wait_for(lambda: ("recover", "loop_overrun") in events, 10)
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
        assert wait_for(lambda: ("recover", "tick_exception") in events, 10)
    finally:
        loop.stop()
    assert events == [("fault", "tick_exception"), ("recover", "tick_exception")]  # one fault, one clear
    assert loop.stats.tick_exceptions == 30
