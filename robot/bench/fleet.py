"""`carebot bench fleet`: a care group on this machine, and the largest one it sustains.

Homes of 20 simulated robots each (the robot's MQTT protocol, robot/fleet/sim.py), one mosquitto per home with
its uplink to one central mosquitto, all made by the shipped set-up scripts on loopback ports. Each robot sends a
heartbeat every 10 s and asks for help about once a minute; a central desk acknowledges and resolves every
request through the bridges. The baseline, in the same run, is the same alert seen by a subscriber on the
robot's own home broker: the ratio is what the uplink and the centre add. Then the group grows (20, then 40
homes) while the centre's p99 stays under 1 s and nothing is lost, to find the largest fleet this machine
sustains.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robot.fleet.run import run_fleet

ROBOTS_PER_HOME = 20
FIRST_HOMES = 10
GROWTH = (20, 40)
P99_LIMIT_MS = 1000.0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _sustained(figures: dict[str, Any]) -> bool:
    p99 = figures["alert_ms_robot_to_centre"]["p99"]
    return (p99 is not None and p99 < P99_LIMIT_MS and figures["events_lost_at_centre"] == 0
            and figures["robots_connected"] == figures["homes"] * figures["robots_per_home"])


def bench_fleet(args: argparse.Namespace) -> dict[str, Any]:
    seconds = max(20.0, float(args.seconds))
    first = run_fleet(FIRST_HOMES, ROBOTS_PER_HOME, seconds, help_per_robot_per_min=1.0, heartbeat_s=10.0,
                      progress=_say)
    centre, home = first["alert_ms_robot_to_centre"], first["alert_ms_robot_to_home"]
    result: dict[str, Any] = {
        "fleet": first,
        "alert_p50_ms": centre["p50"], "alert_p99_ms": centre["p99"],
        "baseline_home_p50_ms": home["p50"], "baseline_home_p99_ms": home["p99"],
        "ratio_p99": round(centre["p99"] / home["p99"], 2) if centre["p99"] and home["p99"] else None,
        "messages_lost": first["events_lost_at_centre"],
        "lost_and_not_detected": first["lost_and_not_detected"],
        "broker_cpu_ms_per_robot_per_s": first["broker_cpu_ms_per_robot_per_s"],
        "broker_rss_kb_per_robot": first["broker_rss_kb_per_robot"],
    }
    largest = f"{FIRST_HOMES}x{ROBOTS_PER_HOME}" if _sustained(first) else None
    steps = []
    if largest:
        for homes in GROWTH:
            _say(f"bench fleet: growing to {homes} homes x {ROBOTS_PER_HOME} robots ...")
            figures = run_fleet(homes, ROBOTS_PER_HOME, seconds, help_per_robot_per_min=1.0, heartbeat_s=10.0,
                                progress=_say)
            steps.append({"homes": homes, "robots": homes * ROBOTS_PER_HOME,
                          "p99_ms": figures["alert_ms_robot_to_centre"]["p99"],
                          "lost": figures["events_lost_at_centre"], "connected": figures["robots_connected"]})
            if not _sustained(figures):
                break
            largest = f"{homes}x{ROBOTS_PER_HOME}"
    result.update(growth=steps, largest_sustained=largest, p99_limit_ms=P99_LIMIT_MS,
                  target={"messages_lost": 0, "homes_x_robots": f"{FIRST_HOMES}x{ROBOTS_PER_HOME}"})
    return result
