"""`carebot bench resources`: the whole robot's idle CPU, memory and time to READY.

The robot is `carebot sim --speech ko` as a technician starts it (the real control process and its
speech-in, speech-out and vision workers; the Korean Vosk model; the simulated camera filming an empty
room, so nobody is present), started as a process of its own. Measured:

- start to READY: from starting the command to its console line `booting -> idle (booted)`, which the
  robot prints once its workers have reported ready;
- idle CPU: user and system time of all its processes (the control process and every descendant) over
  `--seconds`, as a percentage of one core;
- memory: resident set (RSS) and proportional set (PSS, shared pages divided among their sharers) of all
  its processes together, against a process that only loads the same Vosk model, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from robot.bench.drive import progress

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "booting -> idle"
READY_TIMEOUT_S = 120.0
SETTLE_S = 5.0  # after READY, before idle CPU is measured: the first frames and the grammar
TICKS = os.sysconf("SC_CLK_TCK")
BARE_VOSK = ("import sys, time, vosk; vosk.SetLogLevel(-1); m = vosk.Model(sys.argv[1]); "
             "r = vosk.KaldiRecognizer(m, 16000); print('loaded', flush=True); time.sleep(600)")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants now alive."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_s(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def memory_kb(pids: list[int]) -> dict[str, int]:
    """RSS and PSS of these processes together, KiB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return {"rss_kb": rss, "pss_kb": pss}


def same_processes(before: list[int], after: list[int], exited: int | None) -> None:
    """Raise if the robot exited or a process of it ended or began while idle CPU was measured.

    The CPU a gone process used is not read at the end, so the figure would come out low, and a robot
    that crashed would seem to idle on nothing and meet every target.
    """
    if exited is not None:
        raise RuntimeError(f"the robot exited (status {exited}) while its idle CPU was measured")
    if sorted(before) != sorted(after):
        raise RuntimeError(f"processes of the robot ended {sorted(set(before) - set(after))} or began "
                           f"{sorted(set(after) - set(before))} while its idle CPU was measured (a worker "
                           "restarted?): the figure would not be the robot's")


def bare_vosk(model: Path) -> dict[str, Any]:
    """The floor: a process that only loads the model (and a recogniser on it), measured once loaded; and
    how long that took from its start (READY cannot come sooner: the robot waits for speech in)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", BARE_VOSK, str(model)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "loaded":  # it died: its 0 KiB and its time are no floor
            raise RuntimeError(f"the bare process could not load the Vosk model {model} "
                               f"(exit status {proc.wait()}): no baseline, so no figures")
        loaded = time.monotonic() - t0
        time.sleep(1.0)
        return {**memory_kb([proc.pid]), "load_s": loaded}
    finally:
        proc.kill()
        proc.wait()


def _config(tmp: Path) -> Path:
    """The simulator's config with its camera on an empty room (nobody present)."""
    text = (ROOT / "config" / "carebot.toml").read_text()
    text = text.replace('scene = "demo"', 'scene = "empty"', 1).replace('"../dialogs"', f'"{ROOT}/dialogs"')
    path = tmp / "carebot.toml"
    path.write_text(text)
    return path


def bench_resources(args: argparse.Namespace) -> dict[str, Any]:
    """Idle CPU, memory against a bare Vosk process, and start to READY of `carebot sim --speech ko`."""
    from robot.sim_speech import packaged_model

    seconds = float(args.seconds)
    model = packaged_model("ko")
    progress("bench resources: a bare process loading the Korean Vosk model...")
    bare = bare_vosk(model)
    with tempfile.TemporaryDirectory(prefix="carebot-resources-") as name:
        tmp = Path(name)
        env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
        command = [sys.executable, "-m", "robot.cli", "sim", "--speech", "ko", "--config", str(_config(tmp)),
                   "--state-dir", str(tmp / "state"), "--no-console", "--console", "line"]
        progress("bench resources: carebot sim --speech ko, vision on, nobody present...")
        t0 = time.monotonic()
        robot = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        ready = threading.Event()
        tail: list[str] = []

        def read() -> None:
            assert robot.stdout is not None
            for line in robot.stdout:
                tail[:] = [*tail[-20:], line.rstrip()]
                if READY_LINE in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(READY_TIMEOUT_S):
                raise RuntimeError(f"the robot was not READY within {READY_TIMEOUT_S:.0f} s:\n" + "\n".join(tail))
            to_ready = time.monotonic() - t0
            time.sleep(SETTLE_S)
            pids = tree(robot.pid)
            progress(f"bench resources: READY after {to_ready:.1f} s; idle CPU over {seconds:g} s "
                     f"({len(pids)} processes)...")
            c0, w0 = cpu_s(pids), time.monotonic()
            time.sleep(seconds)
            same_processes(pids, tree(robot.pid), robot.poll())
            cpu = (cpu_s(pids) - c0) / (time.monotonic() - w0)
            mem = memory_kb(pids)
            names = _worker_names(tmp / "state" / "status.json")
            per_process = {names.get(p, "control" if p == robot.pid else str(p)): memory_kb([p])["pss_kb"]
                           for p in pids}
        finally:
            robot.terminate()
            try:
                robot.wait(20)
            except subprocess.TimeoutExpired:
                robot.kill()
    above_rss = (mem["rss_kb"] - bare["rss_kb"]) / 1024
    above_pss = (mem["pss_kb"] - bare["pss_kb"]) / 1024
    return {
        "benchmark": "resources", "idle_seconds": seconds, "processes": len(pids),
        "start_to_ready_s": round(to_ready, 2), "bare_vosk_start_to_loaded_s": round(bare["load_s"], 2),
        "ready_ratio_to_bare_load": round(to_ready / bare["load_s"], 2),
        "idle_cpu_pct_of_one_core": round(cpu * 100, 1),
        "robot_rss_mb": round(mem["rss_kb"] / 1024, 1), "robot_pss_mb": round(mem["pss_kb"] / 1024, 1),
        "bare_vosk_rss_mb": round(bare["rss_kb"] / 1024, 1), "bare_vosk_pss_mb": round(bare["pss_kb"] / 1024, 1),
        "above_bare_rss_mb": round(above_rss, 1), "above_bare_pss_mb": round(above_pss, 1),
        "pss_kb_by_process": per_process,
        "targets_met": {"idle_cpu_le_15pct": cpu * 100 <= 15, "memory_le_250mb_above_bare": above_pss <= 250,
                        "ready_le_5s": to_ready <= 5},
    }


def _worker_names(status: Path) -> dict[int, str]:
    """Worker process ids by name, from the robot's status file (its own account of its workers)."""
    import json

    try:
        workers = json.loads(status.read_text())["workers"]
    except (OSError, ValueError, KeyError):
        return {}
    return {int(h["pid"]): name for name, h in workers.items() if h.get("pid")}
