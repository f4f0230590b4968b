"""The benchmarks run and report their figures beside a same-run baseline (the figures are in
docs/benchmarks.md; these tests check the machinery, never the speed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def bench(*args: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-m", "robot.cli", "bench", *args, "--json"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def test_bench_loop_measures_the_robot_and_the_bare_loop() -> None:
    result = bench("loop", "--seconds", "1", "--workers", "1")
    assert result["rate_hz"] == 100 and result["busy_workers"] == 1
    window = float(result["window_s"])  # type: ignore[arg-type]  # a second asked for, as slept on this machine
    assert 1.0 <= window and 90 <= int(result["ticks"]) <= window * 100 + 1  # type: ignore[call-overload]
    bare = result["bare"]
    assert isinstance(bare, dict) and 90 <= bare["ticks"] <= 101
    assert int(result["transitions"]) > 0  # type: ignore[call-overload]  # the script drove the state machine
    assert result["p99_ratio_to_bare"] is not None
    assert set(result["targets_met"]) == {"p99_le_1ms", "max_le_5ms", "no_missed_ticks", "p99_le_3x_bare"}  # type: ignore[arg-type]


def test_bench_servo_compares_the_driver_with_bare_pyserial() -> None:
    result = bench("servo", "--count", "200")
    assert result["count"] == 200
    for key in ("driver_round_trip", "bare_round_trip", "driver_write", "bare_write"):
        figures = result[key]
        assert isinstance(figures, dict) and figures["p50_us"] > 0 and figures["rate_per_s"] > 0
    assert isinstance(result["round_trip_overhead"], float)



def test_bench_screen_times_captions_against_a_bare_event_and_the_loop_with_the_browser_stalled() -> None:
    result = bench("screen", "--seconds", "1", "--workers", "0", "--count", "3")
    assert result["caption_latency"]["n"] == result["bare_sse_round_trip"]["n"] == 3  # type: ignore[index]
    assert result["p50_ratio_to_bare"] is not None
    loop = result["loop"]
    assert isinstance(loop, dict) and set(loop) == {"live", "stalled", "disconnected"}
    assert all(phase["seconds"] == 1.0 and 1.0 <= phase["window_s"]  # a second asked for, as slept here
               and 0 < phase["ticks"] <= phase["window_s"] * 100 + 1 for phase in loop.values())  # 100 Hz
    assert result["screen_worker_running_after"] is True  # a stalled, then killed, browser never took it down


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/setup.sh)")
def test_bench_staffweb_times_every_alert_to_the_page_and_over_mqtt() -> None:
    result = bench("staffweb", "--alerts", "20")
    assert result["alerts"] == result["rows_seen"] == result["mqtt_seen"] == 20  # every row seen, none lost
    assert 0 < result["mqtt_p50_ms"] <= result["mqtt_p99_ms"]  # type: ignore[operator]
    assert 0 < result["page_p50_ms"] <= result["page_p99_ms"]  # type: ignore[operator]
    assert result["ratio_p99"] == round(result["page_p99_ms"] / result["mqtt_p99_ms"], 2)  # type: ignore[operator]
    assert 20 < result["web_rss_mb"] < 500  # type: ignore[operator]  # the web process, measured while it ran


def test_soak_and_resources_refuse_a_baseline_or_a_window_that_failed(tmp_path: Path) -> None:
    """No silent failures: a baseline that died, or a robot whose processes changed while measured, is an
    error saying so, not a figure (a dead bare process weighed 0 KiB; a crashed robot idled on nothing)."""
    from robot.bench.resources import bare_vosk, same_processes
    from robot.bench.soak import _bare_result

    with pytest.raises(RuntimeError, match="could not load the Vosk model"):
        bare_vosk(tmp_path / "no-model")
    with pytest.raises(RuntimeError, match="exited .status 1."):
        same_processes([10, 11], [10, 11], 1)
    with pytest.raises(RuntimeError, match=r"ended \[11\] or began \[12\]"):
        same_processes([10, 11], [10, 12], None)
    same_processes([10, 11], [11, 10], None)
    failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdout=subprocess.PIPE, text=True)
    with pytest.raises(RuntimeError, match="baseline.*exit status 3"):
        _bare_result(failed, 1.0)
    fine = subprocess.Popen([sys.executable, "-c", "print('{\"missed_ticks\": 2}')"], stdout=subprocess.PIPE,
                            text=True)
    assert _bare_result(fine, 1.0) == 2
