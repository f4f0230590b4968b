"""A virtual Pololu Mini Maestro: the same bytes in, the same bytes out (hardware.maestro_pty serves it).

`VirtualMaestro` is the board's logic with no I/O: it parses the compact, Pololu and
Mini SSC protocols byte by byte, moves its servos under the speed and acceleration
limits (in the board's own units), keeps the error register, and on serial timeout
sends every channel to its home setting. Malformed input sets the error bit the real
board would set and never raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hardware.maestro_protocol import BAUD_DETECT, MAX_CHANNELS, Cmd, MaestroError

# Data bytes after the command byte; SET_MULTIPLE_TARGETS depends on its count byte.
DATA_LENGTH = {
    Cmd.SET_TARGET: 3, Cmd.SET_SPEED: 3, Cmd.SET_ACCELERATION: 3, Cmd.SET_PWM: 4,
    Cmd.GET_POSITION: 1, Cmd.GET_MOVING_STATE: 0, Cmd.GET_ERRORS: 0, Cmd.GO_HOME: 0,
    Cmd.MINI_SSC: 2, Cmd.SET_MULTIPLE_TARGETS: 2,
}
KNOWN = {int(c) for c in DATA_LENGTH}

# The board's units, in the quarter-µs the firmware counts in:
SPEED_UNIT = 1 / 0.010              # speed 1 = 0.25 µs per 10 ms = 100 q/s (25 µs/s)
ACCEL_UNIT = 1 / 0.010 / 0.080      # acceleration 1 = 0.25 µs / 10 ms / 80 ms = 1250 q/s² (312.5 µs/s²)


@dataclass
class SimChannel:
    """One channel of the virtual board, in quarter-µs like the firmware."""

    min_q: int = 3968           # 992 µs, the factory default
    max_q: int = 8000           # 2000 µs
    home_q: int = 0             # 0: "off" on error; else "go to" this target
    speed: int = 0
    acceleration: int = 0
    default_speed: int = 0
    default_acceleration: int = 0
    target: int = 0
    position: float = 0.0
    velocity: float = 0.0       # quarter-µs per second

    def set_target(self, q: int) -> None:
        """Clamp to min/max like the firmware; 0 switches the output off."""
        self.target = 0 if q == 0 else max(self.min_q, min(self.max_q, q))
        if self.target == 0:
            self.position, self.velocity = 0.0, 0.0
        elif self.position == 0.0 or (self.speed == 0 and self.acceleration == 0):
            # From off the first pulse is the target itself; with no limits the board jumps.
            self.position, self.velocity = float(self.target), 0.0

    def update(self, dt: float) -> None:
        """Move toward the target under the speed and acceleration limits."""
        if self.target == 0 or self.position == self.target:
            self.velocity = 0.0
            return
        distance = self.target - self.position
        direction = math.copysign(1.0, distance)
        v_max = self.speed * SPEED_UNIT if self.speed else math.inf
        if self.acceleration:
            a = self.acceleration * ACCEL_UNIT
            v_stop = math.sqrt(2 * a * abs(distance))  # fastest speed that can still stop in time
            v = min(abs(self.velocity) + a * dt, v_max, v_stop)
        else:
            v = v_max
        step = v * dt
        if step >= abs(distance) or math.isinf(step):
            self.position, self.velocity = float(self.target), 0.0
        else:
            self.position += direction * step
            self.velocity = direction * v


@dataclass
class VirtualMaestro:
    """The board's logic: parser, servo motion, error register and serial timeout."""

    device_number: int = 12
    serial_timeout_s: float = 0.25          # 0 disables, as on the board
    channels: list[SimChannel] = field(default_factory=lambda: [SimChannel() for _ in range(MAX_CHANNELS)])
    errors: int = 0
    commands: int = 0                        # valid commands executed
    timeouts: int = 0                        # serial timeouts that sent the servos home
    ssc_neutral_q: int = 6000
    ssc_range_q: int = 1905

    def __post_init__(self) -> None:
        self._last_valid = time.monotonic()
        self._timed_out = False
        self._last_update: float | None = None
        self._reset_parser()

    # -- configuration, like the Maestro Control Center would store it ------------------------

    def configure(self, channel: int, *, min_us: float, max_us: float, home_us: float | None,
                  speed: int = 0, acceleration: int = 0) -> None:
        """Store a channel's limits, home setting and default speed/acceleration."""
        ch = self.channels[channel]
        ch.min_q, ch.max_q = int(min_us * 4), int(max_us * 4)
        ch.home_q = 0 if home_us is None else int(home_us * 4)
        ch.default_speed = ch.speed = speed
        ch.default_acceleration = ch.acceleration = acceleration

    def power_on(self, now: float | None = None) -> None:
        """Start-up (or reset): every channel at its home setting, limits at their defaults."""
        for ch in self.channels:
            ch.speed, ch.acceleration = ch.default_speed, ch.default_acceleration
            ch.target = ch.home_q
            ch.position, ch.velocity = float(ch.home_q), 0.0
        self.errors = 0
        self._last_valid = time.monotonic() if now is None else now
        self._timed_out = False
        self._reset_parser()

    # -- bytes in, bytes out ------------------------------------------------------------------

    def _reset_parser(self) -> None:
        self._cmd: int | None = None
        self._need = 0
        self._data = bytearray()
        self._pololu_stage = 0        # 1: expecting device number, 2: expecting command
        self._for_me = True

    def feed(self, data: Iterable[int], now: float | None = None) -> bytes:
        """Parse incoming bytes; return the reply bytes the board would send."""
        now = time.monotonic() if now is None else now
        reply = bytearray()
        for b in data:
            self._byte(b, now, reply)
        return bytes(reply)

    def _protocol_error(self) -> None:
        self.errors |= MaestroError.SERIAL_PROTOCOL
        self._reset_parser()

    def _byte(self, b: int, now: float, reply: bytearray) -> None:
        if b & 0x80:
            if self._cmd is not None or self._pololu_stage:
                self._protocol_error()  # a command byte interrupted an unfinished packet
            if b == BAUD_DETECT:
                self._pololu_stage = 1
                return
            self._start(b, now, reply)
            return
        if self._pololu_stage == 1:
            self._for_me = b == self.device_number
            self._pololu_stage = 2
            return
        if self._pololu_stage == 2:
            self._pololu_stage = 0
            self._start(b | 0x80, now, reply)
            return
        if self._cmd is None:
            self._protocol_error()  # a data byte with no command
            return
        self._data.append(b)
        if self._cmd == Cmd.SET_MULTIPLE_TARGETS and len(self._data) == 1:
            count = b
            if count == 0:
                self._protocol_error()
                return
            self._need = 2 + 2 * count
        if len(self._data) >= self._need:
            cmd, data, for_me = self._cmd, bytes(self._data), self._for_me
            self._reset_parser()
            if for_me:
                self._execute(cmd, data, now, reply)

    def _start(self, cmd: int, now: float, reply: bytearray) -> None:
        if cmd not in KNOWN:
            self._protocol_error()
            return
        self._cmd = cmd
        self._need = DATA_LENGTH[Cmd(cmd)]
        self._data = bytearray()
        if self._need == 0:  # complete already: Get Errors, Get Moving State, Go Home
            for_me = self._for_me
            self._reset_parser()
            if for_me:
                self._execute(cmd, b"", now, reply)

    def _execute(self, cmd: int, data: bytes, now: float, reply: bytearray) -> None:
        if cmd == Cmd.SET_PWM:
            pass  # the hardware PWM output is not simulated; the command is still valid
        elif cmd in (Cmd.SET_TARGET, Cmd.SET_SPEED, Cmd.SET_ACCELERATION, Cmd.GET_POSITION):
            channel = data[0]
            if channel >= MAX_CHANNELS:
                self._protocol_error()
                return
            value = data[1] | (data[2] << 7) if len(data) == 3 else 0
            ch = self.channels[channel]
            if cmd == Cmd.SET_TARGET:
                ch.set_target(value)
            elif cmd == Cmd.SET_SPEED:
                ch.speed = value
            elif cmd == Cmd.SET_ACCELERATION:
                if value > 255:
                    self._protocol_error()
                    return
                ch.acceleration = value
            elif cmd == Cmd.GET_POSITION:
                q = int(round(ch.position))
                reply += bytes((q & 0xFF, q >> 8))
        elif cmd == Cmd.SET_MULTIPLE_TARGETS:
            count, first = data[0], data[1]
            if first + count > MAX_CHANNELS:
                self._protocol_error()
                return
            for i in range(count):
                self.channels[first + i].set_target(data[2 + 2 * i] | (data[3 + 2 * i] << 7))
        elif cmd == Cmd.MINI_SSC:
            channel, value = data
            if channel >= MAX_CHANNELS or value > 254:
                self._protocol_error()
                return
            q = self.ssc_neutral_q + (value - 127) * self.ssc_range_q // 127
            self.channels[channel].set_target(q)
        elif cmd == Cmd.GET_ERRORS:
            reply += bytes((self.errors & 0xFF, (self.errors >> 8) & 0xFF))
            self.errors = 0
        elif cmd == Cmd.GET_MOVING_STATE:
            reply.append(1 if any(c.position != c.target for c in self.channels) else 0)
        elif cmd == Cmd.GO_HOME:
            self.go_home()
        self._valid(now)

    def _valid(self, now: float) -> None:
        self.commands += 1
        self._last_valid = now
        self._timed_out = False

    def go_home(self) -> None:
        """Every channel to its home setting: off, or its "go to" target."""
        for ch in self.channels:
            ch.set_target(ch.home_q)

    # -- time -----------------------------------------------------------------------------------

    def update(self, now: float | None = None) -> None:
        """Advance servo motion to `now` and apply the serial timeout."""
        now = time.monotonic() if now is None else now
        if self._last_update is not None:
            dt = max(0.0, min(now - self._last_update, 0.1))
            for ch in self.channels:
                ch.update(dt)
        self._last_update = now
        if (self.serial_timeout_s > 0 and not self._timed_out
                and now - self._last_valid > self.serial_timeout_s):
            self._timed_out = True
            self.timeouts += 1
            self.errors |= MaestroError.SERIAL_TIMEOUT
            self.go_home()

    def positions_us(self) -> list[float]:
        """Every channel's current pulse width in µs (0 = off)."""
        return [c.position / 4 for c in self.channels]
