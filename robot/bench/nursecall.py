"""`carebot bench nursecall`: from the robot raising a help alert to the paging system's ACK of the call.

The path measured is the real one: the running robot (simulated hardware) raises the alert and commits it
to its outbox, a real mosquitto (TLS, accounts, ACL from scripts/broker-setup.sh) carries it, `carebot
nursecall` runs as its own process and pages it over ESPA 4.4.4 (master role) through a pseudo-terminal to
the simulated paging system, which takes the bytes at the pace of a 9600 baud line (7E2: 11 bits a
character). The end is the moment the paging system has the whole block with a good BCC and answers ACK.
The baseline, from the same run, is the bare transfer time of the frames that cross the line before it:
the selection, its ACK and the block, at 11 bits a character, with no protocol waits, no broker and no
robot. It needs a source checkout and mosquitto, like bench mqtt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hardware import espa
from hardware.espa_sim import PagingSystem, PtyPagingSystem
from robot.bench.mqtt import _progress, _until
from robot.errors import CareBotError
from robot.local_broker import ROBOT, SITE
from robot.local_broker import LocalBroker as _Broker

GATEWAY = "nursecall-bench"
ROUNDS = 10
BAUD, BITS = 9600, 11


def _gateway_toml(tmp: Path, broker: _Broker, port: str) -> Path:
    path = tmp / "gateway.toml"
    path.write_text(f"""[robot]
id = "{GATEWAY}"
site = "{SITE}"
state_dir = "{tmp / 'gateway'}"
[mqtt]
enabled = true
host = "localhost"
port = {broker.port}
ca_file = "{broker.dir / 'ca.crt'}"
username = "{GATEWAY}"
password_file = "{broker.secret(GATEWAY)}"
[nursecall]
enabled = true
port = "{port}"
baud = {BAUD}
framing = "7E2"
poll_interval_s = 1.0
record_file = "{tmp / 'gateway' / 'paged.sqlite'}"
""")
    return path


def bench_nursecall(args: argparse.Namespace) -> dict[str, Any]:
    """Run ROUNDS help alerts through robot, broker, gateway and line; report latency against the wire time."""
    from robot.bench.drive import AWAKE
    from robot.config import Config, MqttSection, RobotSection
    from robot.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="carebot-bench-nursecall-") as tmp_name:
        tmp = Path(tmp_name)
        broker = _Broker(tmp / "broker", "--nursecall", GATEWAY)
        sim = PtyPagingSystem(PagingSystem(address="2", peer="1"), link=tmp / "paging", baud=BAUD,
                              bits_per_char=BITS).start()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        gateway = subprocess.Popen([sys.executable, "-m", "robot.cli", "nursecall", "--config",
                                    str(_gateway_toml(tmp, broker, sim.port))], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        mqtt_cfg = MqttSection(enabled=True, host="localhost", port=broker.port, ca_file=broker.dir / "ca.crt",
                               username=ROBOT, password_file=broker.secret(ROBOT), heartbeat_s=60)
        runtime = Runtime(Config(robot=RobotSection(id=ROBOT, site=SITE, room="12", state_dir=tmp / "state"),
                                 mqtt=mqtt_cfg, quiet_hours=AWAKE), simulate=True)  # idle at any hour
        runtime.start()
        latencies: list[float] = []
        wire: list[float] = []
        try:
            _until(lambda: runtime.link is not None and runtime.link.connected and runtime.behaviour.state == "idle")
            _progress(f"bench nursecall: a warm-up call, then {ROUNDS} help alerts robot -> broker -> gateway -> "
                      f"{BAUD} baud line -> paging system...")
            for n in range(ROUNDS + 1):
                before = len(sim.system.calls)
                runtime.inject("help")
                try:
                    _until(lambda b=before: len(sim.system.calls) > b, 30.0)  # type: ignore[misc]
                except CareBotError:
                    raise CareBotError("bench nursecall: the paging system got no call in 30 s "
                                       "(is the gateway running? see carebot nursecall)") from None
                call = sim.system.calls[-1]
                raised = next(u for u in runtime.alert_updates
                              if u["alert_id"] == runtime.help_alert and u["state"] == "raised")
                if n:  # the first round warms the gateway's connection and the robot's caches
                    latencies.append(call.acked_wall - float(raised["raised_ts"]))
                    block = espa.encode_block(call.block.header, call.block.records)
                    # what crosses the line before the paging system takes the call: the selection, its ACK,
                    # the block (the ACK of the block and the EOT follow the moment measured)
                    frames = [espa.poll("1") + espa.enquiry("2"), bytes([espa.ACK]), block]
                    wire.append(espa.transfer_seconds(frames, BAUD, BITS))
                runtime.inject_command("resolve", {"alert_id": runtime.help_alert or ""})
                _until(lambda: runtime.behaviour.state == "idle")
                time.sleep(0.3)  # the resolve reaches the gateway before the next alert
        finally:
            runtime.stop()
            gateway.terminate()
            try:
                gateway.wait(10)
            except subprocess.TimeoutExpired:
                gateway.kill()
            sim.stop()
            broker.stop()
    p50, floor = statistics.median(latencies), statistics.median(wire)
    return {"benchmark": "nursecall", "baud": BAUD, "bits_per_char": BITS, "rounds": len(latencies),
            "alert_to_ack_p50_ms": round(p50 * 1000, 1), "alert_to_ack_max_ms": round(max(latencies) * 1000, 1),
            "wire_time_ms": round(floor * 1000, 1), "ratio": round(p50 / floor, 2),
            "note": "alert_to_ack: raised_ts on the robot to the paging system's ACK (wall clock, one machine); "
                    "wire_time: the same call's bytes at the line's rate, no waits"}
