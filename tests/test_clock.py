"""The robot clock (robot.clock): one seam for the time of day and care time, real on a robot, and in the
simulator started at a chosen time, run fast and advanced, with the schedule following it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.clock import Clock, ClockError
from robot.config import QuietHoursSection, ScheduledReminder, ScheduleSection
from robot.core.schedule import Schedule

START = dt.datetime(2026, 11, 27, 7, 55)
ROOT = Path(__file__).resolve().parent.parent


def test_the_real_clock_is_the_machines_and_cannot_be_moved() -> None:
    clock = Clock()
    assert abs(clock.time() - time.time()) < 1 and abs(clock.monotonic() - time.monotonic()) < 1
    assert clock.at(123.0) == 123.0  # care time is the loop's own monotonic time
    with pytest.raises(ClockError, match="only the simulator"):
        clock.advance(60)


def test_a_simulated_clock_starts_when_asked_runs_fast_and_never_goes_back() -> None:
    clock = Clock.simulated(START, speed=60)
    assert clock.now() - START < dt.timedelta(minutes=1)
    care0, real0 = clock.monotonic(), time.monotonic()
    time.sleep(0.1)
    real = time.monotonic() - real0  # read before the care clock, as it was read after it: a thread preempted
    assert clock.monotonic() - care0 >= 60 * real - 0.5  # between the reads cannot fail it. A minute a second
    assert clock.advance_to(dt.time(9, 0)) == START.replace(hour=9, minute=0)
    assert clock.now().strftime("%H:%M") == "09:00"
    assert clock.monotonic() - care0 >= 64 * 60  # timeouts and deadlines see the jump too
    clock.set_speed(1)
    assert clock.speed == 1 and clock.now().strftime("%H:%M") == "09:00"
    with pytest.raises(ClockError, match="never goes back"):
        clock.advance(-1)
    with pytest.raises(ClockError, match="out of range"):
        clock.set_speed(0)
    assert clock.advance_to(dt.time(8, 0)).date() == START.date() + dt.timedelta(days=1)  # the next 08:00


def test_the_schedule_follows_an_advanced_clock_and_starts_what_it_passed() -> None:
    clock = Clock.simulated(START, speed=1)
    fired: list[tuple[str, dict[str, object]]] = []

    def fire(trigger: str, **kwargs: object) -> bool:
        fired.append((trigger, kwargs))
        return True

    schedule = ScheduleSection(reminders=(ScheduledReminder(time="8:00", kind="medication"),
                                          ScheduledReminder(time="09:00", kind="drink"),
                                          ScheduledReminder(time="12:00", kind="meal")), checkins=("08:30",))
    s = Schedule(schedule, QuietHoursSection(enabled=True, start=dt.time(22), end=dt.time(7)), fire, clock)
    s.tick(clock.monotonic())
    assert fired == [("quiet_end", {})]
    clock.advance_to(dt.time(9, 0))
    s.tick(clock.monotonic())
    assert fired[1:] == [("remind", {"kind": "medication"}), ("checkin", {}), ("remind", {"kind": "drink"})]
    clock.advance_to(dt.time(22, 0))
    s.tick(clock.monotonic())
    assert ("quiet_start", {}) in fired and ("remind", {"kind": "meal"}) in fired


BERLIN = Path("/usr/share/zoneinfo/Europe/Berlin")


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time in a zone with summer time (the machine's may be UTC, which has none)."""
    if not BERLIN.exists():
        pytest.skip("needs the Europe/Berlin zone (Debian's tzdata)")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("night", [dt.datetime(2027, 3, 28, 1, 30), dt.datetime(2027, 10, 31, 1, 30)])
def test_advancing_to_a_time_of_day_lands_on_it_across_a_change_of_summer_time(berlin: None,
                                                                                night: dt.datetime) -> None:
    # The naive difference (7.5 h) left the clock at 10:00 on the spring night and at 08:00 on the autumn one,
    # and the schedule then started the 09:00 reminder an hour late or early.
    clock = Clock.simulated(night)
    fired: list[tuple[str, dict[str, object]]] = []
    s = Schedule(ScheduleSection(reminders=(ScheduledReminder(time="09:00", kind="medication"),)),
                 QuietHoursSection(enabled=False), lambda trigger, **kw: fired.append((trigger, kw)) is None, clock)
    s.tick(clock.monotonic())
    assert clock.advance_to(dt.time(9, 0)) == night.replace(hour=9, minute=0)
    assert clock.now().strftime("%H:%M") == "09:00"
    s.tick(clock.monotonic())
    assert fired == [("quiet_end", {}), ("remind", {"kind": "medication"})]


def test_a_time_in_autumns_repeated_hour_is_still_ahead_in_its_second_pass(berlin: None) -> None:
    clock = Clock.simulated(dt.datetime(2027, 10, 31, 2, 10))  # summer time's 02:10; winter's comes an hour later
    start = clock.time()
    clock.advance_to(dt.time(2, 5))  # winter time's 02:05, 55 minutes on: not tomorrow's
    assert 55 * 60 - 5 < clock.time() - start < 55 * 60 + 5


def test_carebot_run_keeps_the_machines_clock_whatever_sim_and_servo_driver_say(tmp_path: Path) -> None:
    # A robot run without its head (servo driver "sim") with a [sim] section copied from the simulator's
    # config must still escalate on the real clock: never 60x fast, never in a past day's quiet hours.
    from robot.config_load import load_config
    from robot.runtime import Runtime

    base = load_config(ROOT / "config" / "carebot.toml")
    sim = base.sim.model_validate({"start": "2020-01-01T23:00", "speed": 60})
    cfg = base.model_copy(update={"sim": sim, "robot": base.robot.model_copy(update={"state_dir": tmp_path})})
    assert cfg.servo.driver == "sim"
    assert not Runtime(cfg).clock.is_simulated  # `carebot run`
    assert Runtime(cfg, simulate=True).clock.speed == 60  # `carebot sim`
