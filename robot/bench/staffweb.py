"""`carebot bench staffweb`: from a robot raising an alert to its row on the staff page, against MQTT alone.

A real mosquitto (scripts/broker-setup.sh) with 20 simulated robots (the robot's MQTT protocol, heartbeats every
2 s), `carebot staff web` as its own process, and Debian's Chromium (driven by Playwright) logged in on the alerts
page, where a MutationObserver notes when each alert's row appears. The baseline, in the same run, is a staff
subscriber on the same broker: the time the same alert takes to arrive over MQTT. Target: the page's p99 at most
twice the MQTT p99. It also reports the web process's memory with the 20 robots' traffic flowing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from robot.errors import CareBotError
from robot.fleet.run import percentiles
from robot.fleet.sim import RobotSpec, SimRobot
from robot.fleet.world import free_port, wait_port

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
SITE, ROBOTS, ALERTS = "bench", 20, 1000
WATCH = """
window.__seen = {};
new MutationObserver(() => {
  for (const tr of document.querySelectorAll('#alerts tbody tr')) {
    const id = tr.dataset.alert;
    if (!(id in window.__seen)) window.__seen[id] = performance.timeOrigin + performance.now();
  }
}).observe(document.querySelector('#alerts tbody'), {childList: true});
"""


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_staffweb(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from robot.staffweb.accounts import add_user

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium or not (SCRIPTS / "broker-setup.sh").exists():
        raise CareBotError("bench staffweb needs a source checkout and Debian's chromium (scripts/setup.sh)")
    alerts = max(20, int(getattr(args, "alerts", ALERTS)))
    with tempfile.TemporaryDirectory(prefix="carebot-bench-web-") as tmp_name:
        tmp = Path(tmp_name)
        port, web_port = free_port(), free_port()
        robots = [f"robot-{i + 1:03d}" for i in range(ROBOTS)]
        cmd = [str(SCRIPTS / "broker-setup.sh"), str(tmp / "broker"), "--site", SITE, "--staff", "staff-web",
               "--staff", "staff-desk", "--port", str(port), "--bind", "127.0.0.1", "--run-as", "root"]
        for r in robots:
            cmd += ["--robot", r]
        subprocess.run(cmd, check=True, capture_output=True)
        broker = subprocess.Popen(["mosquitto", "-c", str(tmp / "broker" / "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        secrets = tmp / "broker" / "secrets"
        add_user(tmp / "users", "bench", "bench password 1")
        web = subprocess.Popen([sys.executable, "-m", "robot.cli", "staff", "web", "--site", SITE, "--port",
                                str(port), "--ca-file", str(tmp / "broker" / "ca.crt"), "--username", "staff-web",
                                "--password-file", str(secrets / "staff-web.password"), "--users",
                                str(tmp / "users"), "--state-dir", str(tmp / "web"), "--listen",
                                f"127.0.0.1:{web_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sims: list[SimRobot] = []
        arrivals: dict[str, float] = {}
        desk = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="staff-desk", protocol=mqtt.MQTTv5)
        try:
            wait_port(web_port, 30)
            desk.tls_set_context(ssl.create_default_context(cafile=str(tmp / "broker" / "ca.crt")))
            desk.username_pw_set("staff-desk", (secrets / "staff-desk.password").read_text().strip())

            def arrived(c: Any, u: Any, m: Any) -> None:
                if m.topic.endswith("/alert"):
                    arrivals.setdefault(json.loads(m.payload)["alert_id"], time.time())

            desk.on_message = arrived
            desk.on_connect = lambda c, u, f, rc, p: c.subscribe(f"carebot/v1/{SITE}/+/alert", qos=1)
            desk.connect("localhost", port)
            desk.loop_start()
            for r in robots:
                sims.append(SimRobot(RobotSpec(SITE, r, port, str(tmp / "broker" / "ca.crt"),
                                               (secrets / f"{r}.password").read_text().strip()), heartbeat_s=2.0))
                sims[-1].start()
            deadline = time.monotonic() + 60
            while not all(s.connected for s in sims) and time.monotonic() < deadline:
                time.sleep(0.05)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, headless=True)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{web_port}/login")
                page.fill("#name", "bench")
                page.fill("#password", "bench password 1")
                page.click("button[type=submit]")
                page.wait_for_selector("#link.ok", timeout=30_000)
                page.evaluate(WATCH)
                _say(f"bench staffweb: {alerts} help requests from {ROBOTS} robots ...")
                raised: dict[str, float] = {}
                order: list[tuple[SimRobot, str]] = []
                for n in range(alerts):
                    sim = sims[n % ROBOTS]
                    alert_id = sim.raise_help()
                    raised[alert_id] = sim.open_alerts[alert_id]["raised_ts"]
                    order.append((sim, alert_id))
                    # Staff deal with them, about five open at a time as on a busy shift, each in its own moment:
                    # halfway between two raises. Resolved in the same millisecond as the next raise, every
                    # alert's way to the page met the resolve's on the two cores (the broker, the web server and
                    # the page each handle it next), a collision the MQTT baseline, first in the chain, escaped.
                    time.sleep(0.1)
                    if len(order) > 5:
                        old, old_id = order.pop(0)
                        old.resolve(old_id)
                    time.sleep(0.1)
                time.sleep(3.0)
                seen = page.evaluate("window.__seen")
                browser.close()
            rss = _rss_mb(web.pid)
        finally:
            for s in sims:
                s.stop()
            desk.disconnect()
            desk.loop_stop()
            web.terminate()
            web.wait(10)
            broker.terminate()
            broker.wait(5)
    page_ms = [seen[a] - raised[a] * 1000 for a in raised if a in seen]
    mqtt_ms = [(arrivals[a] - raised[a]) * 1000 for a in raised if a in arrivals]
    shown, base = percentiles(page_ms), percentiles(mqtt_ms)
    return {"alerts": alerts, "robots": ROBOTS, "rows_seen": len(page_ms), "mqtt_seen": len(mqtt_ms),
            "page_p50_ms": shown["p50"], "page_p99_ms": shown["p99"], "mqtt_p50_ms": base["p50"],
            "mqtt_p99_ms": base["p99"],
            "ratio_p99": round(shown["p99"] / base["p99"], 2) if shown["p99"] and base["p99"] else None,
            "target_ratio_p99": 2.0, "web_rss_mb": round(rss, 1)}
