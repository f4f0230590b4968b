"""ESPA 4.4.4: frames byte for byte from the published description, a decoder that survives any bytes, and
both link roles against the simulated paging system on a real pseudo-terminal (pyserial opens it)."""

from __future__ import annotations

import os
import pty
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware import espa
from hardware.espa import ACK, EOT, NAK, Block, Control, Decoder, DeliveryFailed, Enquiry, Link, LinkSettings, Rejected
from hardware.espa_sim import PagingSystem, PtyPagingSystem

# The description's example call (as given by Zenitel's ESPA 4.4.4 page, there without its BCC):
# SOH 1 STX 1 US 550 RS 2 US CALL ME 101 RS 3 US 3 RS 4 US 3 RS 5 US 3 RS 6 US 3 ETX BCC. The BCC is the XOR
# of every character after SOH up to and including ETX: 0x23 ('#'), worked out by hand.
EXAMPLE = bytes.fromhex("01 31 02 31 1F 35 35 30 1E 32 1F 43 41 4C 4C 20 4D 45 20 31 30 31 1E 33 1F 33 1E 34 1F 33"
                        " 1E 35 1F 33 1E 36 1F 33 03 23")
# CareBot's own call: address 100, "Help request, room 12", priority 2 (high). BCC 0x49 ('I').
HELP = b"\x011\x021\x1f100\x1e2\x1fHelp request, room 12\x1e6\x1f2\x03I"


def test_the_descriptions_example_call_byte_for_byte() -> None:
    records = [("1", "550"), ("2", "CALL ME 101"), ("3", "3"), ("4", "3"), ("5", "3"), ("6", "3")]
    assert espa.encode_block(espa.CALL_TO_PAGER, records) == EXAMPLE
    assert espa.call_block("550", "CALL ME 101", beep="3", call_type="3", transmissions="3", priority="3") == EXAMPLE
    assert espa.call_block("100", "Help request, room 12", priority="2") == HELP


def test_polling_and_selecting_sequences() -> None:
    assert espa.poll("2") == b"\x042\x05"          # EOT, address, ENQ
    assert espa.enquiry("1") == b"1\x05"            # a selection by the temporary master
    with pytest.raises(espa.EspaError, match="one digit"):
        espa.enquiry("12")


@pytest.mark.parametrize("text", ["Hilfe, Zimmer 3 \u00e4", "line\nbreak", "tab\tx"])
def test_text_that_a_paging_display_cannot_take_is_refused(text: str) -> None:
    with pytest.raises(espa.EspaError, match="printable 7-bit"):
        espa.call_block("100", text)
    with pytest.raises(espa.EspaError, match="not empty"):
        espa.encode_block("1", [("1", "100"), ("2", "")])


def test_decoder_reads_the_example_and_the_control_characters() -> None:
    frames = Decoder().feed(b"\x04" + b"2\x05" + EXAMPLE + b"\x06\x15")
    assert frames[0] == Control(EOT)
    assert frames[1] == Enquiry("2")
    assert isinstance(frames[2], Block) and frames[2].get("2") == "CALL ME 101" and frames[2].header == "1"
    assert frames[3:] == [Control(ACK), Control(NAK)]


def test_decoder_takes_a_block_split_anywhere() -> None:
    for cut in range(1, len(HELP)):
        d = Decoder()
        assert d.feed(HELP[:cut]) == []
        assert d.feed(HELP[cut:]) == [Block("1", (("1", "100"), ("2", "Help request, room 12"), ("6", "2")))]


def test_a_wrong_bcc_is_rejected_and_the_next_block_still_read() -> None:
    bad = HELP[:-1] + bytes([HELP[-1] ^ 0x01])
    frames = Decoder().feed(bad + HELP)
    assert frames[0] == Rejected("wrong BCC")
    assert isinstance(frames[1], Block)


def test_a_bcc_that_looks_like_a_control_character_is_still_a_bcc() -> None:
    # Scott's note: a BCC may have the value of a control character and is not that character.
    for text in (f"Room {n}" for n in range(200)):
        block = espa.call_block("7", text)
        if block[-1] in (ACK, NAK, EOT, espa.SOH, espa.ENQ):
            assert isinstance(Decoder().feed(block)[0], Block)
            return
    pytest.fail("no call in the sample had a control character as its BCC")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_raises_on_random_bytes(data: bytes) -> None:
    frames = Decoder().feed(data)
    for frame in frames:
        assert isinstance(frame, Block | Enquiry | Control | Rejected)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60),
       st.integers(min_value=1, max_value=255), st.binary(max_size=20))
def test_decoder_never_accepts_a_wrong_bcc(text: str, flip: int, noise: bytes) -> None:
    block = espa.call_block("100", text)
    bad = block[:-1] + bytes([block[-1] ^ flip])
    assert Decoder().feed(bad) == [Rejected("wrong BCC")]
    frames = Decoder().feed(noise + bad)  # whatever noise came first, the damaged call is never taken
    assert not any(isinstance(f, Block) and f.get(espa.DISPLAY_MESSAGE) == text for f in frames)


# -- the link, both roles, through a pseudo-terminal ----------------------------------------------------------

FAST = dict(response_timeout_s=1.0, retries=3, poll_interval_s=0.05)  # generous: the machine may be loaded


@pytest.fixture
def paging() -> Iterator[PtyPagingSystem]:
    with PtyPagingSystem(PagingSystem(address="2", peer="1")) as sim:
        yield sim


def _link(sim: PtyPagingSystem, role: espa.Role = "master") -> Iterator[Link]:
    port = serial.Serial(sim.port, 9600, timeout=0.02)
    try:
        yield Link(port, LinkSettings(role=role, own="1", peer="2", **FAST))  # type: ignore[arg-type]
    finally:
        port.close()


def _line(sim: PtyPagingSystem, ending: bytes, timeout: float = 2.0) -> bytes:
    """What the paging system has received, once it ends with these bytes (or the timeout has passed)."""
    end = time.monotonic() + timeout
    while not sim.system.received.endswith(ending) and time.monotonic() < end:
        time.sleep(0.01)
    return bytes(sim.system.received)


@pytest.fixture
def link(paging: PtyPagingSystem) -> Iterator[Link]:
    yield from _link(paging)


def test_master_selects_and_the_paging_system_takes_the_call(paging: PtyPagingSystem, link: Link) -> None:
    assert link.send(HELP) == 1
    calls = paging.wait_calls(1, 2)
    assert [(c.address, c.text, c.priority) for c in calls] == [("100", "Help request, room 12", "2")]
    # On the line: EOT 1 ENQ (the control station polls itself), 2 ENQ (selects the paging system), the block, EOT.
    assert _line(paging, b"\x041\x052\x05" + HELP + b"\x04") == b"\x041\x052\x05" + HELP + b"\x04"


def test_master_polls_and_the_idle_paging_system_answers_eot(paging: PtyPagingSystem, link: Link) -> None:
    link.service(0.2)
    assert bytes(paging.system.received).startswith(b"\x042\x05")
    assert paging.system.calls == []


def test_master_takes_a_status_block_when_polled_and_naks_a_damaged_one(paging: PtyPagingSystem,
                                                                        link: Link) -> None:
    status = espa.encode_block(espa.STATUS_INFORMATION, [("1", "100"), ("7", "1")])
    paging.system.to_send = [status, status[:-1] + bytes([status[-1] ^ 0x20])]
    link.service(0.5)  # poll: the paging system selects us, sends both, gets ACK then NAKs, gives up with EOT
    assert [b.get(espa.CALL_STATUS) for b in link.received] == ["1"]
    assert paging.system.naks_received == 4  # the damaged block, sent and repeated three times
    assert _line(paging, b"\x15" * 4).endswith(b"\x06" + b"\x15" * 4)


@pytest.mark.parametrize("fault", ["nak_blocks", "corrupt_blocks", "refuse_selects"])
def test_naks_and_a_corrupted_bcc_are_retried_until_taken(paging: PtyPagingSystem, link: Link, fault: str) -> None:
    setattr(paging.system, fault, 2)
    assert link.send(HELP) == 3
    assert len(paging.wait_calls(1, 2)) == 1
    assert paging.system.naks_sent == 2


def test_a_slow_paging_system_within_the_timeout_takes_the_call_at_once(paging: PtyPagingSystem,
                                                                        link: Link) -> None:
    paging.latency_s = 0.1
    assert link.send(HELP) == 1
    assert len(paging.wait_calls(1, 2)) == 1


def test_a_long_call_on_a_1200_baud_line_is_waited_for_and_paged_once(tmp_path: Path) -> None:
    # 60 characters take 0.55 s on the wire at 1200 baud (7E2), longer than the 0.5 s time-out: the link
    # waits the wire time on top, or it sends the block again while it is still arriving, and pages twice.
    with PtyPagingSystem(PagingSystem(address="2", peer="1"), link=tmp_path / "p", baud=1200) as sim:
        port = serial.Serial(sim.port, 1200, timeout=0.02)
        try:
            link = Link(port, LinkSettings(response_timeout_s=0.5, retries=3, char_s=11 / 1200))
            assert link.send(espa.call_block("100", "Help request, room " + "r" * 32, beep="1", priority="2")) == 1
            time.sleep(0.8)
        finally:
            port.close()
        assert len(sim.system.calls) == 1


def test_silence_and_endless_naks_fail_after_the_retries(paging: PtyPagingSystem, link: Link) -> None:
    link.settings = LinkSettings(role="master", own="1", peer="2", response_timeout_s=0.2, retries=3)
    paging.system.silent = True
    with pytest.raises(DeliveryFailed, match="4 attempts"):
        link.send(HELP)
    paging.system.silent = False
    paging.system.nak_blocks = 100
    with pytest.raises(DeliveryFailed):
        link.send(HELP)
    assert paging.system.calls == []


def test_slave_waits_to_be_polled_then_selects_the_control_station() -> None:
    system = PagingSystem(address="2", peer="1", role="master", poll_interval_s=0.05)
    with PtyPagingSystem(system) as sim:
        for link in _link(sim, role="slave"):
            end = time.monotonic() + 5  # polled, nothing to send: EOT (a loaded machine may take a while to poll)
            while b"\x04" not in bytes(system.received) and time.monotonic() < end:
                link.service(0.2)
            assert b"\x04" in bytes(system.received)
            system.nak_blocks = 1
            assert link.send(HELP) == 2
    assert [c.text for c in system.calls] == ["Help request, room 12"]
    assert _line(sim, HELP + b"\x04").endswith(b"2\x05" + HELP + HELP + b"\x04")


# -- a faulty line: a peer that babbles, garbage from a wrong baud rate (a raw pseudo-terminal) ------------


def _peer() -> tuple[int, serial.Serial]:
    """A raw pseudo-terminal: the test's end (a file descriptor) says what a faulty paging system would say."""
    fd, child = pty.openpty()
    tty.setraw(child)
    name = os.ttyname(child)
    os.close(child)
    return fd, serial.Serial(name, 9600, timeout=0.02)


def test_a_peer_that_selects_us_and_then_babbles_cannot_hold_the_line_forever() -> None:
    fd, port = _peer()
    stop = threading.Event()

    def babble() -> None:  # answers our poll by selecting us, then ACKs and ACKs and never says EOT
        os.read(fd, 16)
        os.write(fd, b"1\x05")
        while not stop.wait(0.1):
            os.write(fd, b"\x06")

    link = Link(port, LinkSettings(response_timeout_s=0.5, retries=1))
    threading.Thread(target=babble, daemon=True).start()
    served = threading.Thread(target=link.service, args=(0.0,), daemon=True)
    served.start()
    served.join(6)
    stop.set()
    alive = served.is_alive()
    served.join(2)
    port.close()
    os.close(fd)
    assert not alive, "the line was held: no call would go out and no fault be raised"


def test_garbage_from_a_wrong_baud_rate_is_no_answer_and_an_ack_in_it_takes_no_call() -> None:
    fd, port = _peer()
    stop = threading.Event()

    def garbage() -> None:  # a line at the wrong baud rate: noise (here never a control character) and an ACK
        while not stop.wait(0.01):
            os.write(fd, bytes(0x80 | b for b in os.urandom(15)) + b"\x06")

    link = Link(port, LinkSettings(response_timeout_s=0.2, retries=1))
    threading.Thread(target=garbage, daemon=True).start()
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            link.service(0.05)
        assert link.silent_for() > 1.2, "garbage counted as the paging system answering its polls"
        with pytest.raises(DeliveryFailed):
            link.send(HELP)
    finally:
        stop.set()
        port.close()
        os.close(fd)


def test_a_half_block_cut_off_by_the_line_does_not_swallow_the_polls_after_it() -> None:
    half = HELP[:12]  # SOH 1 STX 1 US 100 RS 2 US Hel ... and then the line dropped it (or noise made an SOH)
    assert Decoder().feed(half + b"\x041\x05" + b"\x06") == [Control(EOT), Enquiry("1"), Control(ACK)]
    fd, port = _peer()
    os.write(fd, half)
    threading.Timer(0.2, lambda: os.write(fd, b"\x041\x05")).start()  # then the control station polls us
    try:
        assert Link(port, LinkSettings(role="slave", response_timeout_s=0.5)).probe(2.0), "deaf to its polls"
    finally:
        port.close()
        os.close(fd)
