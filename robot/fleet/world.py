"""A care group on one machine: a mosquitto per home, each bridged to one central mosquitto, all on loopback.

It is made with the same scripts a care group uses (scripts/central-setup.sh for the centre, and
scripts/broker-setup.sh --bridge for each home), so the fleet simulator, `carebot bench fleet` and the tests
exercise the configuration that ships. It needs a source checkout (the scripts) and mosquitto.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from robot.errors import CareBotError
from robot.fleet.uplink import connack, uplink_settings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
CENTRAL_STAFF = "staff-central"
HOME_STAFF = "staff-desk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise CareBotError(f"mosquitto did not start listening on port {port} within {timeout:.0f} s")


def _script(name: str) -> Path:
    path = ROOT / "scripts" / name
    if not path.exists():
        raise CareBotError(f"the fleet needs a source checkout: {path} is missing")
    if not shutil.which("mosquitto"):
        raise CareBotError("the fleet needs mosquitto (apt-get install mosquitto)")
    return path


@dataclass
class Broker:
    """One mosquitto of the group, from its generated directory."""

    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def password_file(self, account: str) -> Path:
        return self.dir / "secrets" / f"{account}.password"

    def start(self) -> Broker:
        log = (self.dir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


@dataclass
class Home:
    site: str
    robots: list[str]
    broker: Broker
    uplink: Broker  # the home's bridge to the centre, a broker of its own (scripts/broker-setup.sh --bridge)
    restarts: int = 0  # how often the uplink was found wedged and restarted


@dataclass
class World:
    """The centre and its homes. `bridge_to(site)` may return another address for a home's bridge (a proxy
    that a test can cut); by default each home bridges straight to the centre."""

    dir: Path
    homes: list[Home] = field(default_factory=list)
    central: Broker | None = None
    central_bridge_port: int = 0
    check_every_s: float = 2.0
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def make(cls, directory: Path, homes: int, robots_per_home: int,
             bridge_to: Callable[[str, int], str] | None = None) -> World:
        if not 1 <= homes <= 500 or not 1 <= robots_per_home <= 200:
            raise CareBotError(f"a fleet of {homes} homes x {robots_per_home} robots is outside 1..500 x 1..200")
        directory.mkdir(parents=True, exist_ok=True)
        sites = [f"home-{i + 1:03d}" for i in range(homes)]
        world = cls(directory)
        world.central_bridge_port, staff_port = free_port(), free_port()
        run_as = ["--run-as", "root"] if os.geteuid() == 0 else ["--run-as", os.environ.get("USER", "mosquitto")]
        args = [str(_script("central-setup.sh")), str(directory / "central"), "--bind", "127.0.0.1",
                "--bridge-port", str(world.central_bridge_port), "--staff-port", str(staff_port),
                "--staff", CENTRAL_STAFF, *run_as]
        for site in sites:
            args += ["--home", site]
        subprocess.run(args, check=True, capture_output=True)
        world.central = Broker(directory / "central", staff_port)
        for site in sites:
            robots = [f"robot-{j + 1:03d}" for j in range(robots_per_home)]
            port, uplink_port = free_port(), free_port()
            address = bridge_to(site, world.central_bridge_port) if bridge_to else \
                f"127.0.0.1:{world.central_bridge_port}"
            cmd = [str(_script("broker-setup.sh")), str(directory / site), "--site", site, "--staff", HOME_STAFF,
                   "--port", str(port), "--bind", "127.0.0.1", "--host", "localhost", *run_as,
                   "--bridge", address, "--bridge-dir", str(directory / "central" / "homes" / site),
                   "--uplink-port", str(uplink_port),
                   # The simulated central desk answers help requests itself, as a group's night desk that
                   # dispatches the homes' staff would: a home must opt in to that (the default carries no ack).
                   "--bridge-commands", "ack,resolve,pause,resume,remind,quiet_hours"]
            for robot in robots:
                cmd += ["--robot", robot]
            subprocess.run(cmd, check=True, capture_output=True)
            world.homes.append(Home(site, robots, Broker(directory / site, port),
                                    Broker(directory / site / "uplink", uplink_port)))
        return world

    def start(self) -> World:
        assert self.central is not None
        self.central.start()
        for home in self.homes:
            home.broker.start()
            home.uplink.start()
        threading.Thread(target=self._watch_uplinks, name="uplink-check", daemon=True).start()
        return self

    def _watch_uplinks(self) -> None:
        """What the carebot-uplink-check timer does on a home's server: an uplink that does not answer twice in a
        row is wedged, and is killed (SIGTERM does not stop it) and started again."""
        failures = {h.site: 0 for h in self.homes}
        while not self._stop.wait(self.check_every_s):
            for home in self.homes:
                try:  # one home's trouble (a config gone, an uplink that will not start) is not the others'
                    port, password = uplink_settings(home.broker.dir)
                    failures[home.site] = 0 if connack(port, password, 2.0) else failures[home.site] + 1
                    if failures[home.site] >= 2 and not self._stop.is_set():
                        if home.uplink.proc is not None:
                            home.uplink.proc.kill()
                            home.uplink.proc.wait(5)
                        home.uplink.start()
                        home.restarts += 1
                        failures[home.site] = 0
                except Exception:
                    log.exception("uplink check of %s failed; trying again", home.site)

    def stop(self) -> None:
        self._stop.set()
        for home in self.homes:
            home.uplink.stop()
            home.broker.stop()
        if self.central is not None:
            self.central.stop()

    def home(self, site: str) -> Home:
        return next(h for h in self.homes if h.site == site)

    def broker_pids(self) -> list[int]:
        pids = [h.broker.pid for h in self.homes] + [h.uplink.pid for h in self.homes]
        if self.central is not None:
            pids.append(self.central.pid)
        return [p for p in pids if p is not None]
