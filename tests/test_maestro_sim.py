"""The virtual Maestro behaves like the board: parsing, motion limits, errors and timeout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.maestro_protocol import ERROR_MASK, Framing, MaestroError
from hardware.maestro_sim import ACCEL_UNIT, SPEED_UNIT, VirtualMaestro

C = Framing()


def board(timeout: float = 0.0) -> VirtualMaestro:
    b = VirtualMaestro(serial_timeout_s=timeout)
    b.configure(0, min_us=1000, max_us=2000, home_us=1500)
    b.configure(1, min_us=1000, max_us=2000, home_us=None)
    b.power_on(now=0.0)
    return b


def test_units_are_the_guides() -> None:
    assert SPEED_UNIT / 4 == pytest.approx(25)        # speed 1 = 0.25 µs / 10 ms = 25 µs/s
    assert 4 * ACCEL_UNIT / 4 == pytest.approx(1250)  # acceleration 4 = 1250 µs/s per second


def test_set_target_get_position_and_clamping() -> None:
    b = board()
    assert b.feed(C.set_target(0, 1700) + C.get_position(0), now=0.0) == bytes((0x90, 0x1A))  # 6800 quarter-µs
    b.feed(C.set_target(0, 2500), now=0.0)
    assert b.channels[0].target == 2000 * 4  # clamped to the channel's max
    b.feed(C.set_target(0, 0), now=0.0)
    assert b.positions_us()[0] == 0.0  # off


def test_speed_limit_moves_at_the_configured_rate() -> None:
    b = board()
    b.feed(C.set_target(0, 1000) + C.set_speed(0, 40), now=0.0)  # 40 x 25 µs/s = 1000 µs/s
    b.update(0.0)
    b.feed(C.set_target(0, 2000), now=0.0)
    for i in range(1, 51):
        b.update(i * 0.01)
    assert b.positions_us()[0] == pytest.approx(1500, abs=1)  # half a second at 1000 µs/s
    assert b.feed(C.get_moving_state(), now=0.5) == b"\x01"
    for i in range(51, 120):
        b.update(i * 0.01)
    assert b.positions_us()[0] == 2000 and b.feed(C.get_moving_state(), now=1.2) == b"\x00"


def test_acceleration_limit_ramps_speed_up_and_down() -> None:
    b = board()
    b.feed(C.set_target(0, 1000) + C.set_acceleration(0, 4), now=0.0)  # 1250 µs/s²
    b.update(0.0)
    b.feed(C.set_target(0, 2000), now=0.0)
    positions = []
    for i in range(1, 201):
        b.update(i * 0.01)
        positions.append(b.positions_us()[0])
    steps = [b_ - a for a, b_ in zip(positions, positions[1:], strict=False)]
    assert steps[5] < steps[30]  # speeding up
    assert positions[9] == pytest.approx(1000 + 0.5 * 1250 * 0.1 ** 2, abs=2)
    assert positions[-1] == 2000


def test_serial_timeout_sends_channels_home_and_sets_bit_5() -> None:
    b = board(timeout=0.25)
    b.feed(C.set_target(0, 1800) + C.set_target(1, 1800), now=0.0)
    b.update(0.2)
    assert b.channels[0].target == 7200 and b.timeouts == 0
    b.update(0.26)
    assert b.timeouts == 1 and b.errors & MaestroError.SERIAL_TIMEOUT
    assert b.channels[0].target == 1500 * 4  # "go to" home
    assert b.channels[1].target == 0         # "off" home
    assert b.feed(C.get_errors(), now=0.3) == b"\x20\x00"
    assert b.feed(C.get_errors(), now=0.3) == b"\x00\x00"  # reading clears


@pytest.mark.parametrize(("data", "why"), [
    (bytes((0x70,)), "data byte with no command"),
    (bytes((0x84, 0x02, 0x93)), "a command byte interrupts a packet"),
    (bytes((0x80,)), "unknown command"),
    (bytes((0x84, 30, 0x70, 0x2E)), "channel out of range"),
    (bytes((0x9F, 0x00)), "zero targets"),
    (bytes((0x9F, 0x02, 23, 0, 0, 0, 0)), "block past the last channel"),
    (bytes((0x89, 0, 0x7F, 0x7F)), "acceleration above 255"),
])
def test_malformed_bytes_set_the_protocol_error_bit(data: bytes, why: str) -> None:
    b = board()
    b.feed(data, now=0.0)
    assert b.errors & MaestroError.SERIAL_PROTOCOL, why
    # and the parser recovers at the next command
    assert b.feed(C.set_target(0, 1600) + C.get_position(0), now=0.0) == bytes((0x00, 0x19))


def test_pololu_protocol_answers_only_its_device_number() -> None:
    b = board()
    assert b.feed(Framing(device=12).get_position(0), now=0.0) == bytes((0x70, 0x17))
    assert b.feed(Framing(device=13).get_position(0), now=0.0) == b""
    b.feed(Framing(device=13).set_target(0, 1900), now=0.0)
    assert b.channels[0].target == 6000
    assert b.errors == 0


def test_mini_ssc_protocol() -> None:
    b = board()
    b.feed(bytes((0xFF, 0, 127)), now=0.0)
    assert b.channels[0].target == 6000  # 8-bit neutral, 1500 µs


command = st.one_of(
    st.builds(C.set_target, st.integers(0, 23), st.floats(0, 4095)),
    st.builds(C.set_speed, st.integers(0, 23), st.integers(0, 1000)),
    st.builds(C.set_acceleration, st.integers(0, 23), st.integers(0, 255)),
    st.builds(C.get_position, st.integers(0, 23)),
    st.just(C.get_errors()), st.just(C.get_moving_state()), st.just(C.go_home()),
)


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=64), st.lists(command, max_size=4))
def test_random_bytes_never_crash_the_board_and_errors_stay_in_the_register(junk: bytes, valid: list[bytes]) -> None:
    b = board(timeout=0.25)
    reply = b.feed(junk, now=0.0)
    for i, cmd in enumerate(valid):
        reply += b.feed(cmd, now=0.01 * i)
        b.update(0.01 * i)
    assert b.errors & ~ERROR_MASK == 0
    assert all(0 <= ch.position <= 4095 * 4 for ch in b.channels)
    assert isinstance(reply, bytes)
    # after any garbage the board still answers a fresh command correctly
    b.feed(bytes((0xA2,)), now=1.0)  # a complete command resynchronises the parser
    assert len(b.feed(C.get_position(0), now=1.0)) == 2


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=1, max_size=32))
def test_garbage_without_a_valid_command_is_always_flagged(junk: bytes) -> None:
    b = board()
    b.feed(junk, now=0.0)
    b.feed(bytes((0x84,)), now=0.0)  # start a command, so an unfinished packet counts too
    b.feed(bytes((0xA1,)), now=0.0)
    flagged = b.errors & MaestroError.SERIAL_PROTOCOL
    valid_only = b.commands > 0
    assert flagged or valid_only
