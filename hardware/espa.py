"""ESPA 4.4.4, the serial interface of paging and nurse-call systems: blocks, a decoder, and both link roles.

Written from the published description (ESPA 4.4.4, Nov 1984, "Proposal for serial data interface for
paging equipment", as annotated by G. L. Scott, http://www.gscott.me.uk/ESPA.4.4.4/; see docs/nurse-call.md):

- A data block is ``SOH header STX record (RS record)* ETX BCC``; a record is ``identifier US data``.
- The BCC is the modulo-2 sum (XOR) of every character after SOH up to and including ETX.
- The control station polls a station with ``EOT <address> ENQ`` (a poll always follows EOT). The polled
  station answers EOT (nothing to send) or becomes temporary master and selects the station it has data
  for with ``<address> ENQ``; the selected station answers ACK (ready) or NAK. Each block is answered ACK,
  or NAK when its BCC or layout is wrong, and the temporary master repeats it. EOT hands control back.
- A control station with a call to send polls itself (``EOT <own> ENQ``) and then selects the paging
  system, which is the same sequence seen from the line (some vendors call it local polling).

Roles: ``master`` is the control station (CareBot polls the paging system); ``slave`` waits to be polled
by a paging system that is the control station. This module imports nothing from robot/.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

SOH, STX, ETX, EOT, ENQ, ACK, NAK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x15
RS, US = 0x1E, 0x1F

# Headers (the type of block) and data identifiers (the type of record), section 4 of the description.
CALL_TO_PAGER, STATUS_INFORMATION, STATUS_REQUEST, CALL_TO_SUBSCRIBER_LINE, OTHER_INFORMATION = "12345"
CALL_ADDRESS, DISPLAY_MESSAGE, BEEP_CODING, CALL_TYPE, TRANSMISSIONS, PRIORITY, CALL_STATUS, LINE_STATUS = \
    "12345678"
ADDRESSES = "0123456789"
MAX_BLOCK = 1024  # characters between SOH and ETX; a paging display holds far fewer

Role = Literal["master", "slave"]


class EspaError(Exception):
    """A link or encoding problem; the message says what and where."""


class DeliveryFailed(EspaError):
    """The paging system did not take a block within the retries allowed."""


def bcc(text: bytes) -> int:
    """The block check character of the characters after SOH up to and including ETX."""
    check = 0
    for byte in text:
        check ^= byte
    return check


def _printable(value: str, what: str) -> bytes:
    if not value or any(not " " <= c <= "~" for c in value):
        raise EspaError(f"{what} {value[:40]!r} must be printable 7-bit characters (IA5), and not empty")
    return value.encode("ascii")


def encode_block(header: str, records: Iterable[tuple[str, str]]) -> bytes:
    """One data block: SOH header STX id US data (RS id US data)* ETX BCC."""
    if len(header) != 1 or header not in "12345":
        raise EspaError(f"header {header!r} is not one of the headers '1' to '5'")
    parts = []
    for ident, data in records:
        if not ident.isdigit() or not ident.isascii():
            raise EspaError(f"data identifier {ident!r} must be digits")
        parts.append(ident.encode() + bytes([US]) + _printable(data, f"record {ident} data"))
    if not parts:
        raise EspaError("a block needs at least one record")
    text = header.encode() + bytes([STX]) + bytes([RS]).join(parts) + bytes([ETX])
    if len(text) > MAX_BLOCK:
        raise EspaError(f"block of {len(text)} characters is longer than {MAX_BLOCK}")
    return bytes([SOH]) + text + bytes([bcc(text)])


def call_block(address: str, text: str = "", beep: str = "", priority: str = "", call_type: str = "",
               transmissions: str = "") -> bytes:
    """A call to pager: the records in identifier order, empty ones left out."""
    records = [(CALL_ADDRESS, address), (DISPLAY_MESSAGE, text), (BEEP_CODING, beep), (CALL_TYPE, call_type),
               (TRANSMISSIONS, transmissions), (PRIORITY, priority)]
    return encode_block(CALL_TO_PAGER, [(i, d) for i, d in records if d])


def enquiry(address: str) -> bytes:
    """``<address> ENQ``: a poll after EOT, a selection otherwise."""
    if len(address) != 1 or address not in ADDRESSES:
        raise EspaError(f"station address {address!r} must be one digit '0' to '9'")
    return address.encode() + bytes([ENQ])


def poll(address: str) -> bytes:
    """The control station's poll: EOT then ``<address> ENQ``."""
    return bytes([EOT]) + enquiry(address)


@dataclass(frozen=True)
class Block:
    """A data block whose BCC and layout were right."""

    header: str
    records: tuple[tuple[str, str], ...]

    def get(self, ident: str) -> str | None:
        """The data of the first record with this identifier."""
        return next((d for i, d in self.records if i == ident), None)


@dataclass(frozen=True)
class Enquiry:
    """``<address> ENQ``; address is '' for a bare ENQ."""

    address: str


@dataclass(frozen=True)
class Control:
    """A lone ACK, NAK or EOT."""

    char: int


@dataclass(frozen=True)
class Rejected:
    """A block that must be answered NAK: wrong BCC, bad layout or too long."""

    reason: str


Frame = Block | Enquiry | Control | Rejected


@dataclass
class Decoder:
    """Bytes in, frames out, for any bytes at all: it never raises and never passes a block with a wrong BCC."""

    _block: bytearray | None = None
    _want_bcc: bool = False
    _address: str = ""
    discarded: int = 0

    @property
    def awaiting_bcc(self) -> bool:
        """True when the next byte is a block's BCC (the simulator corrupts it there)."""
        return self._want_bcc

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by these bytes, in order."""
        out: list[Frame] = []
        for byte in data:
            frame = self._byte(byte)
            if frame is not None:
                out.append(frame)
        return out

    def _byte(self, byte: int) -> Frame | None:
        if self._want_bcc:
            text, self._block, self._want_bcc = bytes(self._block or b""), None, False
            if bcc(text) != byte:
                return Rejected("wrong BCC")
            return _parse(text)
        if self._block is not None:
            if byte == SOH:  # a new block before ETX: the old one is lost
                self._block = bytearray()
                return Rejected("block cut short by SOH")
            if byte in (EOT, ENQ, ACK, NAK):  # never in a block: it was cut off (or its SOH was noise), so
                self.discarded += len(self._block) + 1  # it and its SOH are dropped, and this byte is read anew
                self._block = None
                return self._byte(byte)
            self._block.append(byte)
            if byte == ETX:
                self._want_bcc = True
            elif len(self._block) > MAX_BLOCK:
                self._block = None
                return Rejected("block too long")
            return None
        address, self._address = self._address, ""
        if byte == SOH:
            self._block = bytearray()
        elif byte in (ACK, NAK, EOT):
            return Control(byte)
        elif byte == ENQ:
            return Enquiry(address)
        elif chr(byte) in ADDRESSES:
            self._address = chr(byte)
        else:
            self.discarded += 1
        return None


def _parse(text: bytes) -> Block | Rejected:
    """Header and records of a block whose BCC was right; anything malformed is Rejected."""
    head, stx, body = text[:-1].partition(bytes([STX]))
    if not stx or len(head) != 1 or chr(head[0]) not in "12345":
        return Rejected("bad header")
    records = []
    for record in body.split(bytes([RS])):
        ident, us, data = record.partition(bytes([US]))
        if not us or not ident.isdigit() or any(b < 0x20 or b > 0x7E for b in data):
            return Rejected("bad record")
        records.append((ident.decode(), data.decode()))
    return Block(chr(head[0]), tuple(records))


class Port(Protocol):
    """What the link needs of a pyserial port (opened with a short read timeout)."""

    def write(self, data: bytes, /) -> int | None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


@dataclass(frozen=True)
class LinkSettings:
    """Addresses, role and timers of one end of the link."""

    role: Role = "master"
    own: str = "1"
    peer: str = "2"
    response_timeout_s: float = 3.0
    retries: int = 3
    poll_interval_s: float = 1.0
    char_s: float = 0.0  # seconds one character takes on the wire (bits per character / baud)

    def __post_init__(self) -> None:
        for name in ("own", "peer"):
            enquiry(getattr(self, name))  # raises on a bad address
        if self.own == self.peer:
            raise EspaError(f"own and peer address are both {self.own!r}")


@dataclass
class Link:
    """One end of an ESPA 4.4.4 line: delivers calls, answers polls and selections, keeps what it was sent."""

    port: Port
    settings: LinkSettings = field(default_factory=LinkSettings)
    received: deque[Block] = field(default_factory=lambda: deque(maxlen=64))  # the latest blocks sent to us
    decoder: Decoder = field(default_factory=Decoder)
    _frames: list[Frame] = field(default_factory=list)
    _polled_after_eot: bool = False
    last_heard: float = field(default_factory=time.monotonic)  # when the peer last answered cleanly

    def silent_for(self) -> float:
        """Seconds since the peer last answered cleanly (garbage from a wrong baud rate is no answer)."""
        return time.monotonic() - self.last_heard

    def send(self, block: bytes) -> int:
        """Deliver one block; returns the attempts it took. Raises DeliveryFailed after the retries."""
        if self.settings.role == "master":
            return self._send_as_master(block)
        return self._send_when_polled(block)

    def service(self, seconds: float) -> None:
        """Keep the line with nothing to send: poll once (master), then answer what comes for `seconds`."""
        end = time.monotonic() + seconds
        if self.settings.role == "master":
            self._answer(self._ask(poll(self.settings.peer), self.settings.response_timeout_s))
        while time.monotonic() < end:
            self._answer(self._next(max(0.0, end - time.monotonic())))

    def probe(self, timeout: float) -> bool:
        """Check the line without paging anyone: the peer answers a poll (master), or polls us (slave)."""
        end = time.monotonic() + timeout
        if self.settings.role == "master":
            frame = self._ask(poll(self.settings.peer), timeout)
            self._answer(frame)
            return frame is not None
        while time.monotonic() < end:
            frame = self._next(max(0.0, end - time.monotonic()))
            if self._is_poll(frame):
                self.port.write(bytes([EOT]))
                return True
            self._answer(frame)
        return False

    # -- sending ------------------------------------------------------------------------------------

    def _send_as_master(self, block: bytes) -> int:
        s = self.settings
        attempts = 0
        while attempts <= s.retries:
            # poll ourselves, then select the paging system
            if self._ask(poll(s.own) + enquiry(s.peer), s.response_timeout_s) == Control(ACK):
                sent = self._transfer(block, s.retries + 1 - attempts)
                attempts += abs(sent)
                if sent > 0:
                    return attempts
            else:
                attempts += 1  # refused (NAK) or not answered: select again
            self.port.write(bytes([EOT]))
        raise DeliveryFailed(f"station {s.peer} did not take the call in {s.retries + 1} attempts")

    def _send_when_polled(self, block: bytes) -> int:
        s = self.settings
        self._drain()
        deadline = time.monotonic() + (s.retries + 1) * (s.response_timeout_s + s.poll_interval_s)
        attempts = 0
        while attempts <= s.retries and time.monotonic() < deadline:
            frame = self._next(max(0.0, deadline - time.monotonic()))
            if not self._is_poll(frame):
                self._answer(frame)
                continue
            if self._ask(enquiry(s.peer), s.response_timeout_s) == Control(ACK):  # select the control station
                sent = self._transfer(block, s.retries + 1 - attempts)
                attempts += abs(sent)
                if sent > 0:
                    return attempts
            else:
                attempts += 1
            self.port.write(bytes([EOT]))
        raise DeliveryFailed(f"station {s.peer} did not poll and take the call in {s.retries + 1} attempts")

    def _transfer(self, block: bytes, allowed: int) -> int:
        """Send a block until ACKed, repeating it on NAK or silence; then EOT. The sends it took, negative if
        it was never taken."""
        for sent in range(1, allowed + 1):
            if self._ask(block, self.settings.response_timeout_s) == Control(ACK):
                self.port.write(bytes([EOT]))
                return sent
        return -allowed

    # -- receiving ----------------------------------------------------------------------------------

    def _is_poll(self, frame: Frame | None) -> bool:
        """True for ``<own> ENQ`` right after EOT, in the slave role: the control station polls us."""
        if frame == Control(EOT):
            self._polled_after_eot = True
            return False
        after_eot, self._polled_after_eot = self._polled_after_eot, False
        polled = self.settings.role == "slave" and after_eot and frame == Enquiry(self.settings.own)
        if polled:
            self.last_heard = time.monotonic()
        return polled

    def _answer(self, frame: Frame | None) -> None:
        """Answer what the peer sent while we have nothing to send: EOT to a poll, ACK to a selection."""
        if self._is_poll(frame):
            self.port.write(bytes([EOT]))
        elif frame == Enquiry(self.settings.own):
            self.port.write(bytes([ACK]))
            self._receive_blocks()

    def _receive_blocks(self) -> None:
        """As the selected station: ACK each good block, NAK a bad one, until EOT or silence, within the time
        the retries allow: a peer that babbles and never says EOT must not hold the line (calls owed, no fault)."""
        end = time.monotonic() + (self.settings.retries + 1) * self.settings.response_timeout_s
        while time.monotonic() < end:
            frame = self._next(self.settings.response_timeout_s)
            if isinstance(frame, Block):
                self.last_heard = time.monotonic()
                self.received.append(frame)
                self.port.write(bytes([ACK]))
            elif isinstance(frame, Rejected):
                self.port.write(bytes([NAK]))
            elif frame is None or frame == Control(EOT):
                self._polled_after_eot = frame is not None
                return

    def _next(self, timeout: float) -> Frame | None:
        """The next frame from the line, or None after timeout seconds of nothing."""
        end = time.monotonic() + timeout
        while not self._frames:
            if time.monotonic() >= end:
                return None
            data = self.port.read(1)  # waits up to the port's own (short) timeout
            if data:
                data += self.port.read(self.port.in_waiting)
            self._frames.extend(self.decoder.feed(data))
        return self._frames.pop(0)

    def _ask(self, data: bytes, timeout: float) -> Frame | None:
        """Write to the peer and wait `timeout` beyond the bytes' time on the wire for its answer (a block still
        arriving on a slow line is not unanswered, or it is sent again and paged twice). None if garbage came
        first: a wrong baud rate reads as noise with the odd ACK in it, which must never count as a call taken."""
        self._drain()
        self.port.write(data)
        frame = self._next(timeout + len(data) * self.settings.char_s)
        if frame is None or isinstance(frame, Rejected) or self.decoder.discarded:
            return None
        self.last_heard = time.monotonic()
        return frame

    def _drain(self) -> None:
        """Forget late answers to an earlier exchange, so they cannot be taken for answers to this one."""
        self._frames.clear()
        self.port.reset_input_buffer()
        self.decoder = Decoder()


def transfer_seconds(frames: Sequence[bytes], baud: int, bits_per_char: int) -> float:
    """Time the bytes take on the wire alone: start, data, parity and stop bits at this baud rate."""
    return sum(len(f) for f in frames) * bits_per_char / baud
