"""`carebot fleet uplink-check`: is a home's uplink broker (its bridge to the centre) still answering?

mosquitto 2.0.11, the release in Debian bookworm and Raspberry Pi OS, busy-loops and serves nobody once a
bridge's TLS handshake has been cut short a few times (a central load balancer that accepts and closes while its
brokers are down), and it ignores SIGTERM then. So the bridge runs in a broker of its own (the uplink, made by
`scripts/broker-setup.sh --bridge`), and this check logs in to the uplink's loopback listener: no CONNACK within
the timeout means it is wedged, and the uplink is killed with SIGKILL so that systemd (or the fleet simulator)
starts it again. Nothing is lost by that: the home's broker keeps the uplink's session and queues what it has
not taken, and the uplink saves its own queue for the centre on every change.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT_S = 5.0


def _mqtt_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n // 128, n % 128
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connack(port: int, password: str, timeout: float = CONNECT_TIMEOUT_S, account: str = "health") -> bool:
    """True if the broker on 127.0.0.1:port accepts `account` within `timeout` (an MQTT 3.1.1 CONNECT, by hand:
    the check must not depend on a client library's reconnect logic, and it never subscribes or publishes)."""
    body = (_mqtt_string("MQTT") + bytes([4, 0xC2]) + (10).to_bytes(2, "big")  # v3.1.1, user+pass+clean, keepalive
            + _mqtt_string(f"health-check-{int(time.time() * 1000) % 10**9}") + _mqtt_string(account)
            + _mqtt_string(password))
    packet = bytes([0x10]) + _remaining_length(len(body)) + body
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(packet)
            reply = b""
            while len(reply) < 4:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            s.sendall(b"\xe0\x00")  # DISCONNECT
            return reply[0] == 0x20 and reply[3] == 0
    except OSError:
        return False


def uplink_settings(home_dir: Path) -> tuple[int, str]:
    """The uplink's health port and the health account's password, from a home's broker-setup directory."""
    conf = (home_dir / "uplink" / "mosquitto.conf").read_text(encoding="utf-8")
    found = re.search(r"^listener (\d+) 127\.0\.0\.1$", conf, re.MULTILINE)
    if not found:
        raise ValueError(f"{home_dir / 'uplink' / 'mosquitto.conf'}: no loopback listener for the health check")
    return int(found.group(1)), (home_dir / "secrets" / "health.password").read_text(encoding="utf-8").strip()


def cmd_uplink_check(args: Any) -> int:
    try:
        port, password = uplink_settings(args.dir)
    except (OSError, ValueError) as exc:
        print(f"uplink-check: {exc}", file=sys.stderr)
        return 2
    if connack(port, password, args.timeout):
        print(f"uplink-check: the uplink on 127.0.0.1:{port} answers")
        return 0
    print(f"uplink-check: the uplink on 127.0.0.1:{port} did not answer within {args.timeout:.0f} s", file=sys.stderr)
    if args.restart_unit:
        subprocess.run(["systemctl", "kill", "--signal=SIGKILL", args.restart_unit], check=False)
        print(f"uplink-check: killed {args.restart_unit}; systemd starts it again", file=sys.stderr)
    return 1
