"""Head motion: poses, gestures, look-at, breathing and speaking, sampled once per tick.

Everything is in joint degrees (0 = the joint's neutral), with the limits the servo
device gives enforced at the very end; the backend alone knows its units. Transitions between
poses and gesture keyframes follow minimum-jerk profiles, so the head never snaps.
Look-at is proportional control toward the face with a deadband and a rate limit.
The indicator LED shows the behaviour's mode as a blink pattern.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from dataclasses import dataclass

from hardware.servo import Joint

JOINT_ROLES = ("pan", "tilt", "eyelids")

# Base poses in degrees per role; unlisted roles stay at 0.
POSES: dict[str, dict[str, float]] = {
    "neutral": {},
    "breathe": {},
    "attentive": {"tilt": 4.0, "eyelids": 5.0},
    "rest": {"tilt": -8.0, "eyelids": -10.0},
    "sleep": {"tilt": -20.0, "eyelids": -40.0},
    "safe": {},
}

# Gestures: keyframes of (seconds to reach, offsets in degrees).
GESTURES: dict[str, list[tuple[float, dict[str, float]]]] = {
    "nod": [(0.35, {"tilt": -12.0}), (0.35, {"tilt": 5.0}), (0.3, {"tilt": -6.0}), (0.3, {"tilt": 0.0})],
    "shake": [(0.3, {"pan": 15.0}), (0.45, {"pan": -15.0}), (0.4, {"pan": 8.0}), (0.3, {"pan": 0.0})],
    "tilt_head": [(0.5, {"tilt": 8.0, "pan": 5.0}), (1.0, {}), (0.5, {"tilt": 0.0, "pan": 0.0})],
}
POSE_GESTURES = set(POSES)

# Indicator LED patterns: (period s, on-fraction); (0, 1) is steady on, (0, 0) off.
LED_PATTERNS: dict[str, tuple[float, float]] = {
    "off": (0.0, 0.0), "idle": (0.0, 0.0), "sleep": (0.0, 0.0),
    "listening": (0.0, 1.0),    # steady: the robot is listening
    "privacy": (2.0, 0.5),      # slow blink: microphone and camera are off
    "paused": (2.0, 0.1),       # short flash: paused by staff
    "alert": (0.25, 0.5),       # fast blink: help has been called
    "fault": (1.0, 0.2),        # flash once a second: needs a technician
}


def min_jerk(s: float) -> float:
    """The minimum-jerk profile: position fraction at time fraction s in [0, 1]."""
    s = min(1.0, max(0.0, s))
    return s * s * s * (10 - 15 * s + 6 * s * s)


LOOK_HISTORY = 100  # ticks of head direction remembered (1 s at 100 Hz), to aim from where a frame was taken


@dataclass(frozen=True)
class Frame:
    """One tick's targets: angles in degrees and lights, by output name."""

    angles: dict[str, float]
    lights: dict[str, bool]


@dataclass
class _Move:
    start: float
    duration: float
    frm: float
    to: float

    def at(self, now: float) -> float:
        if self.duration <= 0:
            return self.to
        return self.frm + (self.to - self.frm) * min_jerk((now - self.start) / self.duration)

    def done(self, now: float) -> bool:
        return now >= self.start + self.duration


class MotionController:
    """Composes pose, gesture, look-at and idle motion into one set of targets per tick."""

    def __init__(self, outputs: Iterable[Joint], *, fov_deg: tuple[float, float] = (62.0, 48.0),
                 look_gain: float = 3.0, look_deadband_deg: float = 2.0, look_max_dps: float = 60.0,
                 pose_speed_dps: float = 40.0) -> None:
        outputs = list(outputs)
        self.joints: dict[str, Joint] = {j.role: j for j in outputs if j.role in JOINT_ROLES}
        self.leds = [j.name for j in outputs if j.light]
        self.fov = fov_deg
        self.look_gain = look_gain
        self.look_deadband = look_deadband_deg
        self.look_max_dps = look_max_dps
        self.pose_speed = pose_speed_dps
        self.pose = "neutral"
        self._base = {role: _Move(0, 0, 0.0, 0.0) for role in self.joints}
        self._gesture: list[tuple[float, dict[str, float]]] = []
        self._gesture_moves: dict[str, _Move] = {}
        self._offset = {role: 0.0 for role in self.joints}
        self._look = {"pan": 0.0, "tilt": 0.0}
        self._look_target: dict[str, float] | None = None
        self._looked: collections.deque[tuple[float, float, float]] = collections.deque(maxlen=LOOK_HISTORY)
        self.speaking = False
        self.indicator = "off"
        self._last = 0.0
        self.last_output = Frame({}, {})

    # -- commands (from intents) ----------------------------------------------------------------

    def play(self, name: str, now: float) -> None:
        """Start a pose or a gesture by name; unknown names raise KeyError."""
        if name in POSES:
            self._set_pose(name, now)
        elif name in GESTURES:
            self._gesture = list(GESTURES[name])
            self._gesture_moves = {}
            self._next_keyframe(now)
        else:
            raise KeyError(f"unknown gesture {name!r}; known: {', '.join(sorted([*POSES, *GESTURES]))}")
        if name in ("sleep", "safe", "rest", "neutral"):
            self.release_look()

    def look_at(self, x: float, y: float, seen_from: tuple[float, float] | None = None) -> None:
        """Aim at a point in normalised image coordinates (-1..1, +x right, +y down), in a frame taken
        with the head at `seen_from` (pan, tilt degrees; where it looks now if None)."""
        err_pan = -max(-1.0, min(1.0, x)) * self.fov[0] / 2
        err_tilt = -max(-1.0, min(1.0, y)) * self.fov[1] / 2
        if abs(err_pan) < self.look_deadband and abs(err_tilt) < self.look_deadband:
            return  # close enough: do not chase noise
        # The camera rides on the head, so the error is relative to where the head was when the frame was
        # taken. Adding it to where the head is now counts again the turn made since, and the head
        # overshoots and swings from side to side (seen in the second-person scenario).
        pan, tilt = seen_from if seen_from is not None else (self._look["pan"], self._look["tilt"])
        self._look_target = {"pan": pan + err_pan, "tilt": tilt + err_tilt}

    def looked(self, t: float) -> tuple[float, float]:
        """Where the head was aimed (pan, tilt) at monotonic time t; the oldest remembered if t is older."""
        for when, pan, tilt in reversed(self._looked):
            if when <= t:
                return pan, tilt
        if self._looked:
            return self._looked[0][1], self._looked[0][2]
        return self._look["pan"], self._look["tilt"]

    def release_look(self) -> None:
        """Stop tracking and drift back to the pose."""
        self._look_target = {"pan": 0.0, "tilt": 0.0}

    def set_indicator(self, mode: str) -> None:
        """Show a behaviour mode on the LED."""
        if mode not in LED_PATTERNS:
            raise KeyError(f"unknown indicator mode {mode!r}")
        self.indicator = mode

    # -- per tick -------------------------------------------------------------------------------

    def sample(self, now: float) -> Frame:
        """Angles for every joint and the state of every light at time `now`."""
        dt = min(0.1, max(0.0, now - self._last)) if self._last else 0.0
        self._last = now
        self._step_look(dt)
        self._looked.append((now, self._look["pan"], self._look["tilt"]))
        if self._gesture_moves and all(m.done(now) for m in self._gesture_moves.values()):
            self._next_keyframe(now)
        angles: dict[str, float] = {}
        for role, joint in self.joints.items():
            deg = self._base[role].at(now)
            move = self._gesture_moves.get(role)
            if move is not None:
                deg += move.at(now)
            deg += self._look.get(role, 0.0)
            deg += self._idle_motion(role, now)
            angles[joint.name] = joint.clamp(deg)
        on = self._led_on(now)
        self.last_output = Frame(angles, {name: on for name in self.leds})
        return self.last_output

    def angles(self) -> dict[str, float]:
        """The last commanded angle of each joint, in degrees."""
        return {role: self.last_output.angles.get(j.name, 0.0) for role, j in self.joints.items()}

    # -- internals ------------------------------------------------------------------------------

    def _set_pose(self, name: str, now: float) -> None:
        self.pose = name
        target = POSES[name]
        for role, move in self._base.items():
            here = move.at(now)
            to = self.joints[role].clamp(target.get(role, 0.0))
            duration = max(0.3, abs(to - here) / self.pose_speed)
            if name == "safe":
                duration *= 2  # slower: something is wrong
            self._base[role] = _Move(now, duration, here, to)

    def _next_keyframe(self, now: float) -> None:
        if not self._gesture:
            self._gesture_moves = {}
            return
        duration, offsets = self._gesture.pop(0)
        moves = {}
        for role in self.joints:
            here = self._gesture_moves[role].at(now) if role in self._gesture_moves else 0.0
            moves[role] = _Move(now, duration, here, offsets.get(role, here))
        self._gesture_moves = moves

    def _step_look(self, dt: float) -> None:
        if self._look_target is None or dt <= 0:
            return
        max_step = self.look_max_dps * dt
        settled = True
        for role in ("pan", "tilt"):
            joint = self.joints.get(role)
            target = joint.clamp(self._look_target[role]) if joint else self._look_target[role]
            err = target - self._look[role]
            step = max(-max_step, min(max_step, self.look_gain * err * dt))
            self._look[role] += step
            if abs(err) > 0.05:
                settled = False
        if settled and self._look_target == {"pan": 0.0, "tilt": 0.0}:
            self._look_target = None

    def _idle_motion(self, role: str, now: float) -> float:
        if role == "tilt" and self.pose == "breathe":
            return 1.5 * math.sin(2 * math.pi * 0.2 * now)  # slow breathing, 12 per minute
        if role == "tilt" and self.speaking:
            return 1.2 * math.sin(2 * math.pi * 1.8 * now)  # gentle bob while speaking
        if role == "eyelids" and self.speaking:
            return 3.0 * math.sin(2 * math.pi * 0.9 * now)
        return 0.0

    def _led_on(self, now: float) -> bool:
        period, duty = LED_PATTERNS[self.indicator]
        if period == 0:
            return duty >= 0.5
        return (now % period) < period * duty
