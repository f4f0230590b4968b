"""`carebot staff web` and `carebot staff web adduser`: the staff page's server and its accounts."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import signal
import sqlite3
import ssl
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from robot.config import MqttSection
from robot.errors import CareBotError
from robot.loop import GIL_SWITCH_S
from robot.mqtt_link import new_client
from robot.staff import kept_session

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def build(args: argparse.Namespace) -> Any:
    """The connected view and the web application (not yet serving)."""
    from robot.staffweb.accounts import Accounts, AuditTrail
    from robot.staffweb.app import StaffWeb
    from robot.staffweb.impact import Store
    from robot.staffweb.mqttloop import LoopLink
    from robot.staffweb.view import WebView

    try:
        link = MqttSection(host=args.host, port=args.port, tls=not args.no_tls, ca_file=args.ca_file,
                           username=args.username, password_file=args.password_file)
    except ValidationError as exc:
        raise CareBotError(f"bad broker options: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    if not args.users.exists():
        raise CareBotError(f"no accounts file {args.users}: add one with `carebot staff web adduser NAME "
                           f"--users {args.users}`")
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        store, lost = Store(args.state_dir / "impact.sqlite", args.retention_days), ""
    except (OSError, sqlite3.Error) as exc:  # the alerts page is the help path: it serves without kept figures
        lost = f"impact figures are not being kept: {args.state_dir / 'impact.sqlite'}: {exc}"
        log.error("staff web: %s", lost)
        store = Store(":memory:", args.retention_days)
    client = new_client(link, args.username or f"carebot-web-{uuid.uuid4().hex[:8]}")
    view = WebView(args.site, client, args.username or "staff-web", store)
    if lost:
        view._say(lost)
    host, port = args.listen
    hosts = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", *args.public_host}
    site = StaffWeb(view, Accounts(args.users), store, AuditTrail(args.state_dir / "audit.jsonl"), hosts=hosts,
                    secure_cookie=args.secure_cookie)
    try:
        client.connect_async(args.host, args.port, keepalive=30, properties=kept_session())
    except (OSError, ssl.SSLError) as exc:
        raise CareBotError(f"cannot reach the broker at {args.host}:{args.port}: {exc}") from None
    reader = LoopLink(client, view)  # the broker is read by the web server's event loop, once it runs
    site.app.on_startup.append(reader.start)
    site.app.on_cleanup.append(reader.stop)
    return view, site


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    if not args.site:
        raise CareBotError("carebot staff web needs --site SITE")
    view, site = build(args)
    # As in the robot (Runtime.start): the loop, woken by an alert, waits at most this long for the GIL while the
    # impact writer or the pump hold it (by default 5 ms, which was the tail of the page's alert latency).
    sys.setswitchinterval(GIL_SWITCH_S)
    stop = threading.Event()

    def pump() -> None:  # the console's pump: messages applied, unconfirmed commands noted, on its own thread
        while not stop.is_set():
            try:
                view.pump_waiting(0.5)
            except Exception as exc:  # a bug here must not silence the page: say it and go on
                view._say(f"internal error, carrying on: {type(exc).__name__}")
                time.sleep(0.1)

    threading.Thread(target=pump, name="staffweb-pump", daemon=True).start()
    host, port = args.listen

    async def serve() -> None:
        runner = web.AppRunner(site.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        print(f"carebot staff web: http://{host}:{port}/ for site {args.site}", flush=True)
        # Everything built so far lives as long as the server: out of the collector's reach, so that its full
        # collections (which hold the GIL while the loop would write an alert) do not walk it again and again.
        gc.collect()
        gc.freeze()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        await runner.cleanup()

    try:
        asyncio.run(serve())
    finally:
        stop.set()  # the broker link ended with the web server (its cleanup)
        if view.close_store():  # what the impact writer holds, written (else it is still at the store: left open)
            site.store.close()
    return 0


def adduser(args: argparse.Namespace) -> int:
    from robot.staffweb.accounts import add_user

    if args.password_file:
        password = args.password_file.read_text(encoding="utf-8").strip()
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2
    add_user(args.users, args.name, password)
    print(f"account {args.name} written to {args.users}")
    return 0


def add_web_parser(staff: argparse.ArgumentParser) -> None:
    """`carebot staff web [adduser]`, under the nurse-station console's `carebot staff`."""
    from robot import staff_cli as console

    for action in staff._actions:  # the console's --site stays required for the console itself
        if "--site" in action.option_strings:
            action.required = False

    def console_or_error(args: argparse.Namespace) -> int:
        if not args.site:
            staff.error("the console needs --site SITE (or use `carebot staff web`)")
        return int(console.run(args))

    staff.set_defaults(func=console_or_error)
    sub = staff.add_subparsers(dest="staff_command", metavar="web")
    w = sub.add_parser("web", help="the staff web page: live alerts, robots and the impact report",
                       description="Serve the staff web page for one site, fed by the site's broker as a staff "
                                   "account (TLS, as `carebot staff`). Listens on 127.0.0.1 unless --listen says "
                                   "otherwise; put it behind a TLS reverse proxy (docs/staff-web.md).")
    w.add_argument("--site", default=None, help="the care home's site token (required to serve)")
    w.add_argument("--host", default="localhost", help="the broker")
    w.add_argument("--port", type=int, default=8883)
    w.add_argument("--ca-file", type=Path, default=None)
    w.add_argument("--username", default=None, help="the staff account at the broker (starts with 'staff')")
    w.add_argument("--password-file", type=Path, default=None)
    w.add_argument("--no-tls", action="store_true", help="plain TCP (a broker on this machine only)")
    w.add_argument("--users", type=Path, default=Path("/etc/carebot/staff-web/users"),
                   help="the accounts file (carebot staff web adduser)")
    w.add_argument("--state-dir", type=Path, default=Path("/var/lib/carebot-staff-web"),
                   help="impact figures and the audit trail")
    w.add_argument("--retention-days", type=int, default=400, help="how long impact rows are kept")
    w.add_argument("--listen", type=_listen, default=_listen(DEFAULT_LISTEN), help="HOST:PORT to serve on")
    w.add_argument("--public-host", action="append", default=[],
                   help="a host name (with :port) the proxy forwards as Host, e.g. staff.example.org")
    w.add_argument("--secure-cookie", action="store_true", help="mark the session cookie Secure (behind TLS)")
    w.set_defaults(func=run)
    wsub = w.add_subparsers(dest="web_command", metavar="adduser")
    a = wsub.add_parser("adduser", help="add or change a staff account of the web page")
    a.add_argument("name")
    a.add_argument("--users", type=Path, default=Path("/etc/carebot/staff-web/users"))
    a.add_argument("--password-file", type=Path, default=None, help="read the password from a file (else asked)")
    a.set_defaults(func=adduser)
