"""Plays a scenario (robot.scenario) against the real control process and its workers.

`carebot sim --scenario FILE [--check]` builds the simulator's config with the scenario's changes,
starts a real mosquitto (the site set-up of scripts/broker-setup.sh) and a staff station when the
scenario asks for a broker, runs the robot in this process (the servo board on its pty, the workers
as processes, the simulated camera filming a stage whose people come and go when a step says), and
plays the steps through the robot's real doors: the console's lines (robot.console) for what a
resident and a technician do, the fault door (robot.fault_door) for the camera, real staff commands
over MQTT, real signals to worker processes, the broker stopped and started. Each step's outcomes are
judged by robot.scenario_check. With --check the robot stops afterwards and the exit status says
whether every step passed; without it the robot is left running with the console, its clock at the
scenario's `then_speed`.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import shlex
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot import console
from robot.clock import ClockError
from robot.config import Config
from robot.dialogs import load_pack
from robot.fault_door import FaultDoor
from robot.runtime import Runtime
from robot.scenario import Scenario, ScenarioError, Step, load
from robot.scenario_check import Mark, Observer, judge, unknown_channels

POLL_S = 0.02
BOOT_TIMEOUT_S = 90.0
QUIET_FIRST = ("say", "hear", "play", "button", "clock")  # steps that first wait for the robot to finish speaking
QUIET_TIMEOUT_S = 60.0
MAX_WAIT_S = 300.0  # the longest real wait a step's `at` or `wait` may ask for
# What the robot may write to its state directory; a scenario may allow more (`files`).
ALLOWED = ("audit.jsonl", "status.json", "status.tmp", "outbox.sqlite", "outbox.sqlite-wal", "outbox.sqlite-shm",
           "sim/maestro", "speech/*.wav", "phrases/*.wav")

Write = Callable[[str], None]


class StepFailed(Exception):
    """A step whose outcome was not the expected one."""


class Stage:
    """The world around the robot for one scenario: its config, and a broker and staff station if asked."""

    def __init__(self, path: Path, base: Config, *, start: dt.datetime | None = None,
                 speed: float | None = None) -> None:
        self.path = path
        self.scenario: Scenario = load(path)
        self.speed = speed or self.scenario.speed
        self.broker: Any = None
        self.staff: Any = None
        self._dir = tempfile.TemporaryDirectory(prefix="carebot-scenario-")
        sim = {"start": start or self.scenario.start, "speed": 1.0}  # the scenario's speed once booted
        self.config = self._config(base, sim)

    def _config(self, base: Config, sim: dict[str, Any]) -> Config:
        from robot import sim_speech
        from robot.errors import ConfigError

        data = base.model_dump(exclude={"source"})
        data["vision"] = {**data["vision"], "enabled": True, "camera": "scene", "scene": "stage"}
        data["sim"] = sim
        if self.scenario.broker:
            from robot.fault_matrix import ROBOT, SITE, Broker, Staff

            self.broker = Broker(Path(self._dir.name) / "broker")
            self.staff = Staff(self.broker)
            data["robot"] = {**data["robot"], "id": ROBOT, "site": SITE}
            data["mqtt"] = {"enabled": True, "host": "localhost", "port": self.broker.port, "tls": True,
                            "ca_file": self.broker.dir / "ca.crt", "username": ROBOT,
                            "password_file": self.broker.secret(ROBOT), "heartbeat_s": 5, "outbox_min_free_mb": 1}
        for section, values in self.scenario.config.items():
            data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
        try:
            config = Config.model_validate(data)
        except Exception as exc:  # pydantic's errors, named by the scenario file
            raise ScenarioError([f"{self.path}: config: {line}" for line in str(exc).splitlines()[1:]]) from None
        if self.scenario.speech:
            try:
                twins = self.scenario.speech == "twins"
                config = sim_speech.prepare(config, speech=None if twins else self.scenario.speech, twins=twins)
            except ConfigError as exc:
                raise ScenarioError([f"{self.path}: speech: {p}" for p in exc.problems]) from None
        return config

    def close(self) -> None:
        """Stop the staff station and the broker, and remove their files."""
        for step in (getattr(self.staff, "close", None), getattr(self.broker, "stop", None), self._dir.cleanup):
            if step is not None:
                try:
                    step()
                except Exception:  # tear down everything we can
                    pass


class Player:
    """Plays one scenario's steps against a started runtime and judges each."""

    def __init__(self, stage: Stage, runtime: Runtime, write: Write, stop: threading.Event | None = None) -> None:
        self.stage = stage
        self.stop = stop or threading.Event()  # Ctrl-C: the play ends at once
        self.scenario = stage.scenario
        self.rt = runtime
        self.write = write
        self.door = FaultDoor(runtime)
        self.obs = Observer(runtime, stage.staff)
        self.began = time.time()
        self._check_keys()

    def _check_keys(self) -> None:
        """Reply keys and servo channels a step names must exist, before anything is played."""
        responses = set(load_pack(Path(self.rt.config.dialogs.path) / self.rt.config.robot.language).responses)
        problems = []
        for n, step in enumerate(self.scenario.steps, 1):
            unknown = [k for k in (*step.expect.said, *step.expect.not_said) if k not in responses]
            if unknown:
                problems.append(f"{self.stage.path}: {label(n, step)}: expect.said: no reply {', '.join(unknown)} "
                                f"in the {self.rt.config.robot.language} pack")
            channels = unknown_channels(step.expect, self.obs)
            if channels:
                problems.append(f"{self.stage.path}: {label(n, step)}: expect: no servo channel "
                                f"{', '.join(channels)}; this robot has {', '.join(self.obs.channels)}")
        if problems:
            raise ScenarioError(problems)

    def play(self) -> bool:
        """Every step in turn; False at the first that fails (its message already written)."""
        t0 = time.monotonic()
        self.began = time.time() - 1.0  # file times are wall-clock (and coarse)
        clock = self.rt.clock
        try:
            self._boot()
            clock.set_speed(self.stage.speed)
            self.write(f"scenario {self.scenario.name}: {len(self.scenario.steps)} steps, clock "
                       f"{clock.now():%Y-%m-%d %H:%M} at {self.stage.speed:g}x")
            for n, step in enumerate(self.scenario.steps, 1):
                began = time.monotonic()
                measured = self._step(n, step)
                self.write(f"  ok  {label(n, step)} ({time.monotonic() - began:.1f} s, clock {clock.now():%H:%M})"
                           + (f": {measured}" if measured else ""))
            self._check_files()
        except StepFailed as exc:
            self.write(f"FAIL {self.stage.path}: {exc}")
            return False
        finally:
            clock.set_speed(self.scenario.then_speed)
        self.write(f"scenario {self.scenario.name}: every step passed in {time.monotonic() - t0:.1f} s")
        return True

    def _boot(self) -> None:
        end = time.monotonic() + BOOT_TIMEOUT_S
        while self.rt.behaviour.state == "booting":
            if time.monotonic() > end:
                raise StepFailed(f"the robot did not finish booting within {BOOT_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        if self.stage.staff is not None and not self.stage.staff.subscribed.wait(10):
            raise StepFailed("the staff station did not subscribe to the broker within 10 s")

    def _step(self, n: int, step: Step) -> str:
        where = label(n, step)
        self._wait(where, step)
        if step.action in QUIET_FIRST:
            self._quiet(where)
        mark = self.obs.mark()
        try:
            self._act(step)
        except (ClockError, ValueError, KeyError) as exc:
            raise StepFailed(f"{where}: {step.action}: {exc}") from None
        return self._expect(where, step, mark)

    def _wait(self, where: str, step: Step) -> None:
        clock = self.rt.clock
        seconds = step.wait or 0.0
        if step.at is not None:
            now = clock.now()
            when = dt.datetime.combine(now.date(), dt.time.fromisoformat(step.at.zfill(5)))
            seconds += max(0.0, when.timestamp() - now.timestamp())  # epoch seconds: right across summer time
        real = seconds / clock.speed
        if real > MAX_WAIT_S:
            raise StepFailed(f"{where}: waiting {seconds / 60:.0f} robot minutes takes {real:.0f} s at "
                             f"{clock.speed:g}x; advance the clock (clock: HH:MM) instead")
        if self.stop.wait(real):
            raise StepFailed("stopped")

    def _quiet(self, where: str) -> None:
        """Wait for the robot to finish what it is saying, as a resident would before speaking."""
        end = time.monotonic() + QUIET_TIMEOUT_S
        while self.rt.speech.busy:
            if time.monotonic() > end:
                raise StepFailed(f"{where}: the robot was still speaking after {QUIET_TIMEOUT_S:.0f} s")
            if self.stop.wait(POLL_S):
                raise StepFailed("stopped")

    def _act(self, step: Step) -> None:
        rt, stage = self.rt, self.stage
        if step.person is not None:
            self._console(f"person {step.person} {step.who} {step.x}")
        elif step.say is not None:
            self._console(f"say {step.say}")  # the words as typed (the console reads them so)
        elif step.hear is not None:
            self._console(f"hear {step.hear}")  # the words as typed (the console reads them so)
        elif step.play is not None:
            wav = (self.stage.path.parent / step.play) if step.play.lower().endswith(".wav") else None
            self._console(f"play {shlex.quote(str(wav) if wav else step.play)}")
        elif step.staff is not None:
            fields = {"alert_id": self._open_alert(step.alert)} if step.staff in ("ack", "resolve") else {}
            stage.staff.send(step.staff, **fields)
        elif step.button is not None:
            self._console("button")
        elif step.servo is not None:
            self._console({"unplug": "unplug", "replug": "replug", "silent": "silent on",
                           "answer": "silent off"}[step.servo])
        elif step.broker == "stop":
            stage.broker.stop()
        elif step.broker == "start":
            stage.broker.start()
        elif step.camera is not None:
            self._console("fault camera " + ("unplug" if step.camera == "lost" else "replug"))
        elif step.crash is not None:
            pid = rt.supervisor.health()[step.crash].pid
            if not pid:
                raise ValueError(f"worker {step.crash} is not running")
            os.kill(pid, signal.SIGKILL)
        elif step.hang is not None:
            rt.supervisor.send(step.hang, "simulate_hang")
        elif step.clock is not None:
            if step.clock.startswith("+"):
                rt.clock.advance(float(step.clock[1:]) * 60)
            else:
                rt.clock.advance_to(dt.time.fromisoformat(step.clock.zfill(5)))
        elif step.speed is not None:
            rt.clock.set_speed(step.speed)

    def _console(self, line: str) -> None:
        """One line through the technician's console, as typed; what it answers is an error here."""
        answers: list[str] = []
        console.handle(line, self.rt, answers.append, self.door)
        if answers and not answers[-1].endswith(": sent"):
            raise ValueError(answers[-1])

    def _open_alert(self, kind: str) -> str:
        """The newest alert of `kind` the staff station has seen and not seen closed."""
        states: dict[str, str] = {}
        for a in self.obs.alerts():
            if a.get("type") == kind:
                states[str(a["alert_id"])] = str(a.get("state"))
        open_ids = [i for i, s in states.items() if s not in ("resolved", "cancelled")]
        if not open_ids:
            raise ValueError(f"staff have no open {kind} alert to act on")
        return open_ids[-1]

    def _expect(self, where: str, step: Step, mark: Mark) -> str:
        """Wait for the step's outcomes; what was measured on the way (a steady channel's largest move)."""
        expect = step.expect
        began = time.monotonic()
        while True:
            missing, wrong = judge(expect, self.obs, mark)
            if wrong:
                raise StepFailed(f"{where}: " + "; ".join(wrong))
            elapsed = time.monotonic() - began
            if not missing and elapsed >= expect.hold:
                return " ".join(f"{c} held within {mark.worst.get(c, 0):.0f} us" for c in expect.steady)
            if missing and elapsed >= expect.within:
                raise StepFailed(f"{where}: after {expect.within:g} s: " + "; ".join(missing))
            if self.stop.wait(POLL_S):
                raise StepFailed("stopped")

    def _check_files(self) -> None:
        """Nothing written to the state directory while it played but the robot's own files and those the
        scenario allows (other directories are not watched)."""
        root = Path(self.rt.state_dir)
        allowed = (*ALLOWED, *self.scenario.files)
        stray = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()
                       and p.lstat().st_mtime >= self.began  # written while it played (the dir may be older)
                       and not any(fnmatch.fnmatch(str(p.relative_to(root)), g) for g in allowed))
        if stray:
            raise StepFailed(f"files: the robot wrote {', '.join(stray)} to {root}; allowed: {', '.join(allowed)}")


def label(n: int, step: Step) -> str:
    """`step 3 ('staff acknowledge')`: how messages name a step."""
    return f"step {n}" + (f" ({step.name!r})" if step.name else "")

