"""The fault injector's door into a running robot: test and bench use only, off by default.

`carebot sim` and `carebot run` open it only when the environment says
`CAREBOT_FAULT_INJECTION=1` (read once, by the CLI); then the console takes `fault ...` lines.
Everything it does goes through the robot's real machinery, never around it:

- `fault raise NAME`: the guarded part or callback NAME raises an exception in its own thread
  or call (robot.core.guard's inject), so the real guard catches, reports and restarts it.
- `fault stall NAME SECONDS`: the guarded part NAME hangs for SECONDS in its own thread (a wedged
  library call); the guard notices it within 2 s.
- `fault overrun SECONDS` and `fault tick N`: the tick's motion sampling sleeps for 2.5 periods
  on every tick for SECONDS (a burst of loop overruns), or raises on the next N ticks (a bug in
  the tick): both through the real loop and its fault and recovery paths.
- `fault clock SECONDS`: the wall clock the robot reads (`time.time`, which every module calls
  through the `time` module) jumps by SECONDS, as an NTP step would. The monotonic clock, which
  drives the loop, does not move, as on a real machine. The simulator's robot clock (robot.clock:
  the schedule, quiet hours, timeouts, escalation, "what time is it") is its own and is moved
  with the console's `clock` command instead; this fault is about protocol time (command
  freshness, heartbeats, the outbox's retry times).
- `fault camera unplug|replug`: the simulated camera in the vision worker is lost or comes back.
- `fault probe`: one line `FAULTPROBE {json}` with what the bench needs to judge recovery: state,
  faults, privacy, parts and workers, open alerts and the vision frames seen since the door opened.

Worker kills, the servo board, the broker and the disk are faulted from outside the process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robot.messages import Message
    from robot.runtime import Runtime

ENV = "CAREBOT_FAULT_INJECTION"
_real_time = time.time


class InjectedFault(RuntimeError):
    """The exception the door injects: its name says in every log line that it was put there."""


class FaultDoor:
    """Carries out `fault ...` console lines against one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.frames = 0  # vision observations since the door opened (a closed camera sends none)
        self.clock_offset_s = 0.0
        runtime.workers.also_on("vision", self._count_frame)

    def _count_frame(self, msg: Message, now: float) -> None:
        self.frames += 1

    def handle(self, args: list[str], write: Callable[[str], None]) -> None:
        """One `fault` line (without the word `fault`)."""
        rt = self.runtime
        cmd = args[0] if args else "list"
        if cmd == "list":
            write("parts: " + " ".join(sorted(rt.guard.parts)) + "; callbacks: " + " ".join(sorted(rt.guard.callbacks)))
        elif cmd == "raise" and len(args) == 2:
            try:
                rt.guard.inject(args[1], InjectedFault(f"injected into {args[1]}"))
            except KeyError as exc:
                write(f"fault raise: {exc.args[0]}")
                return
            write(f"fault raise {args[1]}: armed")
        elif cmd == "stall" and len(args) == 3 and args[1] in rt.guard.parts:
            rt.guard.parts[args[1]].inject_stall(float(args[2]))
            write(f"fault stall {args[1]}: armed")
        elif cmd in ("overrun", "tick") and len(args) == 2:
            self.break_tick(cmd, float(args[1]))
            write(f"fault {cmd}: armed")
        elif cmd == "clock" and len(args) == 2:
            try:
                self.shift_clock(float(args[1]))
            except ValueError:
                write("fault clock takes seconds, e.g. fault clock 3600 or fault clock -3600")
                return
            write(f"fault clock: wall clock now {self.clock_offset_s:+.0f} s off")
        elif cmd == "camera" and len(args) == 2 and args[1] in ("unplug", "replug"):
            rt.supervisor.send("vision", "inject", fault=args[1])
            write(f"fault camera {args[1]}: sent")
        elif cmd == "probe":
            write("FAULTPROBE " + json.dumps(self.probe(), separators=(",", ":")))
        else:
            write("fault list | raise NAME | stall NAME SECONDS | overrun SECONDS | tick N | clock SECONDS | "
                  "camera unplug|replug | probe")

    def break_tick(self, how: str, amount: float) -> None:
        """Slow every tick for `amount` seconds (overrun), or make the next `amount` ticks raise (tick)."""
        motion = self.runtime.motion
        real = motion.sample
        period = 1.0 / self.runtime.config.loop.rate_hz
        end, left = time.monotonic() + amount, [int(amount)]

        def broken(now: float) -> Any:
            if how == "overrun" and time.monotonic() < end:
                time.sleep(2.5 * period)
            elif how == "tick" and left[0] > 0:
                left[0] -= 1
                raise InjectedFault("injected into the tick")
            return real(now)

        motion.sample = broken  # type: ignore[method-assign]  # the injection itself

    def shift_clock(self, seconds: float) -> None:
        """Step the wall clock every module reads through `time.time` (see the module docstring)."""
        self.clock_offset_s += seconds
        offset = self.clock_offset_s
        time.time = lambda: _real_time() + offset  # type: ignore[assignment]  # the injection itself

    def probe(self) -> dict[str, Any]:
        """What the bench judges recovery by."""
        rt = self.runtime
        facts = rt.behaviour.facts
        link = rt.link
        return {"state": rt.behaviour.state, "faults": sorted(facts.faults), "privacy": facts.privacy,
                "help_alert": rt.help_alert, "open_alerts": len(rt.alerts.open_alerts()),
                "parts_faulted": sorted(n for n, p in rt.guard.parts.items() if p.faulted or not p.alive)
                + sorted(n for n, c in rt.guard.callbacks.items() if c.faulted),
                "workers": {n: [h.state, h.pid] for n, h in rt.supervisor.health().items()},
                "servo_connected": rt.servos.connected, "servo_silent": rt.servos.silent,
                "link_connected": bool(link and link.connected), "outbox_pending": link.outbox.pending() if link else 0,
                "frames": self.frames, "wall_offset_s": self.clock_offset_s}
