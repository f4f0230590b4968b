"""What a scenario step expects, judged against what the running robot did (robot.scenario_run).

An `Observer` reads the in-process runtime (the state machine's history, the sentences said,
the simulated board's servo positions, worker health) and the staff station's received alerts;
a `Mark` is where each of those stood when a step began. `judge` returns what is still missing
(positive expectations) and what went wrong (negative ones), each as a sentence naming the
field, what was expected and what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from robot.scenario import Expect

if TYPE_CHECKING:
    from robot.fault_matrix import Staff
    from robot.runtime import Runtime

MOVED_US = 20.0  # a channel that moved less than this did not move


@dataclass
class Mark:
    """Where the robot's records stood when a step began."""

    history: int
    said: int
    alerts: int
    positions: dict[str, float]
    restarts: dict[str, int]
    frames: int
    worst: dict[str, float] = field(default_factory=dict)  # steady channels: the largest move seen


class Observer:
    """Reads the robot (in this process) and the staff station."""

    def __init__(self, runtime: Runtime, staff: Staff | None) -> None:
        self.runtime = runtime
        self.staff = staff
        self.channels = {c.name: c.channel for c in runtime.config.servo.channels if c.role != "led"}
        self.faces: list[int] = []  # faces vision saw, frame by frame
        runtime.workers.also_on("vision", lambda msg, now: self.faces.append(int(msg.data.get("faces") or 0)))

    def positions(self) -> dict[str, float]:
        """The simulated board's servo positions (µs), by channel name."""
        sim = self.runtime.sim
        if sim is None:
            return {}
        pos = sim.board.positions_us()
        return {name: float(pos[ch]) for name, ch in self.channels.items()}

    def mark(self) -> Mark:
        rt = self.runtime
        return Mark(len(rt.behaviour.history), len(rt.said), len(self.alerts()), self.positions(),
                    {n: h.restarts for n, h in rt.supervisor.health().items()}, len(self.faces))

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert update the staff station has received, oldest first."""
        if self.staff is None:
            return []
        with self.staff._lock:
            return [dict(a.body) for a in self.staff.seen]

    def alerts_since(self, mark: Mark) -> list[dict[str, Any]]:
        """Alert updates new since the mark: a copy of an earlier event (the retained copy on the alert's own
        topic, a replay after a reconnect: the same event_id) is not news."""
        alerts = self.alerts()
        before = {a.get("event_id") for a in alerts[:mark.alerts]}
        return [a for a in alerts[mark.alerts:] if a.get("event_id") is None or a.get("event_id") not in before]

    def states_since(self, mark: Mark) -> list[str]:
        return [dest for _, _, dest in self.runtime.behaviour.history[mark.history:]]

    def said_since(self, mark: Mark) -> list[str]:
        return [s.key for s in list(self.runtime.said)[mark.said:]]


def judge(expect: Expect, obs: Observer, mark: Mark) -> tuple[list[str], list[str]]:
    """(missing, wrong): expected outcomes not seen yet, and outcomes that must not happen but did."""
    rt = obs.runtime
    missing: list[str] = []
    wrong: list[str] = []
    states = obs.states_since(mark)
    now = rt.behaviour.state
    path = " -> ".join(states) if states else "no change"
    if expect.state and not set(expect.state) & {*states, now}:
        missing.append(f"state: expected {' or '.join(expect.state)}; went through {path} (now {now})")
    entered = [s for s in expect.never if s in states]
    if entered:
        wrong.append(f"never: entered {', '.join(entered)}, which it must not ({path})")
    said = obs.said_since(mark)
    unsaid = [k for k in expect.said if k not in said]
    if unsaid:
        missing.append(f"said: expected {', '.join(unsaid)}; said {', '.join(said) or 'nothing'}")
    spoken = [k for k in expect.not_said if k in said]
    if spoken:
        wrong.append(f"not_said: said {', '.join(spoken)}, which it must not")
    seen = obs.alerts_since(mark) if expect.alerts or expect.no_alerts else []
    if expect.no_alerts and seen:
        wrong.append(f"no_alerts: staff received {'; '.join(dict.fromkeys(_alert(a) for a in seen))}")
    if expect.alerts:
        for want in expect.alerts:
            fields = want.model_dump(exclude_none=True)
            if not any(all(a.get(k) == v for k, v in fields.items()) for a in seen):
                shown = "; ".join(dict.fromkeys(_alert(a) for a in seen)) or "no alert update"
                missing.append(f"alerts: expected {_alert(fields)}; staff received {shown}")
    faults = set(rt.behaviour.facts.faults)
    absent = [f for f in expect.faults if f not in faults]
    if absent:
        missing.append(f"faults: expected {', '.join(absent)}; faults now {', '.join(sorted(faults)) or 'none'}")
    if expect.no_faults and faults:
        missing.append(f"no_faults: faults now {', '.join(sorted(faults))}")
    if expect.engagement is not None and rt.engagement != expect.engagement:
        missing.append(f"engagement: expected {expect.engagement}; vision says {rt.engagement}")
    if expect.faces is not None:
        most = max(obs.faces[mark.frames:], default=0)
        if most < expect.faces:
            missing.append(f"faces: expected vision to see {expect.faces} at once; it saw at most {most}")
    pos = obs.positions()
    still = [c for c in expect.moved if abs(pos.get(c, 0.0) - mark.positions.get(c, 0.0)) < MOVED_US]
    if still:
        missing.append("moved: expected " + ", ".join(still) + " to move; "
                       + ", ".join(f"{c} {mark.positions.get(c, 0):.0f} -> {pos.get(c, 0):.0f} us" for c in still))
    for c, limit in expect.steady.items():
        moved = abs(pos.get(c, 0.0) - mark.positions.get(c, 0.0))
        mark.worst[c] = max(mark.worst.get(c, 0.0), moved)
        if moved > limit:
            wrong.append(f"steady: {c} moved {moved:.0f} us from {mark.positions.get(c, 0):.0f} us "
                         f"(at most {limit:.0f} us allowed)")
    health = rt.supervisor.health()
    same = [w for w in expect.restarted if w not in health or health[w].restarts <= mark.restarts.get(w, 0)]
    if same:
        missing.append(f"restarted: expected {', '.join(same)} to be restarted; "
                       + ", ".join(f"{w} {health[w].state}, {health[w].restarts} restarts"
                                   for w in same if w in health))
    return missing, wrong


def unknown_channels(expect: Expect, obs: Observer) -> list[str]:
    """Servo channel names in `moved` and `steady` that this robot has not."""
    return [c for c in [*expect.moved, *expect.steady] if c not in obs.channels]


def _alert(a: dict[str, Any]) -> str:
    extra = " ".join(f"{k}={a[k]}" for k in ("priority", "level", "fault", "reminder") if k in a)
    return f"{a.get('type')} {a.get('state')}" + (f" ({extra})" if extra else "")
