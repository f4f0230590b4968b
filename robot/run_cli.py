"""`carebot run` and `carebot sim`: the robot, on its hardware or the simulator, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from robot import __version__
from robot.errors import CareBotError

# The heavy modules (pydantic config, the runtime) load inside the command: `carebot version` stays quick.


def _load(path: Path | None) -> Any:
    from robot.config_load import default_config, load_config

    return load_config(path or default_config())


def _tell(line: str, out: TextIO | None = None) -> None:
    """A line for whoever reads a running robot's output. A reader that has gone (journald restarted, `carebot sim |
    head`) must not stop the robot: what it would have read goes nowhere from then on."""
    out = out or sys.stdout
    try:
        print(line, file=out, flush=True)
    except (OSError, ValueError):  # a broken pipe, or a stream closed
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # and the exit's flush does not fail again
        except (OSError, ValueError):
            pass


def cmd_run(args: argparse.Namespace, simulate: bool = False) -> int:
    """Run the robot until SIGINT or SIGTERM."""
    from robot import console, fault_door
    from robot.logs import setup_logging
    from robot.runtime import Runtime

    config = _load(args.config)
    setup_logging(args.log_level or config.log.level, config.log.format)
    if getattr(args, "state_dir", None):
        config = config.model_copy(update={"robot": config.robot.model_copy(update={"state_dir": args.state_dir})})
    if simulate:
        from robot import sim_speech

        config = sim_speech.prepare(config, speech=args.speech, aloud=args.speak_aloud, twins=args.speech_twins)
        if args.screen:
            config = config.model_copy(update={"screen": config.screen.model_copy(update={"enabled": True})})
        clock = {k: v for k, v in (("start", args.start), ("speed", args.speed)) if v is not None}
        if clock:
            config = config.model_copy(update={"sim": config.sim.model_validate({**config.sim.model_dump(), **clock})})
    stage = None
    if simulate and args.check and args.scenario is None:
        raise CareBotError("--check goes with --scenario FILE: it checks a scenario's expected outcomes")
    if simulate and args.scenario is not None:  # a scenario's world: its config, broker and staff station
        from robot.scenario_run import Stage

        stage = Stage(args.scenario, config, start=args.start, speed=args.speed)
        config = stage.config
    show = simulate or sys.stdout.isatty()
    live = simulate and not args.no_console and _console_mode(args) == "live"
    view = None
    if live:  # the view draws in its own process; our output (and the workers') goes to its event log
        from robot.live_link import LiveLink

        view = LiveLink()
    out = sys.stdout
    runtime = Runtime(config, simulate=simulate, out=out if show else None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        runtime.start()
    except BaseException:
        if view is not None:
            view.close()
        if stage is not None:
            stage.close()
        raise
    mode = "simulator" if runtime.simulate else "hardware"
    def say(line: str) -> None:
        _tell(line, out)

    say(f"carebot {__version__}: running on the {mode} (servo port {runtime.servos.health().where}); "
        f"state in {runtime.state_dir}. Ctrl-C stops.")
    if config.speech.enabled:
        say(f"speech on ({config.robot.language}): the robot's voice goes to "
            f"{config.speech.out_dir or 'the sound card'}; " + ("`hear I need a nurse` says a call for help."
                                                             if config.speech.recogniser == "text"
                                                             else "`play help` says a call for help."))
    if config.screen.enabled:
        from robot.core.screen import screen_key, screen_url

        key = Path(config.screen.key_file or runtime.state_dir / "screen.key")
        # the address with its key only to a developer's terminal: a unit's output goes to the journal
        keyed = simulate and out.isatty()
        say(f"resident's screen: open {screen_url(config, screen_key(key)) if keyed else screen_url(config, '')} "
            f"{'in a browser' if keyed else f'with the key in {key}'}")
    door = None
    if os.environ.get(fault_door.ENV) == "1":  # tests and benches only: see robot/fault_door.py
        door = fault_door.FaultDoor(runtime)
        say(f"fault injection is on ({fault_door.ENV}=1): not for a robot in service")
    # A terminal's, or any input `--console line` names (a script's pipe: its end stops the robot, as `quit`
    # does); never a unit's stdin unasked, whose end (/dev/null) would stop the robot at once.
    if simulate and not live and not args.no_console and sys.stdin is not None and (
            sys.stdin.isatty() or args.console == "line"):
        _tell("type 'commands' for what you can do, e.g. 'engage', 'help', 'ack', 'unplug'.")
        console.read_stdin(runtime, door, stop)
    try:
        if view is not None:
            return view.serve(runtime, door, stop, stage, args.check)
        if stage is not None:
            from robot.scenario_run import Player

            passed = Player(stage, runtime, _tell, stop).play()
            if args.check or stop.is_set():
                return 0 if passed else 1
        while not stop.wait(0.5):
            if not runtime.loop.running:
                _tell("control loop stopped unexpectedly", sys.stderr)
                break
    finally:
        if view is not None:
            view.close()
        _tell("stopping...")
        runtime.stop()
        if stage is not None:
            stage.close()
        _tell("stopped cleanly.")
    return 0


def _console_mode(args: argparse.Namespace) -> str:
    """`--console`, or the live view on a terminal that has one (stdin and stdout a TTY), else lines."""
    if args.console:
        return str(args.console)
    tty = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    return "live" if tty and os.environ.get("TERM", "dumb") != "dumb" else "line"
