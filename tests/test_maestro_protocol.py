"""Byte-exact Maestro encodings (the user's guide's examples) and reply decoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import ProtocolError
from hardware.maestro import MaestroBus, blocks
from hardware.maestro_protocol import (
    Framing,
    MaestroError,
    decode_errors,
    decode_moving,
    decode_position,
    describe_errors,
)

COMPACT = Framing()
POLOLU = Framing(device=12)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(("encoded", "expected"), [
    (COMPACT.set_target(2, 1500), "84 02 70 2E"),              # the guide: 1500 µs on channel 2
    (POLOLU.set_target(2, 1500), "AA 0C 04 02 70 2E"),         # same, Pololu protocol, device 12
    (COMPACT.set_target(0, 0), "84 00 00 00"),                 # target 0: pulses off
    (COMPACT.set_speed(5, 140), "87 05 0C 01"),                # speed 140 on channel 5
    (COMPACT.set_acceleration(5, 4), "89 05 04 00"),
    (COMPACT.get_position(3), "90 03"),
    (POLOLU.get_position(3), "AA 0C 10 03"),
    (COMPACT.get_moving_state(), "93"),
    (COMPACT.get_errors(), "A1"),
    (POLOLU.get_errors(), "AA 0C 21"),
    (COMPACT.go_home(), "A2"),
    # set multiple targets: channel 3 to 1500 µs and channel 4 to 1850 µs (6000 and 7400 quarter-µs)
    (COMPACT.set_multiple_targets(3, [1500, 1850]), "9F 02 03 70 2E 68 39"),
    (POLOLU.set_multiple_targets(3, [1500, 1850]), "AA 0C 1F 02 03 70 2E 68 39"),
])
def test_encodings_match_the_guide(encoded: bytes, expected: str) -> None:
    assert encoded == h(expected)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: COMPACT.set_target(24, 1500), "channel 24"),
    (lambda: COMPACT.set_target(0, 5000), "outside"),
    (lambda: COMPACT.set_target(0, -1), "outside"),
    (lambda: COMPACT.set_acceleration(0, 256), "acceleration"),
    (lambda: COMPACT.set_multiple_targets(23, [1500, 1500]), "channel 24"),
    (lambda: COMPACT.set_multiple_targets(0, []), "at least one"),
    (lambda: Framing(device=200).go_home(), "device number"),
])
def test_bad_arguments_are_refused_with_a_reason(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match=match):
        call()


def test_reply_decoding() -> None:
    assert decode_position(h("70 17")) == 1500.0  # 6000 quarter-µs, low byte first
    assert decode_moving(h("01")) is True and decode_moving(h("00")) is False
    assert decode_errors(h("20 00")) == MaestroError.SERIAL_TIMEOUT
    assert describe_errors(0x0030) == ["serial_protocol", "serial_timeout"]
    assert describe_errors(0x0100) == ["script_program_counter"]


@pytest.mark.parametrize(("reply", "decoder", "match"), [
    (h("70"), decode_position, "expected 2 reply bytes, got 1"),
    (b"", decode_errors, "got 0"),
    (h("02"), decode_moving, "00 or 01"),
    (h("00 02"), decode_errors, "undefined bits 0x0200"),
])
def test_bad_replies_are_flagged(reply: bytes, decoder, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError, match=match):
        decoder(reply)


def test_tick_packet_groups_consecutive_channels() -> None:
    assert blocks([5, 0, 1, 2, 7, 8]) == [(0, 3), (5, 1), (7, 2)]
    bus = MaestroBus("unused")
    packet = bus.packet({0: 1500, 1: 1600, 5: 2000}, query_errors=True)
    assert packet == COMPACT.set_multiple_targets(0, [1500, 1600]) + COMPACT.set_target(5, 2000) + h("A1")


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=8))
def test_reply_decoders_never_crash_and_flag_every_bad_reply(data: bytes) -> None:
    for decoder, good in ((decode_position, len(data) == 2),
                          (decode_moving, len(data) == 1 and data[0] in (0, 1)),
                          (decode_errors, len(data) == 2 and not (data[0] | data[1] << 8) & ~0x1FF)):
        try:
            decoder(data)
        except ProtocolError:
            assert not good
        else:
            assert good


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 23), st.floats(0, 4095.75))
def test_target_encoding_round_trips(channel: int, us: float) -> None:
    packet = COMPACT.set_target(channel, us)
    assert packet[0] == 0x84 and packet[1] == channel
    assert all(b < 0x80 for b in packet[1:])  # data bytes never look like commands
    assert (packet[2] | packet[3] << 7) == round(us * 4)
