"""The Pololu Maestro serial protocol: byte-exact encoders and reply decoders.

Reference: Pololu Maestro Servo Controller User's Guide, section 5 ("Serial Interface").
Targets are in quarter-microseconds, sent as two 7-bit data bytes, low bits first; so
1500 µs on channel 2 is 84 02 70 2E in the compact protocol. The Pololu protocol wraps
the same command as AA, device number, command with its top bit cleared, data...
Target 0 means "off": no pulses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from hardware.errors import ProtocolError

BAUD_DETECT = 0xAA
MAX_CHANNELS = 24


class Cmd(IntEnum):
    """Compact-protocol command bytes."""

    SET_TARGET = 0x84
    SET_SPEED = 0x87
    SET_ACCELERATION = 0x89
    SET_PWM = 0x8A
    GET_POSITION = 0x90
    GET_MOVING_STATE = 0x93
    SET_MULTIPLE_TARGETS = 0x9F
    GET_ERRORS = 0xA1
    GO_HOME = 0xA2
    MINI_SSC = 0xFF


class MaestroError(IntFlag):
    """The Maestro's error register (Get Errors, 0xA1); reading it clears it."""

    SERIAL_SIGNAL = 1 << 0
    SERIAL_OVERRUN = 1 << 1
    SERIAL_BUFFER_FULL = 1 << 2
    SERIAL_CRC = 1 << 3
    SERIAL_PROTOCOL = 1 << 4
    SERIAL_TIMEOUT = 1 << 5
    SCRIPT_STACK = 1 << 6
    SCRIPT_CALL_STACK = 1 << 7
    SCRIPT_PROGRAM_COUNTER = 1 << 8


ERROR_MASK = (1 << 9) - 1


def describe_errors(bits: int) -> list[str]:
    """Names of the error bits set in a register value, lowest bit first."""
    names = [flag.name.lower() for flag in MaestroError if bits & flag and flag.name]
    unknown = bits & ~ERROR_MASK
    if unknown:
        names.append(f"unknown_bits_0x{unknown:04x}")
    return names


def us_to_quarter(us: float) -> int:
    """A pulse width in µs as the board's quarter-µs integer (0 stays 0: off)."""
    q = int(round(us * 4))
    if not 0 <= q <= 0x3FFF:
        raise ProtocolError(f"target {us} µs is outside what 14 bits can carry (0..4095.75 µs)")
    return q


def _seven(value: int) -> bytes:
    if not 0 <= value <= 0x3FFF:
        raise ProtocolError(f"value {value} does not fit in two 7-bit bytes")
    return bytes((value & 0x7F, (value >> 7) & 0x7F))


def _channel(channel: int) -> int:
    if not 0 <= channel < MAX_CHANNELS:
        raise ProtocolError(f"channel {channel} is outside 0..{MAX_CHANNELS - 1}")
    return channel


@dataclass(frozen=True)
class Framing:
    """Compact protocol (device None) or Pololu protocol with a device number."""

    device: int | None = None

    def wrap(self, command: int, payload: bytes = b"") -> bytes:
        """Frame one command for the wire."""
        if self.device is None:
            return bytes((command,)) + payload
        if not 0 <= self.device <= 127:
            raise ProtocolError(f"device number {self.device} is outside 0..127")
        return bytes((BAUD_DETECT, self.device, command & 0x7F)) + payload

    def set_target(self, channel: int, us: float) -> bytes:
        """Set Target (0x84)."""
        return self.wrap(Cmd.SET_TARGET, bytes((_channel(channel),)) + _seven(us_to_quarter(us)))

    def set_multiple_targets(self, first_channel: int, us: list[float]) -> bytes:
        """Set Multiple Targets (0x9F) for a block of consecutive channels (Mini Maestro only)."""
        if not us:
            raise ProtocolError("set multiple targets needs at least one target")
        _channel(first_channel + len(us) - 1)
        payload = bytes((len(us), _channel(first_channel))) + b"".join(_seven(us_to_quarter(u)) for u in us)
        return self.wrap(Cmd.SET_MULTIPLE_TARGETS, payload)

    def set_speed(self, channel: int, speed: int) -> bytes:
        """Set Speed (0x87) in 0.25 µs / 10 ms units; 0 means unlimited."""
        return self.wrap(Cmd.SET_SPEED, bytes((_channel(channel),)) + _seven(speed))

    def set_acceleration(self, channel: int, acceleration: int) -> bytes:
        """Set Acceleration (0x89) in 0.25 µs / 10 ms / 80 ms units; 0 means unlimited."""
        if not 0 <= acceleration <= 255:
            raise ProtocolError(f"acceleration {acceleration} is outside 0..255")
        return self.wrap(Cmd.SET_ACCELERATION, bytes((_channel(channel),)) + _seven(acceleration))

    def get_position(self, channel: int) -> bytes:
        """Get Position (0x90): two reply bytes."""
        return self.wrap(Cmd.GET_POSITION, bytes((_channel(channel),)))

    def get_moving_state(self) -> bytes:
        """Get Moving State (0x93): one reply byte."""
        return self.wrap(Cmd.GET_MOVING_STATE)

    def get_errors(self) -> bytes:
        """Get Errors (0xA1): two reply bytes; clears the register."""
        return self.wrap(Cmd.GET_ERRORS)

    def go_home(self) -> bytes:
        """Go Home (0xA2): every channel to its startup/error setting."""
        return self.wrap(Cmd.GO_HOME)


REPLY_LENGTH = {Cmd.GET_POSITION: 2, Cmd.GET_MOVING_STATE: 1, Cmd.GET_ERRORS: 2}


def decode_u16(reply: bytes, what: str) -> int:
    """Decode a two-byte little-endian reply (position or error register)."""
    if len(reply) != 2:
        raise ProtocolError(f"{what}: expected 2 reply bytes, got {len(reply)} ({reply.hex(' ') or 'none'})")
    return reply[0] | (reply[1] << 8)


def decode_position(reply: bytes) -> float:
    """Get Position reply as µs."""
    return decode_u16(reply, "get position") / 4.0


def decode_moving(reply: bytes) -> bool:
    """Get Moving State reply: True while any servo is still moving."""
    if len(reply) != 1 or reply[0] not in (0, 1):
        raise ProtocolError(f"get moving state: expected one byte 00 or 01, got {reply.hex(' ') or 'none'}")
    return reply[0] == 1


def decode_errors(reply: bytes) -> int:
    """Get Errors reply as the register value; bits above bit 8 are flagged as invalid."""
    bits = decode_u16(reply, "get errors")
    if bits & ~ERROR_MASK:
        raise ProtocolError(f"get errors: reply {reply.hex(' ')} sets undefined bits 0x{bits & ~ERROR_MASK:04x}")
    return bits
