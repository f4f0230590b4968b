"""A wall clock stepped back (NTP on a board without RTC) must not hold an alert back (issue 11's
clock jump, from the fault matrix): the outbox's retry times are wall-clock (they outlive a restart),
so a row refused by the broker at 12:00 with a 5 s back-off was due at 12:00:05, and after the clock
stepped back an hour it waited an hour more. Writes held back by a full disk waited the same way."""

from __future__ import annotations

import time
from pathlib import Path

from robot.outbox import MAX_RETRY_S, PRIORITY, Outbox


def test_a_refused_alert_is_due_again_after_the_clock_steps_back(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add("h1", "alert", PRIORITY["alert:high"], "t/alert", b"1")
    box.retry_later("h1", 5)  # refused by the broker
    now = time.time()
    assert box.next(8, set(), now) == []  # backing off, as it should
    assert [r.event_id for r in box.next(8, set(), now + 6)] == ["h1"]
    assert [r.event_id for r in box.next(8, set(), now - 3600)] == ["h1"]  # the clock stepped back an hour
    box.retry_later("h1", 10 * MAX_RETRY_S)  # no delay is longer than the bound
    assert [r.event_id for r in box.next(8, set(), now + MAX_RETRY_S + 1)] == ["h1"]
    box.close()
