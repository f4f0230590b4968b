"""The real-time control loop: a fixed-rate thread on absolute monotonic deadlines.

Each tick calls one function (drain inputs, step the state machine, sample motion,
write outputs). A tick that wakes late skips the ticks it missed rather than bursting
to catch up, and counts them. A tick whose work overruns the next deadline counts as an
overrun; `overrun_fault_after` overruns in a row call the fault handler once. A tick that
raises is caught and is a fault too (once, however often it raises). Each fault clears by
itself: after `fault_clear_s` of ticks with no overrun (or no exception) the recover handler
is called, so the robot returns to service without anyone's help.
Lateness (wake time minus deadline) goes into a histogram for bench and status.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# A thread that wants the GIL waits at most this long for another that holds it (Python's default is 5 ms):
# set by every process whose loop must answer at once (the robot's runtime, the staff web server).
GIL_SWITCH_S = 0.0005

FAULT_CLEAR_S = 3.0  # healthy seconds after which a loop fault clears
BUCKET_US = 10  # histogram resolution
BUCKETS = 5000  # 10 µs x 5000 = 50 ms; later goes to the overflow bucket


class LatencyHistogram:
    """Fixed-bucket histogram of tick lateness, cheap enough to update every tick."""

    def __init__(self) -> None:
        self.counts = [0] * (BUCKETS + 1)
        self.n = 0
        self.max_ns = 0
        self.total_ns = 0

    def add(self, late_ns: int) -> None:
        """Record one tick's lateness in nanoseconds (negative counts as zero)."""
        late_ns = max(0, late_ns)
        self.counts[min(late_ns // (BUCKET_US * 1000), BUCKETS)] += 1
        self.n += 1
        self.total_ns += late_ns
        if late_ns > self.max_ns:
            self.max_ns = late_ns

    def percentile_ms(self, q: float) -> float:
        """Upper edge of the bucket holding quantile q (0..1), in milliseconds."""
        if self.n == 0:
            return 0.0
        rank = max(1, int(q * self.n + 0.999999))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                if i == BUCKETS:
                    return self.max_ns / 1e6
                return min((i + 1) * BUCKET_US / 1000, self.max_ns / 1e6)
        return self.max_ns / 1e6

    def summary(self) -> dict[str, float | int]:
        """p50/p99/max/mean lateness in ms and the sample count."""
        return {
            "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "max_ms": round(self.max_ns / 1e6, 3),
            "mean_ms": round(self.total_ns / self.n / 1e6, 4) if self.n else 0.0,
            "ticks": self.n,
        }


@dataclass
class LoopStats:
    """What the loop has measured so far."""

    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    ticks: int = 0
    missed_ticks: int = 0
    overruns: int = 0
    overrun_streak: int = 0
    faults: int = 0
    tick_exceptions: int = 0
    work_max_ns: int = 0
    realtime: bool = False

    def summary(self) -> dict[str, object]:
        """A JSON-ready view for status output and benchmarks."""
        return {
            **self.histogram.summary(),
            "missed_ticks": self.missed_ticks,
            "overruns": self.overruns,
            "overrun_faults": self.faults,
            "work_max_ms": round(self.work_max_ns / 1e6, 3),
            "sched_fifo": self.realtime,
        }


def try_realtime(priority: int) -> bool:
    """Ask for SCHED_FIFO on the calling thread; False (and no change) when not permitted."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError):
        return False
    return True


class ControlLoop:
    """Runs `tick(now_ns, dt_s)` at a fixed rate in a dedicated thread."""

    def __init__(
        self,
        tick: Callable[[int, float], None],
        rate_hz: int = 100,
        *,
        overrun_fault_after: int = 10,
        realtime: str = "auto",
        rt_priority: int = 40,
        on_fault: Callable[[str], None] | None = None,
        on_recover: Callable[[str], None] | None = None,
        fault_clear_s: float = FAULT_CLEAR_S,
        name: str = "control-loop",
    ) -> None:
        if not 1 <= rate_hz <= 2000:
            raise ValueError(f"rate_hz {rate_hz} is outside 1..2000")
        self.tick = tick
        self.period_ns = 1_000_000_000 // rate_hz
        self.overrun_fault_after = overrun_fault_after
        self.realtime = realtime
        self.rt_priority = rt_priority
        self.on_fault = on_fault
        self.on_recover = on_recover
        self.fault_clear_s = fault_clear_s
        self.active: dict[str, int] = {}  # fault reason -> monotonic ns of its latest occurrence
        self.stats = LoopStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start the loop thread and wait until it has set its scheduling policy."""
        self._thread.start()
        self._started.wait(5)
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the loop to stop after the current tick and wait for it."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def reset_stats(self) -> None:
        """Start measuring afresh (after warm-up), keeping the scheduling flag."""
        self.stats = LoopStats(realtime=self.stats.realtime)

    @property
    def running(self) -> bool:
        """True while the loop thread is alive."""
        return self._thread.is_alive()

    def run_for(self, seconds: float) -> LoopStats:
        """Run the loop thread for a number of seconds, then stop it (benchmarks and tests)."""
        self.start()
        self._stop.wait(seconds)
        self.stop()
        return self.stats

    def _run(self) -> None:
        if self.realtime != "off":
            self.stats.realtime = try_realtime(self.rt_priority)
            if not self.stats.realtime:
                if self.realtime == "require":
                    self.error = PermissionError(
                        "SCHED_FIFO is required (loop.realtime = \"require\") but not permitted; "
                        "grant it with LimitRTPRIO in the systemd unit or set loop.realtime = \"auto\""
                    )
                    self._started.set()
                    return
                log.info("loop running without SCHED_FIFO (not permitted here)")
        self._started.set()
        period = self.period_ns
        deadline = time.monotonic_ns() + period
        last = deadline - period
        sleep = time.sleep
        clock = time.monotonic_ns
        while not self._stop.is_set():
            remaining = deadline - clock()
            if remaining > 0:
                sleep(remaining / 1e9)
            now = clock()
            late = now - deadline
            stats = self.stats  # read each tick so reset_stats() takes effect at once
            if late >= period:
                skipped = late // period
                stats.missed_ticks += skipped
                deadline += skipped * period
            stats.histogram.add(late)
            try:
                self.tick(now, (now - last) / 1e9)
            except Exception:  # a bug in a tick must not kill the loop; it becomes a fault
                stats.tick_exceptions += 1
                if "tick_exception" not in self.active:
                    log.exception("control tick raised")
                self._fault("tick_exception", now)
            last = now
            done = clock()
            work = done - now
            if work > stats.work_max_ns:
                stats.work_max_ns = work
            stats.ticks += 1
            deadline += period
            if done > deadline:
                stats.overruns += 1
                stats.overrun_streak += 1
                if stats.overrun_streak >= self.overrun_fault_after:
                    self._fault("loop_overrun", done)
            else:
                stats.overrun_streak = 0
            if self.active:
                self._clear_healed(done)

    def _fault(self, reason: str, now_ns: int) -> None:
        """Note a fault; the handler hears of it once, until it has cleared."""
        first = reason not in self.active
        self.active[reason] = now_ns
        if first:
            self.stats.faults += 1
            self._call(self.on_fault, reason)

    def _clear_healed(self, now_ns: int) -> None:
        clear_ns = int(self.fault_clear_s * 1e9)
        for reason, last in list(self.active.items()):
            if now_ns - last >= clear_ns:
                del self.active[reason]
                log.info("loop fault %s cleared after %.1f s without it", reason, self.fault_clear_s)
                self._call(self.on_recover, reason)

    def _call(self, handler: Callable[[str], None] | None, reason: str) -> None:
        if handler is None:
            return
        try:
            handler(reason)
        except Exception:
            log.exception("loop fault handler raised")
