"""Shared fixtures: configs in temporary state directories, a simulated Maestro on a pty."""

from __future__ import annotations

import logging
import os
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hardware.maestro_pty import PtyMaestro
from hardware.poll import poll_until
from robot.config import Config, LoopSection, RobotSection, WorkersSection
from robot.config_load import load_config
from robot.devices import make_board
from robot.runtime import Runtime

from .broker import SITE, STAFF, Broker, Client, check_privacy, robot_config
from .browser import browser  # noqa: F401  (the session's headless Chromium, for any test)

ROOT = Path(__file__).resolve().parent.parent


#: Modules whose tests run the real speech workers (Vosk with the Korean model, espeak-ng) against real-time
#: audio, with bounded waits on what is heard and said (and a barge-in's stop-to-silence bound). `make test` runs
#: the suite on two pytest-xdist workers (it mostly waits on real time); these go to one worker, one after
#: another, so that two of them never share the machine's two cores. A test elsewhere that does the same is
#: marked `pytest.mark.xdist_group("speech")` itself.
REAL_TIME_SPEECH = {"test_bargein", "test_desired_state", "test_korean_speech", "test_sim_speech", "test_speech",
                    "test_speech_attack", "test_speech_queue"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rpartition(".")[2] in REAL_TIME_SPEECH:
            item.add_marker(pytest.mark.xdist_group("speech"))


def planted(tmp_path: Path, edit: str, replacement: str, language: str = "en") -> Path:
    """A copy of a shipped dialog pack with one edit in it, as a staff member might make it: its pack.yaml,
    in tmp_path/<language>/. The edit must be found, so a pack that changed cannot leave the test untested."""
    text = (ROOT / "dialogs" / language / "pack.yaml").read_text(encoding="utf-8")
    assert edit in text, f"{language} pack: {edit!r} not found"
    path = tmp_path / language / "pack.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text.replace(edit, replacement, 1), encoding="utf-8")
    return path


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Poll until `predicate()` is truthy or the timeout passes."""
    return bool(poll_until(predicate, timeout, interval))



@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs `carebot run` in-process sets the robot's logging up (robot/logs.py: a queue and a
    listener thread to stderr); without this, every later test in the worker logged through it, past pytest's
    capture, onto the terminal."""
    from robot.logs import stop_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if root.handlers != handlers:
        stop_logging()
        root.handlers[:] = handlers
        root.setLevel(level)

@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The shipped simulator config, with its state in a temporary directory."""
    base = load_config(ROOT / "config" / "carebot.toml")
    # Vision off: its demo scene would engage the robot in the middle of unrelated tests.
    return base.model_copy(update={"robot": base.robot.model_copy(update={"state_dir": tmp_path / "state"}),
                                   "vision": base.vision.model_copy(update={"enabled": False})})


@pytest.fixture
def fast_workers() -> WorkersSection:
    """Supervision timings short enough for tests."""
    return WorkersSection(heartbeat_s=0.1, hang_timeout_s=0.6, backoff_initial_s=0.1, backoff_max_s=0.4,
                          stable_after_s=5, stop_grace_s=1.0)


@pytest.fixture
def sim_board(config: Config) -> Iterator[PtyMaestro]:
    """A virtual Maestro set up from the config, on a pseudo-terminal."""
    sim = PtyMaestro(make_board(config)).start()
    yield sim
    sim.stop()


@pytest.fixture
def runtime(config: Config) -> Iterator[Runtime]:
    """A running robot against the simulator, stopped after the test."""
    rt = Runtime(config, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state != "booting", 10), "robot did not finish booting"
    yield rt
    rt.stop()


def start_idle(config: Config, idle_s: float = 10, **runtime: Any) -> Runtime:
    """A robot on the simulator, started and idle within `idle_s`; the caller stops it."""
    rt = Runtime(config, simulate=True, **runtime)
    rt.start()
    if not wait_for(lambda: rt.behaviour.state == "idle", idle_s):
        rt.stop()
        raise AssertionError(f"robot did not reach idle within {idle_s} s (state {rt.behaviour.state})")
    return rt


@contextmanager
def running(config: Config, idle_s: float = 10, **runtime: Any) -> Iterator[Runtime]:
    """`start_idle` for a with-block: stopped however the block ends."""
    rt = start_idle(config, idle_s, **runtime)
    try:
        yield rt
    finally:
        rt.stop()


def help_alerts(rt: Runtime) -> list[dict[str, Any]]:
    """The help requests the robot raised (its own updates, as they went to the outbox)."""
    return [u for u in rt.alert_updates if u["type"] == "help_request" and u["state"] == "raised"]


def alive(pid: int) -> bool:
    """True if a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going as we read
        return False


def children_of(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().split(")")[-1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    out.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return out


__all__ = ["wait_for", "start_idle", "running", "help_alerts", "alive", "children_of", "ROOT", "Config", "LoopSection",
           "RobotSection"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto from scripts/broker-setup.sh (TLS, accounts, ACL) on a free port."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real mosquitto shared by a module's tests (starting one per test costs seconds)."""
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def staff(broker: Broker) -> Iterator[Client]:
    """A staff station subscribed to the whole site; on teardown, all the robot sent passes `check_privacy`."""
    c = Client(broker, STAFF)
    assert c.connect() == 0
    assert c.subscribe(f"carebot/v1/{SITE}/#") == [1]
    yield c
    c.close()
    check_privacy(c.messages)


@pytest.fixture
def robot(config: Config, broker: Broker) -> Iterator[Runtime]:
    """A running robot linked to the broker (a heartbeat a second), connected and idle; a module may override it."""
    rt = Runtime(robot_config(config, broker, heartbeat_s=1), simulate=True)
    rt.start()
    assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
    yield rt
    rt.stop()


def wav(path: Path, pcm: bytes) -> Path:
    """16 kHz mono 16-bit PCM as a WAV file at `path` (the simulated microphone's format)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    return path
