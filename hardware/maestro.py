"""Pololu Mini Maestro driver over pyserial (USB virtual COM port or TTL serial).

The control loop calls `write_targets` once per tick: one Set Multiple Targets packet
per block of consecutive channels, written in a single write. That write is also the
board's heartbeat: set a serial timeout on the board (Maestro Control Center, Serial
Settings, "Timeout") and if the loop stops writing for that long, the board raises
error bit 5 and sends every channel to its home setting.

Error polling never blocks the loop: `write_targets(..., query_errors=True)` appends a
Get Errors command, and `poll_errors()` reads whatever reply bytes have arrived.
An unplugged or reset board raises DeviceUnavailable; hardware.reconnect reopens it with
backoff from its own thread, so the loop only ever sees `connected` flip back.

A board that takes writes but stops answering (hung firmware, a dead RX line) still looks
connected; `silent` says so once an owed reply is `silent_after_s` late with nothing heard,
and clears as soon as the board answers again. While silent, each error poll forgets the
old queries and asks afresh, so a board that lost them is asked again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import serial

from hardware.errors import DeviceUnavailable, ProtocolError
from hardware.maestro_protocol import (
    Cmd,
    Framing,
    decode_errors,
    decode_moving,
    decode_position,
)

log = logging.getLogger(__name__)

# pyserial counts a write's timeout from before the write and checks it after: a thread descheduled for longer
# (a loaded machine) raised "Write timeout" with every byte sent, and a healthy board was declared lost (seen at
# 50 ms in a test suite at load 5). A board that takes nothing is still found out within this.
WRITE_TIMEOUT_S = 0.25
MAX_OWED = 3  # error queries in flight at most: a slow board is not buried in them


def blocks(channels: Sequence[int]) -> list[tuple[int, int]]:
    """Split channel numbers into runs of consecutive channels: [(first, count), ...]."""
    runs: list[tuple[int, int]] = []
    for ch in sorted(set(channels)):
        if runs and runs[-1][0] + runs[-1][1] == ch:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((ch, 1))
    return runs


class MaestroBus:
    """A Maestro on a serial port, compact or Pololu protocol, in microseconds (hardware.maestro_servos
    puts degrees in front of it)."""

    def __init__(self, port: str, *, device_number: int | None = None, baud: int = 115200,
                 reply_timeout_s: float = 0.05, silent_after_s: float = 1.0,
                 limits: Mapping[int, tuple[int, int]] | None = None,
                 opener: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.port = port
        self.framing = Framing(device_number)
        self.baud = baud
        self.reply_timeout_s = reply_timeout_s
        self.silent_after_s = silent_after_s
        self.limits = dict(limits or {})
        self._opener = opener
        self._serial: serial.Serial | None = None
        self._opening = False
        self._lock = threading.Lock()
        self._pending_error_replies = 0
        self._waiting_since: float | None = None  # replies owed, and nothing heard since then
        self._rx = bytearray()
        self.last_errors = 0
        self.protocol_faults = 0
        self._out_of_step = False  # a reply may still be on its way that no one will ask for
        self.packets = 0
        self._layouts: dict[tuple[int, ...], list[tuple[bytes, tuple[int, ...]]]] = {}
        self._get_errors = self.framing.get_errors()

    @property
    def connected(self) -> bool:
        # not while open() still sets the board up: a tick's packet must not land between
        # its query and the reply (and a watcher must not see a port that is about to close)
        return self._serial is not None and not self._opening

    @property
    def silent(self) -> bool:
        since = self._waiting_since
        return self._serial is not None and since is not None and time.monotonic() - since > self.silent_after_s

    def open(self) -> None:
        try:
            port = self._opener(self.port, self.baud, timeout=self.reply_timeout_s, write_timeout=WRITE_TIMEOUT_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open servo board at {self.port}: {exc}") from None
        with self._lock:
            self._serial = port
            self._opening = True
            self._pending_error_replies = 0
            self._waiting_since = None
            self._rx.clear()
        try:
            port.reset_input_buffer()
            for channel, (speed, accel) in sorted(self.limits.items()):
                self.set_limits(channel, speed, accel)
            self.last_errors = self.read_errors()  # also clears what piled up while away
            self._opening = False
        except ProtocolError as exc:  # it answered, but not as a Maestro does: not a board to drive
            self.close()
            raise DeviceUnavailable(f"servo board at {self.port} answered wrongly when opened: {exc}") from None
        except BaseException:  # whatever went wrong, the port is never left open behind it
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            port, self._serial = self._serial, None
            self._opening = False
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    # -- writing --------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        port = self._serial
        if port is None:
            raise DeviceUnavailable(f"servo board at {self.port} is not connected")
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        self.close()
        raise DeviceUnavailable(f"servo board at {self.port} lost: {exc}") from None

    def packet(self, targets_us: Mapping[int, float], query_errors: bool = False) -> bytes:
        """The bytes of one tick's packet: Set Target or Set Multiple Targets per channel block.

        The block layout is worked out once per set of channels; each tick then only encodes
        the values, which keeps the driver's cost per packet to a few microseconds.
        """
        key = tuple(targets_us)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = self._layout(key)
        out = bytearray()
        for header, channels in layout:
            out += header
            for ch in channels:
                q = int(targets_us[ch] * 4 + 0.5)
                if not 0 <= q <= 0x3FFF:
                    raise ProtocolError(f"target {targets_us[ch]} µs on channel {ch} is outside 0..4095.75 µs")
                out.append(q & 0x7F)
                out.append(q >> 7)
        if query_errors:
            out += self._get_errors
        return bytes(out)

    def _layout(self, channels: tuple[int, ...]) -> list[tuple[bytes, tuple[int, ...]]]:
        layout = []
        for first, count in blocks(channels):
            if first < 0 or first + count > 24:
                raise ProtocolError(f"channels {first}..{first + count - 1} are outside 0..23")
            if count == 1:
                header = self.framing.wrap(Cmd.SET_TARGET, bytes((first,)))
            else:
                header = self.framing.wrap(Cmd.SET_MULTIPLE_TARGETS, bytes((count, first)))
            layout.append((header, tuple(range(first, first + count))))
        return layout

    def write_targets(self, targets_us: Mapping[int, float], query_errors: bool = False) -> None:
        if query_errors and self.silent:
            self._pending_error_replies = 0  # ask afresh: the board may have lost the old queries
            self._rx.clear()
        elif query_errors and self._pending_error_replies >= MAX_OWED:
            query_errors = False
        data = self.packet(targets_us, query_errors)
        self._write(data)
        self.packets += 1
        if query_errors:
            self._pending_error_replies += 1
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()

    def set_limits(self, channel: int, speed: int, acceleration: int) -> None:
        self._write(self.framing.set_speed(channel, speed) + self.framing.set_acceleration(channel, acceleration))

    def go_home(self) -> None:
        self._write(self.framing.go_home())

    # -- non-blocking reply handling for the loop ---------------------------------------------

    def poll_errors(self) -> int | None:
        """Decode any Get Errors replies that have arrived; None if none is complete yet.

        Bytes nobody asked for are a protocol fault: they are counted, logged with their
        hex, and discarded so that later replies line up again.
        """
        port = self._serial
        if port is None:
            return None
        try:
            waiting = port.in_waiting
            if waiting:
                self._rx += port.read(waiting)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
        if waiting and self._pending_error_replies:
            self._waiting_since = time.monotonic()  # it is talking
        result = None
        while len(self._rx) >= 2 and self._pending_error_replies:
            chunk = bytes(self._rx[:2])
            del self._rx[:2]
            self._pending_error_replies -= 1
            try:
                result = self.last_errors = decode_errors(chunk)
            except ProtocolError as exc:
                self._garbage(str(exc))
                return None
        if self._rx and not self._pending_error_replies:
            self._garbage(f"unexpected bytes {bytes(self._rx[:16]).hex(' ')}")
        if not self._pending_error_replies:
            self._waiting_since = None
        return result

    def _garbage(self, why: str) -> None:
        self.protocol_faults += 1
        log.warning("servo board %s: %s; discarding input", self.port, why)
        self._rx.clear()
        self._pending_error_replies = 0
        port = self._serial
        if port is not None:
            try:
                port.reset_input_buffer()
            except (serial.SerialException, OSError):
                pass

    # -- blocking queries (CLI, calibration, tests) --------------------------------------------

    def _query(self, command: bytes, length: int) -> bytes:
        port = self._serial
        if port is None:
            raise DeviceUnavailable(f"servo board at {self.port} is not connected")
        # Error replies still owed to a write's query arrive after the reset below and were read as this
        # query's answer (a tool's read-back while it keeps the targets written): collect them first.
        deadline = time.monotonic() + self.reply_timeout_s
        faults = self.protocol_faults
        while self._pending_error_replies and self._serial is not None and time.monotonic() < deadline:
            self.poll_errors()
            time.sleep(0.001)
        if self._out_of_step or self._pending_error_replies or self.protocol_faults != faults:
            self._quiet(port)  # a late, doubled or garbled reply: what is still on its way is dropped
        try:
            port.reset_input_buffer()
            self._rx.clear()
            self._pending_error_replies = 0
            self._waiting_since = None
            port.write(command)
            reply = port.read(length)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
        if len(reply) != length:
            self._out_of_step = True  # its reply may come yet, and be read as the next query's
            raise DeviceUnavailable(
                f"servo board at {self.port} sent {len(reply)} of {length} reply bytes in "
                f"{self.reply_timeout_s * 1000:.0f} ms"
            )
        return bytes(reply)

    def _quiet(self, port: serial.Serial) -> None:
        """Read and drop until the line has been silent for a reply timeout (five at most): after a late
        reply, every later one came a query behind, each read as the answer to the one before."""
        end = time.monotonic() + 5 * self.reply_timeout_s
        heard = time.monotonic()
        try:
            while time.monotonic() < min(end, heard + self.reply_timeout_s):
                if port.in_waiting:
                    port.read(port.in_waiting)
                    heard = time.monotonic()
                time.sleep(0.002)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
        self._rx.clear()
        self._pending_error_replies = 0
        self._out_of_step = False

    def get_position(self, channel: int) -> float:
        return decode_position(self._query(self.framing.get_position(channel), 2))

    def is_moving(self) -> bool:
        return decode_moving(self._query(self.framing.get_moving_state(), 1))

    def read_errors(self) -> int:
        self.last_errors = decode_errors(self._query(self.framing.get_errors(), 2))
        return self.last_errors
