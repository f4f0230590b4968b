"""`carebot selftest`: a technician's check of an installed robot, one part at a time.

Each check uses the configured devices the way the robot does and says what it found, or
what is wrong and how to fix it. A failed check never stops the others. Nothing heard or
seen is kept: the microphone level is computed in memory, camera frames are dropped, and
the test sentence is written to a temporary file that is deleted at once (or, with
--audible, played on the sound card). The robot must not be running on the same devices:
the servo port and camera are opened exclusively, and the head moves to neutral.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from hardware.poll import poll_until
from robot.selftest_base import Check, Context, Fail, Skip, Warn, config_of
from robot.selftest_devices import (
    check_camera,
    check_loudspeaker,
    check_mqtt,
    check_nursecall,
    check_servo,
    check_speech_in,
    check_speech_out,
)
from robot.selftest_screen import check_screen

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
CHECKS = ("config", "storage", "board", "dialogs", "realtime", "workers", "servo", "speech_out", "loudspeaker",
          "speech_in", "camera", "screen", "mqtt", "nursecall")


# -- the checks ---------------------------------------------------------------------------------------


def check_config(ctx: Context) -> str:
    from robot.config_load import check_config as problems_in

    problems = problems_in(ctx.path)
    if problems:
        shown = "; ".join(str(p) for p in problems[:3])
        raise Fail(f"{len(problems)} problem(s): {shown}. Run: carebot config check {ctx.path}")
    from robot.config_load import load_config

    ctx.config = load_config(ctx.path)
    cfg = ctx.config
    return (f"{ctx.path}: robot {cfg.robot.id} at site {cfg.robot.site}, room {cfg.robot.room}, "
            f"language {cfg.robot.language}")


def check_storage(ctx: Context) -> str:
    from robot.audit import verify

    cfg = config_of(ctx)
    state = Path(cfg.robot.state_dir)
    try:
        state.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state, prefix=".selftest-") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise Fail(f"cannot write to the state directory {state}: {exc.strerror}. It must be writable by the "
                   "robot's user (the systemd unit's StateDirectory makes /var/lib/carebot).") from None
    free_mb = shutil.disk_usage(state).free / 1e6
    audit = state / "audit.jsonl"
    chain = ""
    if audit.exists():
        result = verify(audit)
        if not result.ok:
            raise Fail(f"the audit log {audit} is damaged: {result.problem} (after {result.records} good records)")
        chain = f"; audit log intact ({result.records} records)"
    if free_mb < cfg.mqtt.outbox_min_free_mb:
        raise Warn(f"{state}: only {free_mb:.0f} MB free, below mqtt.outbox_min_free_mb "
                   f"({cfg.mqtt.outbox_min_free_mb} MB): activity events will be dropped (alerts never are){chain}")
    return f"{state} writable, {free_mb:.0f} MB free{chain}"


def check_board(ctx: Context) -> str:
    """Power, throttling (now and since boot), CPU temperature and free space, as the robot watches them."""
    from hardware.pi_health import BoardHealth

    cfg = config_of(ctx)
    reading = BoardHealth(cfg.health.sys_root, Path(cfg.robot.state_dir)).read()
    text = reading.describe()
    if reading.under_voltage:
        raise Fail(text + ". Under-voltage now: use the official 5.1 V supply and a short, thick cable")
    if reading.problem:
        raise Warn(text)
    if not reading.is_pi:
        raise Skip(text + ": the Raspberry Pi's power and throttling checks do not apply here")
    if reading.slowed or (reading.throttled or 0) >> 16:
        raise Warn(text + ". Check the supply (under-voltage) and the cooling (throttling)")
    if reading.free_mb is not None and reading.free_mb < cfg.health.min_free_mb:
        raise Warn(text + f". Below health.min_free_mb ({cfg.health.min_free_mb} MB)")
    return text


def check_dialogs(ctx: Context) -> str:
    from robot.dialog_help_check import load_checked_pack
    from robot.dialogs import INTENTS, DialogError

    cfg = config_of(ctx)
    folder = Path(cfg.dialogs.path) / cfg.robot.language
    try:
        pack = load_checked_pack(folder)  # as the robot's start reads it
    except DialogError as exc:
        raise Fail(f"{len(exc.problems)} problem(s), first: {exc.problems[0]}. Run: carebot dialogs check {folder}"
                   ) from None
    return f"{folder}: {len(INTENTS)} intents, {len(pack.responses)} responses"


def check_realtime(ctx: Context) -> str:
    from robot.loop import ControlLoop

    cfg = config_of(ctx)
    loop = ControlLoop(lambda now_ns, dt: None, cfg.loop.rate_hz, realtime=cfg.loop.realtime,
                       rt_priority=cfg.loop.rt_priority, name="selftest-loop")
    stats = loop.run_for(min(ctx.seconds, 2.0))
    h = stats.histogram.summary()
    text = (f"{cfg.loop.rate_hz} Hz for {min(ctx.seconds, 2.0):.0f} s: lateness p99 {h['p99_ms']} ms, "
            f"max {h['max_ms']} ms, {stats.missed_ticks} missed; SCHED_FIFO {'yes' if stats.realtime else 'no'}")
    if not stats.realtime and cfg.loop.realtime != "off":
        raise Warn(text + ". Real-time scheduling was refused: run as the systemd service (LimitRTPRIO) "
                   "or grant rtprio in /etc/security/limits.d")
    if stats.missed_ticks or float(h["p99_ms"]) > 1.0:
        raise Warn(text + ". The loop is late: is something else loading this board?")
    return text


def check_workers(ctx: Context) -> str:
    from robot.supervisor import Supervisor, WorkerSpec

    cfg = config_of(ctx)
    sup = Supervisor([WorkerSpec("selftest", "robot.workers.diagnostic:DiagnosticWorker", {})], cfg.workers)
    sup.start()
    try:
        if not poll_until(lambda: any(m.kind == "ready" for m in sup.drain()), cfg.workers.start_timeout_s):
            raise Fail(f"a worker process did not start in {cfg.workers.start_timeout_s:.0f} s")
        t0 = time.monotonic()
        sup.send("selftest", "echo", n=1)
        if not poll_until(lambda: any(m.kind == "echo" for m in sup.drain()), 5):
            raise Fail("a worker process started but did not answer")
        rtt = (time.monotonic() - t0) * 1000
    finally:
        sup.stop()
    return f"a supervised worker process starts, answers in {rtt:.1f} ms and stops cleanly"


RUNNERS: dict[str, Callable[[Context], str]] = {
    "config": check_config, "storage": check_storage, "board": check_board, "dialogs": check_dialogs,
    "realtime": check_realtime, "workers": check_workers, "servo": check_servo, "speech_out": check_speech_out,
    "loudspeaker": check_loudspeaker, "speech_in": check_speech_in, "camera": check_camera, "screen": check_screen,
    "mqtt": check_mqtt, "nursecall": check_nursecall,
}


def run(ctx: Context, only: list[str], out: TextIO | None) -> list[Check]:
    """Run the checks in order; print each as it finishes when `out` is given."""
    names = [n for n in CHECKS if n == "config" or not only or n in only]
    results = []
    live = out is not None and out.isatty()
    for i, name in enumerate(names, 1):
        if live:
            print(f"[{i:2d}/{len(names)}] {name:10s} ...", end="", file=out, flush=True)
        t0 = time.monotonic()
        try:
            status, detail = PASS, RUNNERS[name](ctx)
        except Skip as exc:
            status, detail = SKIP, str(exc)
        except Warn as exc:
            status, detail = WARN, str(exc)
        except Fail as exc:
            status, detail = FAIL, str(exc)
        except Exception as exc:  # a check that breaks is a failed check, never a traceback
            status, detail = FAIL, f"{type(exc).__name__}: {exc}"
        result = Check(name, status, detail, round(time.monotonic() - t0, 2))
        results.append(result)
        if out is not None:
            print(f"{chr(13) if live else ''}[{i:2d}/{len(names)}] {name:10s} {status}  {detail}", file=out, flush=True)
    return results


def cmd_selftest(args: argparse.Namespace) -> int:
    """Check every part of the robot; exit 1 if any check failed."""
    from robot.config_load import default_config

    unknown = [n for n in args.only or [] if n not in CHECKS]
    if unknown:
        print(f"carebot selftest: no check {', '.join(unknown)}; checks: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    ctx = Context(Path(args.config or default_config()), None, args.sim, args.audible, args.seconds)
    results = run(ctx, args.only or [], None if args.json else sys.stdout)
    failed = [r for r in results if r.status == FAIL]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(r) for r in results]}, indent=1, ensure_ascii=False))
    else:
        counts = {s: sum(r.status == s for r in results) for s in (PASS, WARN, FAIL, SKIP)}
        print(", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) + (": fix the failures above" if failed
                                                                              else ": ready"))
    return 1 if failed else 0


def add_parser(sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    text = ("check every part of the robot: config, storage, board health, dialogs, timing, workers, servos, speech, "
            "loudspeaker, camera, the resident's screen, MQTT, nurse call")
    p = with_config(sub.add_parser("selftest", help=text, description=text + ". Stop the robot first."))
    p.add_argument("--sim", action="store_true",
                   help="use the simulated servo board, sound card and paging system instead of the configured ones")
    p.add_argument("--only", nargs="+", metavar="CHECK", help=f"run only these checks ({', '.join(CHECKS)})")
    p.add_argument("--audible", action="store_true", help="say the test sentence on the sound card")
    p.add_argument("--seconds", type=float, default=2.0, help="how long the timing check runs")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_selftest)
