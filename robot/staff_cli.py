"""`carebot staff`: the nurse station's console (robot.staff) on a terminal, linked to the site's broker."""

from __future__ import annotations

import argparse
import queue
import ssl
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from robot.config import MqttSection
from robot.errors import CareBotError
from robot.mqtt_link import new_client
from robot.staff import StaffConsole, kept_session


def run(args: argparse.Namespace, inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Connect, then show alerts and read commands until 'quit' or end of input."""
    try:
        link = MqttSection(host=args.host, port=args.port, tls=not args.no_tls, ca_file=args.ca_file,
                           username=args.username, password_file=args.password_file)
    except ValidationError as exc:
        raise CareBotError(f"bad broker options: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    # One session per account (the broker ties client ids to accounts); without a login, one per console.
    client = new_client(link, args.username or f"carebot-staff-{uuid.uuid4().hex[:8]}")
    console = StaffConsole(args.site, client, out, args.username or "staff")
    try:
        client.connect(args.host, args.port, keepalive=30, properties=kept_session())
    except (OSError, ssl.SSLError) as exc:
        raise CareBotError(f"cannot reach the broker at {args.host}:{args.port}: {exc}") from None
    client.loop_start()
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def read() -> None:
        for line in inp:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="staff-input", daemon=True).start()
    try:
        while True:
            console.pump()
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            console.pump()
            if line is None or not console.command(line):
                break
        time.sleep(0.3)  # let the last command go out
        console.pump()
    finally:
        done = Properties(PacketTypes.DISCONNECT)
        done.SessionExpiryInterval = 0  # a console that quits needs nothing kept
        client.disconnect(properties=done)
        client.loop_stop()
    return 0


def add_parser(sub: Any) -> None:
    """Add `carebot staff` to the CLI."""
    p = sub.add_parser("staff", help="a nurse station's console: live alerts, ack and resolve",
                       description="Watch a site's alerts live and acknowledge or resolve them.")
    p.add_argument("--site", required=True, help="the care home's site token")
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--ca-file", type=Path, default=None, help="the site CA certificate")
    p.add_argument("--username", default=None, help="the staff account (starts with 'staff')")
    p.add_argument("--password-file", type=Path, default=None)
    p.add_argument("--no-tls", action="store_true", help="plain TCP (a broker on this machine only)")
    p.set_defaults(func=run)
