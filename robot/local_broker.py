"""A local staff broker for benchmarks, the fault matrix and scenarios: mosquitto set up by
scripts/broker-setup.sh (accounts, ACL, TLS) on a free loopback port, stopped and started at will."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from robot.errors import CareBotError

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
SITE, ROBOT, STAFF = "bench", "robot-1", "staff-bench"


def mosquitto() -> str | None:
    """mosquitto's path: Debian puts it in /usr/sbin, which an ordinary user's PATH leaves out."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class LocalBroker:
    """A mosquitto of the site's own make-up (scripts/broker-setup.sh) on a free loopback port."""

    def __init__(self, directory: Path, *extra: str) -> None:
        if not (SCRIPTS / "broker-setup.sh").exists() or not mosquitto():
            raise CareBotError("a local broker (bench mqtt, scenarios) needs a source checkout "
                               "(scripts/broker-setup.sh) and mosquitto (apt-get install mosquitto)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.dir = directory
        subprocess.run([str(SCRIPTS / "broker-setup.sh"), str(directory), "--site", SITE, "--robot", ROBOT,
                        "--staff", STAFF, "--port", str(self.port), "--bind", "127.0.0.1", "--run-as", "root", *extra],
                       check=True, capture_output=True)
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([str(mosquitto()), "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise CareBotError("mosquitto did not start")

    def secret(self, account: str) -> Path:
        return self.dir / "secrets" / f"{account}.password"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
