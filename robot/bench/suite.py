"""Benchmarks behind `carebot bench NAME`. Each measures its own baseline in the same run.

- loop:  the full control tick (servo board simulated in its own process, state machine, motion, a resident's
         utterances understood on the dialog thread, busy worker processes sending
         observations) against a bare sleep-until-deadline loop, with the same busy workers.
- servo: the Maestro driver's command round trip and write rate through a pseudo-terminal
         against bare pyserial writes and reads of the same bytes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.poll import poll_until
from robot.bench.drive import AWAKE, progress, talk_for
from robot.loop import LatencyHistogram, try_realtime


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release()}


def bare_loop(seconds: float, rate_hz: int, realtime: bool) -> dict[str, Any]:
    """Nothing but sleep-until-deadline on absolute monotonic deadlines: the floor."""
    hist = LatencyHistogram()
    result: dict[str, Any] = {}

    def run() -> None:
        fifo = try_realtime(40) if realtime else False
        period = 1_000_000_000 // rate_hz
        clock, sleep = time.monotonic_ns, time.sleep
        deadline = clock() + period
        end = deadline + int(seconds * 1e9)
        missed = 0
        while deadline < end:
            remaining = deadline - clock()
            if remaining > 0:
                sleep(remaining / 1e9)
            late = clock() - deadline
            hist.add(late)
            if late >= period:
                missed += late // period
                deadline += (late // period) * period
            deadline += period
        result.update(missed_ticks=missed, sched_fifo=fifo)

    t = threading.Thread(target=run, name="bare-loop")
    t.start()
    t.join()
    return {**hist.summary(), **result}


def bench_loop(args: argparse.Namespace) -> dict[str, Any]:
    """The control loop under busy workers, against the bare loop."""
    from hardware.maestro_pty import SimProcess
    from robot.config import Config, LoopSection, RobotSection, ServoSection, WorkersSection
    from robot.runtime import Runtime
    from robot.supervisor import Supervisor, WorkerSpec

    seconds, rate = float(args.seconds), int(args.rate)
    specs = [WorkerSpec(f"busy{i}", "robot.workers.diagnostic:DiagnosticWorker",
                        {"duty": 0.95, "report_hz": 30}) for i in range(int(args.workers))]
    progress(f"bench loop: bare loop for {seconds:.0f} s with {len(specs)} busy workers...")
    sup = Supervisor(specs, WorkersSection())
    sup.start()
    poll_until(lambda: all(h.state == "running" for h in sup.health().values()), 20)
    bare = bare_loop(seconds, rate, realtime=True)
    sup.stop()

    progress(f"bench loop: full control loop for {seconds:.0f} s with {len(specs)} busy workers...")
    # The board is simulated in its own process, as a real board is outside the computer: an
    # in-process simulator thread would compete with the loop for the GIL, which no robot does.
    with tempfile.TemporaryDirectory(prefix="carebot-bench-") as tmp, SimProcess() as board:
        config = Config(robot=RobotSection(state_dir=Path(tmp)), loop=LoopSection(rate_hz=rate),
                        servo=ServoSection(driver="maestro", port=board.port), quiet_hours=AWAKE)
        runtime = Runtime(config, workers=specs)
        runtime.start()
        try:
            poll_until(lambda: runtime.behaviour.state != "booting", 30)
            time.sleep(0.5)
            window, window_s = talk_for(runtime, seconds)
            stats: dict[str, Any] = window.summary()
            messages = runtime.messages_received
            transitions = len(runtime.behaviour.history)
        finally:
            runtime.stop()
    ratio = stats["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else None
    return {
        "benchmark": "loop", "rate_hz": rate, "seconds": seconds, "window_s": round(window_s, 3),
        "busy_workers": len(specs),
        "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"], "max_ms": stats["max_ms"],
        "missed_ticks": stats["missed_ticks"], "overruns": stats["overruns"], "ticks": stats["ticks"],
        "work_max_ms": stats["work_max_ms"], "sched_fifo": stats["sched_fifo"],
        "worker_messages": messages, "transitions": transitions,
        "bare": {k: bare[k] for k in ("p50_ms", "p99_ms", "max_ms", "missed_ticks", "ticks", "sched_fifo")},
        "p99_ratio_to_bare": round(ratio, 2) if ratio is not None else None,
        "targets_met": {
            "p99_le_1ms": stats["p99_ms"] <= 1.0, "max_le_5ms": stats["max_ms"] <= 5.0,
            "no_missed_ticks": stats["missed_ticks"] == 0,
            "p99_le_3x_bare": ratio is not None and ratio <= 3.0,
        },
        **machine(),
    }


def bench_servo(args: argparse.Namespace) -> dict[str, Any]:
    """Driver round trip and write rate against bare pyserial, through the simulator's pty."""
    import serial

    from hardware.maestro import MaestroBus
    from hardware.maestro_protocol import Framing
    from hardware.maestro_pty import SimProcess

    count = int(args.count)
    framing = Framing()
    query = framing.get_position(0)
    targets = {0: 1500.0, 1: 1500.0, 2: 1600.0}
    packet = MaestroBus("unused").packet(targets)
    with SimProcess() as sim:  # the board lives outside this process, as real hardware does
        progress(f"bench servo: {count} round trips and writes, bare pyserial and the driver interleaved...")
        bare_port = serial.Serial(sim.port, 115200, timeout=0.1, write_timeout=0.05)
        bus = MaestroBus(sim.port, reply_timeout_s=0.1)
        bus.open()
        # Interleaved, so both see the same board, buffers and machine load.
        bare_rtt, drv_rtt = _timed_pair(count, lambda: (bare_port.write(query), bare_port.read(2)),
                                        lambda: bus.get_position(0))
        bare_write, drv_write = _timed_pair(count, lambda: bare_port.write(packet),
                                            lambda: bus.write_targets(targets))
        bus.close()
        bare_port.close()

    def summary(samples: list[float]) -> dict[str, float]:
        samples = sorted(samples)
        return {"p50_us": round(statistics.median(samples) * 1e6, 1),
                "p99_us": round(samples[int(len(samples) * 0.99) - 1] * 1e6, 1),
                "rate_per_s": round(len(samples) / sum(samples), 1)}

    rtt, brtt = summary(drv_rtt), summary(bare_rtt)
    wr, bwr = summary(drv_write), summary(bare_write)
    overhead_rtt = rtt["p50_us"] / brtt["p50_us"] - 1
    overhead_write = wr["p50_us"] / bwr["p50_us"] - 1
    return {
        "benchmark": "servo", "count": count,
        "driver_round_trip": rtt, "bare_round_trip": brtt,
        "driver_write": wr, "bare_write": bwr,
        "round_trip_overhead": round(overhead_rtt, 3), "write_overhead": round(overhead_write, 3),
        "targets_met": {"round_trip_overhead_lt_10pct": overhead_rtt < 0.10},
        **machine(),
    }


def _timed_pair(count: int, bare: Callable[[], object],
                subject: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Time two operations alternately, `count` times each; a short pause lets the board drain."""
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter
    for i in range(count):
        for op, out in ((bare, a), (subject, b)) if i % 2 else ((subject, b), (bare, a)):
            t0 = clock()
            op()
            out.append(clock() - t0)
        if i % 50 == 49:
            time.sleep(0.002)
    return a, b


def bench_mqtt(args: argparse.Namespace) -> dict[str, Any]:
    """Alert latency, backlog drain and outbox cost against a real mosquitto (robot/bench/mqtt.py)."""
    from robot.bench import mqtt as mqtt_bench

    return {**mqtt_bench.bench_mqtt(args), **machine()}


def bench_vision(args: argparse.Namespace) -> dict[str, Any]:
    """Engagement pipeline rate, face-to-engaged latency and idle CPU (robot/bench/vision.py)."""
    from robot.bench import vision as vision_bench

    return {**vision_bench.bench_vision(args), **machine()}


def bench_speech(args: argparse.Namespace) -> dict[str, Any]:
    """Recognition real-time factor and end-of-speech-to-audio latency (robot/bench/speech.py)."""
    from robot.bench import speech as speech_bench

    return {**speech_bench.bench_speech(args), **machine()}


def bench_bargein(args: argparse.Namespace) -> dict[str, Any]:
    """Help and stop during robot speech, echo cancellation on and off (robot/bench/bargein.py)."""
    from robot.bench import bargein as bargein_bench

    return {**bargein_bench.bench_bargein(args), **machine()}


def bench_faults(args: argparse.Namespace) -> dict[str, Any]:
    """The fault matrix against a real mosquitto and staff subscriber (robot/bench/faults.py)."""
    from robot.bench import faults as faults_bench

    return {**faults_bench.bench_faults(args), **machine()}


def bench_understanding(args: argparse.Namespace) -> dict[str, Any]:
    """Help recall, false help, accuracy per context and time per utterance on the corpus
    (robot/bench/understanding.py)."""
    from robot.bench import understanding as understanding_bench

    return {**understanding_bench.bench_understanding(args), **machine()}


def bench_staffweb(args: argparse.Namespace) -> dict[str, Any]:
    """An alert from a robot to its row on the staff page, against MQTT alone (robot/bench/staffweb.py)."""
    from robot.bench import staffweb as staffweb_bench

    return {**staffweb_bench.bench_staffweb(args), **machine()}


def bench_fleet(args: argparse.Namespace) -> dict[str, Any]:
    """A care group: homes bridged to a centre, alert latency against the home broker (robot/bench/fleet.py)."""
    from robot.bench import fleet as fleet_bench

    return {**fleet_bench.bench_fleet(args), **machine()}


def bench_nursecall(args: argparse.Namespace) -> dict[str, Any]:
    """A help alert from the robot to the paging system's ACK through the ESPA gateway (robot/bench/nursecall.py)."""
    from robot.bench import nursecall as nursecall_bench

    return {**nursecall_bench.bench_nursecall(args), **machine()}


def bench_screen(args: argparse.Namespace) -> dict[str, Any]:
    """Caption latency on the resident's screen, and the loop with its browser stalled (robot/bench/screen.py)."""
    from robot.bench import screen as screen_bench

    return {**screen_bench.bench_screen(args), **machine()}


def bench_soak(args: argparse.Namespace) -> dict[str, Any]:
    """The day in the life over and over: memory growth, missed ticks, restarts, alerts lost (robot/bench/soak.py)."""
    from robot.bench import soak as soak_bench

    return {**soak_bench.bench_soak(args), **machine()}


def bench_resources(args: argparse.Namespace) -> dict[str, Any]:
    """The whole robot with speech and vision: idle CPU, memory against bare Vosk, start to READY
    (robot/bench/resources.py)."""
    from robot.bench import resources as resources_bench

    return {**resources_bench.bench_resources(args), **machine()}


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "soak": bench_soak,
    "resources": bench_resources,
    "faults": bench_faults,
    "understanding": bench_understanding,
    "speech": bench_speech,
    "bargein": bench_bargein,
    "vision": bench_vision,
    "loop": bench_loop,
    "servo": bench_servo,
    "mqtt": bench_mqtt,
    "screen": bench_screen,
    "nursecall": bench_nursecall,
    "fleet": bench_fleet,
    "staffweb": bench_staffweb,
}
