"""`carebot nursecall` (the gateway) and `carebot paging-sim` (a simulated paging system for technicians)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from robot.errors import CareBotError


def cmd_nursecall(args: argparse.Namespace) -> int:
    """Run the gateway until SIGINT or SIGTERM."""
    from robot.config_load import default_config, load_config
    from robot.logs import setup_logging
    from robot.nursecall_gateway import Gateway, status_line

    cfg = load_config(args.config or default_config())
    setup_logging(args.log_level or cfg.log.level, cfg.log.format)
    if not cfg.nursecall.enabled:
        raise CareBotError(f"{cfg.source}: [nursecall] is not enabled; set enabled = true and a port")
    if not cfg.mqtt.enabled:
        raise CareBotError(f"{cfg.source}: [mqtt] is not enabled: the gateway reads the site's alerts from the broker")
    gateway = Gateway(cfg)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: gateway.stop())
    print(f"carebot nursecall: site {cfg.robot.site} to the paging system on {cfg.nursecall.port} "
          f"({cfg.nursecall.baud} {cfg.nursecall.framing}, {cfg.nursecall.role}); record "
          f"{cfg.nursecall.record_file}. While the line cannot be opened or does not answer, staff see the "
          "nursecall_link fault. Ctrl-C stops.", flush=True)
    runner = threading.Thread(target=gateway.run, name="nursecall")
    runner.start()
    while runner.is_alive():
        runner.join(5.0)
        if args.verbose and runner.is_alive():
            print(status_line(gateway), flush=True)
    return 0


def cmd_paging_sim(args: argparse.Namespace) -> int:
    """Serve a simulated paging system on a pseudo-terminal and print every call it takes."""
    from hardware.espa_sim import PagingSystem, PtyPagingSystem

    system = PagingSystem(address=args.address, peer=args.peer, role=args.role)
    system.nak_blocks, system.corrupt_blocks, system.silent = args.nak, args.corrupt, args.silent
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with PtyPagingSystem(system, link=args.link, baud=args.baud) as sim:
        sim.latency_s = args.latency
        print(f"paging system {args.address} ({'control station' if args.role == 'master' else 'slave'}) on "
              f"{sim.port}: set [nursecall] port to it. Ctrl-C stops.", flush=True)
        shown = 0
        while not stop.wait(0.1):
            for call in system.calls[shown:]:
                print(f"call to {call.address} priority {call.priority or '-'}: {call.text}", flush=True)
            shown = len(system.calls)
    return 0


def add_parser(sub: Any, with_config: Any) -> None:
    """Add `carebot nursecall` and `carebot paging-sim` to the CLI."""
    p = with_config(sub.add_parser("nursecall", help="page the site's alerts to the nurse-call system (ESPA 4.4.4)",
                                   description="Subscribe to the site's alerts and page high and medium ones "
                                               "to the home's paging system over ESPA 4.4.4 ([nursecall])."))
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
    p.add_argument("--verbose", action="store_true", help="print a status line every 5 s")
    p.set_defaults(func=cmd_nursecall)

    p = sub.add_parser("paging-sim", help="a simulated ESPA 4.4.4 paging system on a pseudo-terminal",
                       description="Play the paging system's side of an ESPA 4.4.4 line and print each call.")
    p.add_argument("--link", type=Path, default=None, help="a stable path to the pseudo-terminal, e.g. /tmp/paging")
    p.add_argument("--role", choices=["slave", "master"], default="slave",
                   help="slave: CareBot polls it (default); master: it polls CareBot")
    p.add_argument("--address", default="2")
    p.add_argument("--peer", default="1", help="CareBot's address")
    p.add_argument("--baud", type=int, default=9600, help="pace the line like this baud rate (0: no pacing)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--nak", type=int, default=0, help="NAK this many calls first")
    p.add_argument("--corrupt", type=int, default=0, help="take this many calls with a damaged BCC first")
    p.add_argument("--silent", action="store_true", help="answer nothing")
    p.set_defaults(func=cmd_paging_sim)

