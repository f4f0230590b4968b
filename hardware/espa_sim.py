"""A simulated paging system on a pseudo-terminal: the other end of an ESPA 4.4.4 line, with faults.

`PagingSystem` is the paging system's side of the protocol with no I/O: bytes in, bytes out. It is a
slave to a CareBot control station (answers polls with EOT, selections with ACK, blocks with ACK or NAK),
or the control station itself (`role="master"`: it polls CareBot every `poll_interval_s`). It keeps every
call it took, sends the blocks in `to_send` (status information, say) when polled as a slave, and can be
told to NAK blocks, refuse selections, take blocks with a corrupted BCC (noise on the line), go silent,
or answer slowly. `PtyPagingSystem` serves one on a pseudo-terminal behind a
stable link, at the pace of a real line of the given baud rate, so pyserial opens it like a real port;
it can be unplugged and plugged back in like a USB serial adapter.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hardware.espa import (
    ACK,
    CALL_ADDRESS,
    CALL_TO_PAGER,
    DISPLAY_MESSAGE,
    EOT,
    NAK,
    PRIORITY,
    Block,
    Control,
    Decoder,
    Enquiry,
    Rejected,
    enquiry,
    poll,
)


@dataclass(frozen=True)
class TakenCall:
    """A call the paging system acknowledged, with the monotonic and wall-clock times of its ACK."""

    address: str
    text: str
    priority: str
    block: Block
    acked_at: float
    acked_wall: float


@dataclass
class PagingSystem:
    """The paging system's end of the line: no I/O, faults by attribute."""

    address: str = "2"
    peer: str = "1"
    role: Literal["slave", "master"] = "slave"
    poll_interval_s: float = 0.2
    nak_blocks: int = 0       # NAK this many good blocks
    corrupt_blocks: int = 0   # this many blocks arrive with their BCC damaged (and are NAKed)
    refuse_selects: int = 0   # NAK this many selections
    silent: bool = False      # read everything, answer nothing
    max_text: int = 0         # NAK a call whose text is longer than its display (0: any length)
    calls: list[TakenCall] = field(default_factory=list)
    received: bytearray = field(default_factory=bytearray)
    naks_sent: int = 0
    to_send: list[bytes] = field(default_factory=list)  # blocks (e.g. status information) to send when polled
    naks_received: int = 0
    _sending: str = ""  # "select" or "block" while this paging system is the temporary master
    _repeats: int = 0
    decoder: Decoder = field(default_factory=Decoder)
    _after_eot: bool = False
    _selected: bool = False
    _next_poll: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the line; returns the answer to put on it."""
        with self._lock:
            self.received += data
            out = bytearray()
            for byte in data:
                if self.corrupt_blocks and self.decoder.awaiting_bcc:
                    self.corrupt_blocks -= 1
                    byte ^= 0x55
                for frame in self.decoder.feed(bytes([byte])):
                    out += self._frame(frame)
            return b"" if self.silent else bytes(out)

    def due(self, now: float) -> bytes:
        """As the control station: the poll that is due, if any."""
        if self.role != "master" or self.silent or self._selected or now < self._next_poll:
            return b""
        self._next_poll = now + self.poll_interval_s
        return poll(self.peer)

    def _frame(self, frame: Block | Enquiry | Control | Rejected) -> bytes:
        after_eot, self._after_eot = self._after_eot, frame == Control(EOT)
        if self._sending and isinstance(frame, Control):
            return self._sent(frame)
        if frame == Control(EOT):
            self._selected = False
            return b""
        if isinstance(frame, Enquiry):
            if frame.address != self.address:
                return b""  # another station polled or selected
            if after_eot and self.role == "slave":
                if self.to_send:  # polled with something to say: select the control station
                    self._sending, self._repeats = "select", 0
                    return enquiry(self.peer)
                return bytes([EOT])  # polled: nothing to send
            if self.refuse_selects:
                self.refuse_selects -= 1
                return self._nak()
            self._selected = True
            return bytes([ACK])
        if not self._selected:
            return b""
        if isinstance(frame, Rejected):
            return self._nak()
        if isinstance(frame, Block):
            if self.nak_blocks or (self.max_text and len(frame.get(DISPLAY_MESSAGE) or "") > self.max_text):
                self.nak_blocks = max(0, self.nak_blocks - 1)
                return self._nak()
            if frame.header == CALL_TO_PAGER and not self.silent:
                self.calls.append(TakenCall(frame.get(CALL_ADDRESS) or "", frame.get(DISPLAY_MESSAGE) or "",
                                            frame.get(PRIORITY) or "", frame, time.monotonic(),
                                            time.time()))
            return bytes([ACK])
        return b""

    def _sent(self, answer: Control) -> bytes:
        """As temporary master: the control station's answer to our selection or block."""
        if answer == Control(NAK):
            self.naks_received += 1
        if self._sending == "block" and answer == Control(ACK):
            self.to_send.pop(0)
            self._repeats = 0
        elif self._sending == "block" and answer == Control(NAK) and self._repeats < 3:
            self._repeats += 1  # the same block again
        elif answer != Control(ACK):  # the selection refused, or the block NAKed too often: next poll
            self._sending = ""
            return bytes([EOT])
        if not self.to_send:
            self._sending = ""
            return bytes([EOT])
        self._sending = "block"
        return self.to_send[0]

    def _nak(self) -> bytes:
        self.naks_sent += 1
        return bytes([NAK])


class PtyPagingSystem:
    """A PagingSystem served on a pseudo-terminal, paced like a serial line of `baud` bits per second."""

    def __init__(self, system: PagingSystem, link: str | os.PathLike[str] | None = None,
                 baud: int | None = None, bits_per_char: int = 11) -> None:
        self.system = system
        self.link = Path(link) if link else None
        self.char_s = bits_per_char / baud if baud else 0.0
        self.latency_s = 0.0  # extra delay before each answer: a slow paging system
        self._master = -1
        self._name = ""
        self._fresh: list[Any] = []  # the line settings before any client, restored after each
        self._client = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    @property
    def port(self) -> str:
        """The path a driver opens: the stable link if there is one."""
        return str(self.link) if self.link else self._name

    def start(self) -> PtyPagingSystem:
        """Open the pseudo-terminal and start answering."""
        self.replug()
        self._thread = threading.Thread(target=self._serve, name="paging-sim", daemon=True)
        self._thread.start()
        return self

    def unplug(self) -> None:
        """Pull the adapter out: the client's next read or write fails, and the port is gone."""
        with self._write_lock:
            if self._master >= 0:
                os.close(self._master)
            self._master = -1
            if self.link is not None and self.link.is_symlink():
                self.link.unlink()

    def replug(self) -> None:
        """Plug it back in: a new pseudo-terminal behind the same stable link."""
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self._name = os.ttyname(slave)
        self._fresh = termios.tcgetattr(slave)
        os.close(slave)  # so that the line reads as closed (EIO) when no client has it open
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self._name)
            os.replace(tmp, self.link)
        with self._write_lock:
            self._master, self._client = master, False

    def stop(self) -> None:
        """Stop answering and close the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.unplug()

    def __enter__(self) -> PtyPagingSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_calls(self, n: int, timeout: float) -> list[TakenCall]:
        """The calls taken, once there are n of them or the timeout has passed."""
        end = time.monotonic() + timeout
        while len(self.system.calls) < n and time.monotonic() < end:
            time.sleep(0.01)
        return list(self.system.calls)

    def _serve(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master < 0:  # unplugged
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.01)
                data = os.read(master, 4096) if ready else b""
                self._client = self._client or bool(data)
                attached = True
            except (OSError, ValueError):
                data = b""  # no client has the port open: nothing to read
                attached = False
                self._closed_by_client()
            if data:
                time.sleep(len(data) * self.char_s)  # the bytes arrive at the line's pace
                self._write(self.system.feed(data), self.latency_s)
            if attached:  # a poll written to a line nobody has open is lost, and can upset the next opener's
                self._write(self.system.due(time.monotonic()), 0.0)

    def _closed_by_client(self) -> None:
        """Put back the first settings once a client has gone: a Linux pty takes 7-bit or parity settings
        from a fresh line, then refuses them (EINVAL) from the next client if only those would change."""
        if self._client:
            self._client = False
            try:
                termios.tcsetattr(self._master, termios.TCSANOW, self._fresh)
            except (termios.error, ValueError):
                pass
        time.sleep(0.01)

    def _write(self, data: bytes, delay: float) -> None:
        if not data:
            return
        if delay:
            time.sleep(delay)
        time.sleep(len(data) * self.char_s)
        with self._write_lock:
            try:
                os.write(self._master, data)
            except (OSError, ValueError):
                pass  # the client closed the port: the answer is lost, as on a real line
