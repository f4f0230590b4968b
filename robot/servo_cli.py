"""`carebot servo`: list, move, jog, centre, visit the limits of and home the head's joints, in degrees.

Every command goes through the servo interface (hardware/servo.py) as the robot does, so it
works alike on any backend, real or simulated (`--sim`): angles are degrees from a joint's
neutral, within its limits. Pulse widths belong to the Maestro backend's calibration alone,
`carebot servo maestro` (robot/servo_maestro_cli.py). The robot must not be running on the same
port. While a tool holds a pose it writes it ten times a second, as the loop does, so the
board's watchdog does not send the servos home under the technician's hands; the joints not
being moved are held at neutral, and the lights off.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from hardware.poll import poll_until
from hardware.servo import Joint, Servos
from robot import servo_maestro_cli
from robot.config import Config
from robot.devices import make_servos
from robot.errors import CareBotError
from robot.servo_hold import HeldSession

JOG_STEPS = {"+": 1.0, "-": -1.0, "++": 5.0, "--": -5.0}


class HeadSession(HeldSession):
    """Open servos plus a keep-alive thread that rewrites the held pose, as the loop's tick does."""

    def __init__(self, servos: Servos) -> None:
        super().__init__()
        self.servos = servos
        self.held: dict[str, float] = {}
        self.holding = False  # nothing is written until a pose is asked for: `list` moves nothing

    def _open(self) -> None:
        self.servos.open()

    def _close(self) -> None:
        self.servos.close()

    def _resend(self) -> None:
        if self.holding:
            self.servos.write(self.held, {})

    def hold(self, angles: dict[str, float]) -> None:
        """Move joints (degrees by name; the rest to neutral) and keep them there."""
        with self._lock:
            self.held, self.holding = dict(angles), True
            self.servos.write(self.held, {})

    def go_home(self) -> None:
        """Send every output to the board's home setting and stop holding a pose."""
        with self._lock:
            self.holding = False
            self.servos.go_home()

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no joint is moving."""
        return bool(poll_until(lambda: not self._locked(self.servos.moving), timeout, 0.05))

    def positions(self) -> dict[str, float]:
        return dict(self._locked(self.servos.positions))

    def faults(self) -> tuple[str, ...]:
        return tuple(self._locked(self.servos.read_faults))


@contextmanager
def open_session(config: Config, simulate: bool) -> Iterator[HeadSession]:
    """Open the configured servos, or the simulated board set up from the same config."""
    servos, sim = make_servos(config, simulate=simulate)
    session = HeadSession(servos)
    try:
        session.start()
        yield session
    finally:
        session.close()
        if sim is not None:
            sim.stop()


def find_joint(servos: Servos, name: str) -> Joint:
    """A joint by name, with the choices when it is not one."""
    joints = {j.name: j for j in servos.joints}
    j = joints.get(name)
    if j is not None and not j.light:
        return j
    if j is not None:
        raise CareBotError(f"{name} is a light: it has no angle")
    listed = ", ".join(f"{j.name} ({j.low_deg:g}..{j.high_deg:g}°)" for j in joints.values() if not j.light)
    raise CareBotError(f"no joint {name!r}; joints: {listed}")


def within(j: Joint, deg: float) -> float:
    """`deg` if it is inside the joint's limits; else a clear error (µs typed for degrees, too)."""
    if j.low_deg <= deg <= j.high_deg:
        return deg
    hint = (". Angles are degrees from neutral; pulse widths are the Maestro's calibration: "
            "carebot servo maestro" if abs(deg) > 360 else "")
    raise CareBotError(f"{deg:g}° is outside {j.name}'s limits {j.low_deg:g}..{j.high_deg:g}°{hint}")


def shown(deg: float) -> str:
    return "off" if math.isnan(deg) else f"{deg:.1f}°"


def cmd_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Each joint's limits and where it is, and the board's faults (asking clears them); nothing moves."""
    config = servo_maestro_cli.load(args)
    with open_session(config, args.sim) as session:
        health, faults, now = session.servos.health(), session.faults(), session.positions()
        out.write(f"board {health.where}: faults {', '.join(faults) or 'none'}\n")
        out.write(f"{'joint':12s} {'role':8s} {'low':>7} {'high':>7} {'now':>7}\n")
        for j in session.servos.joints:
            if j.light:
                out.write(f"{j.name:12s} {j.role:8s} {'(light)':>23}\n")
            else:
                out.write(f"{j.name:12s} {j.role:8s} {j.low_deg:>6.1f}° {j.high_deg:>6.1f}° {shown(now[j.name]):>7}\n")
    return 0


def cmd_move(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Move one joint to an angle and hold it until it settles."""
    config = servo_maestro_cli.load(args)
    with open_session(config, args.sim) as session:
        j = find_joint(session.servos, args.joint)
        session.hold({j.name: within(j, args.degrees)})
        session.settle()
        out.write(f"{j.name} at {shown(session.positions()[j.name])}\n")
    return 0


def cmd_centre(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Every joint to neutral (0°)."""
    config = servo_maestro_cli.load(args)
    with open_session(config, args.sim) as session:
        session.hold({})
        session.settle()
        for name, deg in session.positions().items():
            out.write(f"{name} at {shown(deg)}\n")
    return 0


def cmd_limits(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Visit a joint's low and high limits, then neutral: what the robot can reach."""
    config = servo_maestro_cli.load(args)
    with open_session(config, args.sim) as session:
        j = find_joint(session.servos, args.joint)
        for label, deg in (("low", j.low_deg), ("high", j.high_deg), ("neutral", 0.0)):
            session.hold({j.name: deg})
            session.settle(args.timeout)
            out.write(f"{j.name} {label:8s} {session.positions()[j.name]:8.1f}°\n")
    return 0


def cmd_home(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Send every output to the board's home setting (the safe state)."""
    config = servo_maestro_cli.load(args)
    with open_session(config, args.sim) as session:
        session.go_home()
        session.settle()
        for name, deg in session.positions().items():
            out.write(f"{name} at {shown(deg)}\n")
    return 0


JOG_HELP = """Jog each joint: + and - (1°), ++ and -- (5°), or type an angle in degrees from neutral.
'next' goes to the next joint, 'quit' stops. The other joints are held at neutral."""


def cmd_jog(args: argparse.Namespace, out: TextIO = sys.stdout, inp: TextIO = sys.stdin) -> int:
    """Jog joints interactively within their limits, reading each position back."""
    config = servo_maestro_cli.load(args)
    out.write(JOG_HELP + "\n")
    lines = iter(inp.readline, "")
    with open_session(config, args.sim) as session:
        joints = [find_joint(session.servos, args.joint)] if args.joint else [
            j for j in session.servos.joints if not j.light]
        for j in joints:
            deg = 0.0
            session.hold({j.name: deg})
            out.write(f"\n{j.name}: {deg:.1f}°, limits {j.low_deg:g}..{j.high_deg:g}°\n")
            out.flush()
            word = "quit"
            for raw in lines:
                word = raw.strip().lower()
                if word in ("next", "quit"):
                    break
                step = JOG_STEPS.get(word)
                if step is None and not re.fullmatch(r"-?\d+(\.\d+)?", word):
                    if word:
                        out.write("unknown; use + - ++ -- an angle, next or quit\n")
                    continue
                try:
                    deg = within(j, deg + step if step is not None else float(word))
                except CareBotError as exc:
                    out.write(f"{exc}\n")
                    continue
                session.hold({j.name: deg})
                session.settle()
                out.write(f"{j.name} -> {shown(session.positions()[j.name])}\n")
                out.flush()
            if word == "quit":
                break
    return 0


def _wait_s(text: str) -> float:
    """A wait in seconds that waits (a negative or NaN one read every stop before the joint moved)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds between 0 and 60")
    return value


def add_parser(sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """Add `carebot servo ...` to the CLI."""
    p = sub.add_parser("servo", help="list, move, jog, centre and home the head's joints in degrees; the Maestro's "
                       "calibration", description="Technician tools for the servos, in degrees from each joint's "
                       "neutral (pulse widths: carebot servo maestro). Stop the robot first.")
    ssub = p.add_subparsers(dest="servo_command", required=True, metavar="ACTION")

    def common(parent: Any, name: str, text: str, func: Callable[..., int], **kw: Any) -> argparse.ArgumentParser:
        q = with_config(parent.add_parser(name, help=text, description=text, **kw))
        q.add_argument("--sim", action="store_true", help="use a simulated board set up from the config")
        q.set_defaults(func=func)
        return q

    common(ssub, "list", "show each joint's limits and position in degrees, and the board's faults", cmd_list)
    q = common(ssub, "move", "move one joint to an angle and hold it until it settles", cmd_move)
    q.add_argument("joint", help="joint name")
    q.add_argument("degrees", type=float, help="angle in degrees from neutral, within the joint's limits")
    q = common(ssub, "jog", "jog joints step by step in degrees, reading each position back", cmd_jog)
    q.add_argument("joint", nargs="?", default=None, help="only this joint (default: each in turn)")
    common(ssub, "centre", "every joint to neutral (0°)", cmd_centre, aliases=["center"])
    q = common(ssub, "limits", "visit a joint's low and high limits, then neutral", cmd_limits, aliases=["sweep"])
    q.add_argument("joint", help="joint name")
    q.add_argument("--timeout", type=_wait_s, default=5.0, help="seconds to wait at each stop (0..60)")
    common(ssub, "home", "send every output to the board's home setting (the safe state)", cmd_home)
    servo_maestro_cli.add_parser(ssub, common)
