"""Motion: smooth minimum-jerk moves, joint limits always enforced, look-at with deadband and rate limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.maestro_servos import LED_OFF_US, LED_ON_US
from robot.config import ServoChannel
from robot.devices import maestro_channel
from robot.motion import GESTURES, POSES, Frame, MotionController, min_jerk

PAN = ServoChannel(channel=0, name="pan", role="pan", min_us=1000, max_us=2000, neutral_us=1500, range_deg=100)
TILT = ServoChannel(channel=1, name="tilt", role="tilt", min_us=1300, max_us=1700, neutral_us=1500,
                    range_deg=40, direction=-1)
LED = ServoChannel(channel=5, name="led", role="led")
CHANNELS = [maestro_channel(c) for c in (PAN, TILT, LED)]


def controller() -> MotionController:
    return MotionController([c.joint for c in CHANNELS], look_max_dps=60, look_deadband_deg=2)


def pulses(frame: Frame) -> dict[int, float]:
    """The frame as the Maestro backend turns it into pulse widths (motion in degrees, calibration in µs)."""
    return {c.channel: (LED_ON_US if frame.lights[c.name] else LED_OFF_US) if c.role == "led"
            else c.to_us(frame.angles[c.name]) for c in CHANNELS}


def run(m: MotionController, start: float, seconds: float, dt: float = 0.01) -> list[dict[int, float]]:
    return [pulses(m.sample(start + i * dt)) for i in range(int(seconds / dt) + 1)]


def test_min_jerk_profile() -> None:
    assert min_jerk(0) == 0 and min_jerk(1) == 1 and min_jerk(0.5) == pytest.approx(0.5)
    assert min_jerk(-1) == 0 and min_jerk(2) == 1
    # zero velocity at both ends: tiny steps near 0 and 1
    assert min_jerk(0.01) < 1e-4 and 1 - min_jerk(0.99) < 1e-4


def test_pose_change_is_smooth_and_ends_on_target() -> None:
    m = controller()
    m.sample(0.0)
    m.play("sleep", 0.0)
    samples = [s[1] for s in run(m, 0.0, 2.0)]
    steps = [abs(b - a) for a, b in zip(samples, samples[1:], strict=False)]
    assert max(steps) < 10  # µs per 10 ms tick: no snapping
    sleep_tilt = POSES["sleep"]["tilt"]
    expected = 1500 + (-1) * max(sleep_tilt, -20) * 10  # clamped to the tilt's -20..20 degrees
    assert samples[-1] == pytest.approx(expected, abs=1)


@pytest.mark.parametrize("name", sorted(GESTURES))
def test_gestures_stay_within_joint_limits_and_return(name: str) -> None:
    m = controller()
    m.play(name, 0.0)
    samples = run(m, 0.0, 4.0)
    for s in samples:
        assert 1000 <= s[0] <= 2000 and 1300 <= s[1] <= 1700
    moved = max(abs(s[0] - 1500) + abs(s[1] - 1500) for s in samples)
    assert moved > 20, f"{name} did not move"
    assert samples[-1][0] == pytest.approx(1500, abs=1) and samples[-1][1] == pytest.approx(1500, abs=1)


@settings(max_examples=300, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5), st.sampled_from(sorted([*POSES, *GESTURES])))
def test_limits_are_enforced_whatever_is_asked(x: float, y: float, gesture: str) -> None:
    m = controller()
    m.play(gesture, 0.0)
    for i in range(300):
        if i % 30 == 0:
            m.look_at(x, y)
        s = pulses(m.sample(i * 0.01))
        assert 1000 <= s[0] <= 2000 and 1300 <= s[1] <= 1700


def test_look_at_converges_rate_limited_and_ignores_small_errors() -> None:
    m = controller()
    m.sample(0.0)
    m.look_at(-1.0, 0.0)  # face at the left edge: 31 degrees of pan error
    angles = []
    for i in range(1, 301):
        m.sample(i * 0.01)
        angles.append(m.angles()["pan"])
    rates = [abs(b - a) / 0.01 for a, b in zip(angles, angles[1:], strict=False)]
    assert max(rates) <= 60.5  # deg/s rate limit
    assert angles[-1] == pytest.approx(31.0, abs=0.5)
    before = m.angles()["pan"]
    m.look_at(-0.05, 0.02)  # 1.5 degrees: inside the deadband
    for i in range(301, 400):
        m.sample(i * 0.01)
    assert m.angles()["pan"] == pytest.approx(before, abs=0.05)


def test_release_look_returns_to_the_pose() -> None:
    m = controller()
    m.look_at(1.0, 0.0)
    run(m, 0.0, 2.0)
    assert abs(m.angles()["pan"]) > 20
    m.release_look()
    run(m, 2.0, 4.0)
    assert m.angles()["pan"] == pytest.approx(0.0, abs=0.2)


def test_indicator_led_patterns() -> None:
    m = controller()
    m.set_indicator("listening")
    assert all(s[5] == LED_ON_US for s in run(m, 0.0, 1.0))
    m.set_indicator("idle")
    assert all(s[5] == LED_OFF_US for s in run(m, 1.0, 1.0))
    m.set_indicator("privacy")  # slow blink: both on and off within two seconds
    values = {s[5] for s in run(m, 2.0, 2.0)}
    assert values == {LED_ON_US, LED_OFF_US}
    with pytest.raises(KeyError):
        m.set_indicator("disco")


def test_breathing_moves_gently_while_idle() -> None:
    m = controller()
    m.play("breathe", 0.0)
    tilts = [s[1] for s in run(m, 0.0, 6.0)]
    swing = max(tilts) - min(tilts)
    assert 10 < swing < 40  # about ±1.5 degrees at 10 µs/degree


def test_unknown_gesture_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="nod"):
        controller().play("moonwalk", 0.0)


def test_looking_at_a_face_aims_from_where_the_frame_was_taken() -> None:
    """The camera rides on the head: an error seen in a frame taken before the head turned must not be
    added to the turn made since (that double count made the head swing from side to side)."""
    m = controller()
    m.sample(0.0)
    m.look_at(-20 / 31, 0.0)  # a face 20 degrees to the left, seen from straight ahead
    for i in range(1, 60):
        m.sample(i * 0.01)
    turned, _ = m.looked(0.59)
    assert 5 < turned < 20  # on its way
    m.look_at(-20 / 31, 0.0, seen_from=m.looked(0.0))  # a later frame, taken before the head moved
    for i in range(60, 400):
        m.sample(i * 0.01)
    assert abs(m.looked(4.0)[0] - 20) < 0.5  # aimed at the face, not 20 degrees past where it had got to
