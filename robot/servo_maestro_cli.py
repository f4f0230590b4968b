"""`carebot servo maestro`: the Maestro backend's own tools, in its own units (µs): its calibration.

Only the Maestro backend knows pulse widths: `[[servo.channels]]` calibrates each channel with
min, neutral and max pulses, which turn the robot's degrees into µs (hardware/maestro_servos.py).
These tools read and write that calibration; everything else a technician does with the head,
in degrees and on any backend, is `carebot servo` (robot/servo_cli.py). The robot must not be
running on the same port. While a tool holds a pulse it keeps resending it a few times a second,
so the board's serial timeout does not send the servos home under the technician's hands.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from hardware.maestro import MaestroBus
from hardware.maestro_protocol import describe_errors
from hardware.maestro_pty import PtyMaestro
from robot.config import MAESTRO_MAX_US, MAESTRO_MIN_US, Config, ServoChannel
from robot.config_load import check_config
from robot.devices import maestro_bus, make_board
from robot.errors import CareBotError, ConfigError
from robot.servo_hold import HeldSession


class PulseSession(HeldSession):
    """An open Maestro plus a keep-alive thread that resends the held pulse widths."""

    def __init__(self, bus: MaestroBus) -> None:
        super().__init__()
        self.bus = bus
        self.held: dict[int, float] = {}

    def _open(self) -> None:
        self.bus.open()

    def _close(self) -> None:
        self.bus.close()

    def _resend(self) -> None:
        if self.held:
            self.bus.write_targets(dict(self.held))

    def hold(self, channel: int, us: float) -> None:
        """Move a channel and keep it there."""
        with self._lock:
            self.held[channel] = us
            self.bus.write_targets({channel: us})

    def position(self, channel: int) -> float:
        return self._locked(lambda: self.bus.get_position(channel))


@contextmanager
def open_session(config: Config, simulate: bool) -> Iterator[tuple[PulseSession, PtyMaestro | None]]:
    """Open the configured board, or a simulated one set up from the same config."""
    sim = None
    port = config.servo.port
    if simulate or config.servo.driver == "sim":
        sim = PtyMaestro(make_board(config)).start()
        port = sim.port
    session = PulseSession(maestro_bus(config, port))
    try:
        session.start()
        yield session, sim
    finally:
        session.close()
        if sim is not None:
            sim.stop()


def find_channel(config: Config, ref: str) -> ServoChannel:
    """A channel by name or number, with the list of choices when it is not found."""
    for c in config.servo.channels:
        if ref == c.name or ref == str(c.channel):
            return c
    names = ", ".join(f"{c.name} ({c.channel})" for c in config.servo.channels)
    raise CareBotError(f"no servo channel {ref!r}; configured: {names}")


def load(args: argparse.Namespace) -> Config:
    from robot.config_load import default_config, load_config

    return load_config(args.config or default_config())


def cmd_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Each channel's calibration and live pulse width, in µs."""
    config = load(args)
    with open_session(config, args.sim) as (session, _):
        errors = session.bus.read_errors()
        out.write(f"board {session.bus.port}: errors {', '.join(describe_errors(errors)) or 'none'}\n")
        out.write(f"{'ch':>3} {'name':12s} {'role':8s} {'min':>7} {'neutral':>7} {'max':>7} {'dir':>3} "
                  f"{'speed':>5} {'accel':>5} {'now':>8}\n")
        for c in config.servo.channels:
            pos = session.position(c.channel)
            out.write(f"{c.channel:>3} {c.name:12s} {c.role:8s} {c.min_us:>7.0f} {c.neutral_us:>7.0f} "
                      f"{c.max_us:>7.0f} {c.direction:>3} {c.speed:>5} {c.acceleration:>5} {pos:>8.1f}\n")
    return 0


CALIBRATE_HELP = """For each channel: jog with + and - (10 µs), ++ and -- (50 µs), or type a pulse width.
Mark the current pulse as the limit with: min, max, neutral. 'next' saves this channel, 'skip' leaves it,
'quit' stops (channels already done are written)."""


def cmd_calibrate(args: argparse.Namespace, out: TextIO = sys.stdout, inp: TextIO = sys.stdin) -> int:
    """Walk each channel's pulse width and write its min, max and neutral back to the config file."""
    config = load(args)
    path = Path(args.config) if args.config else Path(str(config.source))
    results: dict[int, dict[str, float]] = {}
    out.write(CALIBRATE_HELP + "\n")
    lines = iter(inp.readline, "")
    with open_session(config, args.sim) as (session, _):
        for c in config.servo.channels:
            if c.role == "led" or (args.channel and args.channel not in (c.name, str(c.channel))):
                continue
            found = {"min_us": c.min_us, "max_us": c.max_us, "neutral_us": c.neutral_us}
            us = c.neutral_us
            session.hold(c.channel, us)
            out.write(f"\n{c.name} (channel {c.channel}): now {us:.0f} µs; limits {c.min_us:.0f}..{c.max_us:.0f}\n")
            out.flush()
            action = "quit"
            for raw in lines:
                word = raw.strip().lower()
                step = {"+": 10, "-": -10, "++": 50, "--": -50}.get(word)
                if step is not None or re.fullmatch(r"\d+(\.\d+)?", word):
                    new = us + step if step is not None else float(word)
                    if not MAESTRO_MIN_US <= new <= MAESTRO_MAX_US:
                        board = f"{MAESTRO_MIN_US:.0f}..{MAESTRO_MAX_US:.0f}"
                        out.write(f"{new:.0f} µs is outside the board's {board} µs\n")
                        continue
                    us = new
                    session.hold(c.channel, us)
                    out.write(f"{c.name} -> {us:.0f} µs\n")
                elif word in ("min", "max", "neutral"):
                    found[f"{word}_us"] = us
                    out.write(f"{c.name} {word} = {us:.0f} µs\n")
                elif word in ("next", "skip", "quit"):
                    action = word
                    break
                elif word:
                    out.write("unknown; use + - ++ -- a number, min, max, neutral, next, skip or quit\n")
                out.flush()
            if action in ("next", "quit") and found != {"min_us": c.min_us, "max_us": c.max_us,
                                                        "neutral_us": c.neutral_us}:
                if not found["min_us"] < found["neutral_us"] < found["max_us"]:
                    out.write(f"{c.name}: min < neutral < max does not hold "
                              f"({found['min_us']:.0f}, {found['neutral_us']:.0f}, {found['max_us']:.0f}); not saved\n")
                else:
                    results[c.channel] = found
            if action == "quit":
                break
    if results:
        write_limits(path, results)
        out.write(f"wrote limits for {len(results)} channel(s) to {path}\n")
    else:
        out.write("nothing changed\n")
    return 0


def write_limits(path: Path, limits: dict[int, dict[str, float]]) -> None:
    """Rewrite min/max/neutral in the [[servo.channels]] blocks, keeping comments and layout.

    The new file is checked in full before it replaces the old one.
    """
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    blocks: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        if re.match(r"\s*\[\[\s*servo\.channels\s*\]\]", line):
            blocks.append((i, len(lines)))
        elif blocks and blocks[-1][1] == len(lines) and re.match(r"\s*\[", line):
            blocks[-1] = (blocks[-1][0], i)
    for start, end in reversed(blocks):
        body = "".join(lines[start:end])
        m = re.search(r"^\s*channel\s*=\s*(\d+)", body, re.M)
        if not m or int(m.group(1)) not in limits:
            continue
        values = limits[int(m.group(1))]
        for key, value in values.items():
            pattern = re.compile(rf"^(\s*{key}\s*=\s*)[^#\n]*?(\s*(#.*)?)$")
            for i in range(start, end):
                hit = pattern.match(lines[i].rstrip("\n"))
                if hit:
                    lines[i] = f"{hit.group(1)}{value:.0f}{hit.group(2) or ''}\n"
                    break
            else:
                lines.insert(start + 1, f"{key} = {value:.0f}\n")
                end += 1
    tmp = path.with_name(path.name + ".calibrating")
    try:
        tmp.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:  # a full disk, a read-only card: the config stays as it was, the values are shown
        tmp.unlink(missing_ok=True)
        found = "; ".join(f"channel {ch}: " + ", ".join(f"{k} = {v:.0f}" for k, v in values.items())
                          for ch, values in sorted(limits.items()))
        raise CareBotError(f"could not write the calibration beside {path} ({exc.strerror or exc}); {path} is "
                           f"unchanged. Set these in its [[servo.channels]] by hand: {found}") from None
    problems = check_config(tmp)
    if problems:
        tmp.unlink()
        raise ConfigError(problems)
    tmp.replace(path)


def add_parser(ssub: Any, common: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `carebot servo maestro list|calibrate` under `carebot servo`."""
    text = "the Maestro backend's calibration in µs: its channels' pulse widths ([[servo.channels]])"
    p = ssub.add_parser("maestro", help=text, description=text + ". Stop the robot first.")
    msub = p.add_subparsers(dest="maestro_command", required=True, metavar="ACTION")
    common(msub, "list", "show each channel's calibration and live pulse width in µs", cmd_list)
    q = common(msub, "calibrate", "walk each channel's pulse width (µs) and write min, max and neutral back to "
               "the config", cmd_calibrate)
    q.add_argument("--channel", default=None, help="calibrate only this channel (name or number)")
