"""Honest to the resident (issue 11): what the robot says about a help request follows where the alert is.

The unit tests drive robot.core.delivery on a fake clock with the same deques the outbox and the
link fill. The end-to-end tests run the robot against a real mosquitto that is down, then started:
the help request goes in as words through the dialog engine, and the alert reaches a real subscriber.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot.config import Config
from robot.core.delivery import HelpDelivery
from robot.intents import Say
from robot.runtime import Runtime

from .broker import SITE, STAFF, Broker, Client, alerts, check_privacy, robot_config
from .conftest import wait_for

A = "a" * 32


@dataclass
class Receipt:
    alert_id: str


class Resident:
    """What the resident hears, and the help alert the staff channel has open."""

    def __init__(self, outbox: bool = True) -> None:
        self.heard: list[str] = []
        self.alert: str | None = None
        self.accepted: collections.deque[str] = collections.deque()
        self.delivered: collections.deque[Receipt] = collections.deque()
        self.d = HelpDelivery(lambda say, now: self.heard.append(say.key), lambda: self.alert, 30.0,
                              self.accepted if outbox else None, self.delivered if outbox else None)

    def help(self, now: float) -> None:
        """What on_enter_alerting does: the alert is raised, then help_called is said."""
        self.alert = A
        self.d.say(Say("help_called"), now)


def test_help_called_is_said_when_the_alert_is_committed_not_before() -> None:
    r = Resident()
    r.help(0.0)
    r.d.tick(0.01)
    assert r.heard == []  # not committed yet: nothing claimed
    r.accepted.append("b" * 32)  # another alert's commit changes nothing
    r.d.tick(0.02)
    assert r.heard == []
    r.accepted.append(A)
    r.d.tick(0.03)
    assert r.heard == ["help_called"]
    r.delivered.append(Receipt(A))
    r.d.tick(0.04)
    r.d.tick(100.0)
    assert r.heard == ["help_called"]  # reached in time: nothing more to say


def test_not_reached_in_time_it_says_so_keeps_saying_so_and_says_when_it_gets_through() -> None:
    r = Resident()
    r.help(0.0)
    r.accepted.append(A)
    r.d.tick(0.1)
    r.d.tick(29.9)
    assert r.heard == ["help_called"]
    r.d.tick(30.0)
    assert r.heard == ["help_called", "help_not_reached"]
    r.d.tick(31.0)
    r.d.say(Say("help_still_coming"), 60.0)  # the state machine's reminder would be a false claim now
    r.d.say(Say("help_called"), 61.0)  # the resident asks again
    assert r.heard[2:] == ["help_not_reached", "help_not_reached"]
    r.delivered.append(Receipt(A))
    r.d.tick(90.0)
    assert r.heard[-1] == "help_reached"
    r.d.say(Say("help_still_coming"), 120.0)
    assert r.heard[-1] == "help_still_coming"  # true again


def test_a_staff_ack_proves_they_have_it_and_a_new_request_starts_its_own_clock() -> None:
    r = Resident()
    r.help(0.0)
    r.accepted.append(A)
    r.d.tick(1.0)
    r.d.say(Say("help_coming"), 2.0)  # staff acknowledged (a console ack, with no broker in between)
    r.d.tick(100.0)
    assert r.heard == ["help_called", "help_coming"]
    r.alert = None  # resolved
    r.d.tick(101.0)
    r.alert = "c" * 32
    r.d.say(Say("help_called"), 200.0)
    r.d.tick(229.0)
    assert r.heard[-1] == "help_coming"  # the new one is not committed yet
    r.d.tick(230.0)
    assert r.heard[-1] == "help_not_reached"


def restored(reached: bool) -> Resident:
    """A help request restored after a restart, and the state machine saying help is still coming."""
    r = Resident()
    r.alert = A
    r.d.restored(A, reached=reached, now=0.0)
    r.d.say(Say("help_still_coming"), 0.0)
    return r


def test_a_restored_request_is_committed_and_reached_only_if_no_update_waits() -> None:
    r = restored(reached=False)
    r.d.tick(30.0)
    assert r.heard == ["help_checking", "help_not_reached"]  # staff do not have it: never "help is still coming"
    r.delivered.append(Receipt(A))
    r.d.tick(31.0)
    assert r.heard == ["help_checking", "help_not_reached", "help_reached"]
    r2 = restored(reached=True)
    r2.d.tick(300.0)
    assert r2.heard == ["help_still_coming"]


def test_a_restored_request_whose_receipt_was_lost_is_claimed_only_when_the_resend_gets_through() -> None:
    """Killed after the broker took it, before the receipt was written: staff have it, the robot can't know yet."""
    from robot.core.delivery import RESTORE_GRACE_S

    r = restored(reached=False)
    r.d.tick(1.0)
    assert r.heard == ["help_checking"]  # neither claim nor alarm before the resend's receipt: what is true
    r.delivered.append(Receipt(A))
    r.d.tick(1.2)
    assert r.heard == ["help_checking", "help_still_coming"]  # true now, and said once
    r.d.tick(300.0)
    assert r.heard == ["help_checking", "help_still_coming"]
    late = restored(reached=False)
    late.d.say(Say("help_still_coming"), 0.5)  # she asks again while it checks: she is answered at once
    late.d.tick(RESTORE_GRACE_S - 0.1)
    assert late.heard == ["help_checking", "help_checking"]
    late.d.tick(RESTORE_GRACE_S)
    assert late.heard[2:] == ["help_not_reached"]  # the call button, no later than the grace
    late.delivered.append(Receipt(A))
    late.d.tick(RESTORE_GRACE_S + 1)
    assert late.heard[2:] == ["help_not_reached", "help_reached"]  # the held claim is not said as well
    acked = restored(reached=False)
    acked.d.say(Say("help_coming"), 0.5)  # a staff ack proves they have it
    acked.delivered.append(Receipt(A))
    acked.d.tick(1.0)
    acked.d.tick(60.0)
    assert acked.heard == ["help_checking", "help_coming"]


def test_without_an_outbox_help_called_is_said_at_once_and_not_reached_follows() -> None:
    r = Resident(outbox=False)
    r.help(0.0)
    assert r.heard == ["help_called"]
    r.d.tick(30.0)
    assert r.heard == ["help_called", "help_not_reached"]


# -- end to end: a real broker, down and then up -------------------------------------------------------


def honest_config(config: Config, broker: Broker, not_reached_s: float) -> Config:
    cfg = robot_config(config, broker)
    return cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"not_reached_s": not_reached_s})})


def keys(rt: Runtime) -> list[str]:
    return [s.key for s in rt.said]


def test_broker_down_the_resident_hears_to_use_the_call_button_then_that_staff_were_reached(
        config: Config, tmp_path: Path) -> None:
    broker = Broker(tmp_path / "b")  # configured, not started: the staff channel is down
    rt = Runtime(honest_config(config, broker, 3.0), simulate=True)
    rt.start()
    staff = None
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 10)
        rt.hear("help me please, I fell")
        assert wait_for(lambda: keys(rt)[:1] == ["help_called"], 5)  # committed to the outbox
        assert rt.link is not None and rt.link.outbox.pending_alerts() == 1
        assert wait_for(lambda: keys(rt) == ["help_called", "help_not_reached"], 8)
        assert wait_for(lambda: any("call button" in t and "trying" in t for t in rt.said_text), 1)  # either wording
        assert rt.behaviour.state == "alerting"
        broker.start()
        staff = Client(broker, STAFF)
        assert staff.connect() == 0
        staff.subscribe(f"carebot/v1/{SITE}/#")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 40)
        assert wait_for(lambda: keys(rt)[-1] == "help_reached", 5)
        assert wait_for(lambda: "I've got through to the staff" in rt.said_text[-1]
                        or "The staff have my message" in rt.said_text[-1], 1)
    finally:
        rt.stop()
        if staff is not None:
            staff.close()
            check_privacy(staff.messages)
        broker.stop()


class Stamped(collections.deque[Any]):
    """The link's `delivered` deque (the PUBACKs of alert updates), noting when each receipt was there.

    The time is read after the append, so a control tick that read its clock at or after it finds the
    receipt waiting: a receipt stamped before the deadline is one the robot had in time.
    """

    def __init__(self, rt: Runtime) -> None:
        assert rt.link is not None
        super().__init__(rt.link.delivered, maxlen=rt.link.delivered.maxlen)
        self.at: list[float] = []
        rt.link.delivered = rt.delivery.delivered = self  # before any alert: only alert updates land here

    def append(self, item: Any) -> None:
        super().append(item)
        self.at.append(time.monotonic())


def test_broker_up_help_is_called_and_nothing_false_or_alarming_follows(config: Config, broker: Broker) -> None:
    staff = Client(broker, STAFF)
    assert staff.connect() == 0
    staff.subscribe(f"carebot/v1/{SITE}/#")
    rt = Runtime(honest_config(config, broker, 2.0), simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 20)
        receipts = Stamped(rt)
        rt.hear("help me please, I fell")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 20)
        assert wait_for(lambda: keys(rt)[:1] == ["help_called"] and rt.delivery.call is not None, 20)
        assert rt.delivery.call is not None
        deadline = rt.delivery.call.since + rt.delivery.not_reached_s  # the robot's own clock and deadline
        assert wait_for(lambda: receipts.at, 20)  # the PUBACK: the broker has it
        assert wait_for(lambda: time.monotonic() > deadline, 20)
        ticks = rt.tick.ticks
        assert wait_for(lambda: rt.tick.ticks >= ticks + 2, 20)  # a whole tick began after the deadline
        if receipts.at[0] < deadline:
            assert keys(rt) == ["help_called"]  # it got through in time: "not reached" would be false
        else:  # a starved machine: the broker was late, so saying so was true; then it must say it got through
            assert wait_for(lambda: keys(rt) in (["help_called"], ["help_called", "help_not_reached",
                                                                    "help_reached"]), 20), keys(rt)
    finally:
        rt.stop()
        staff.close()


def test_after_a_night_without_the_broker_help_is_kept_sent_first_and_not_claimed_before_it_gets_through(
        config: Config, tmp_path: Path) -> None:
    """Hours of activity buckets pile up in the outbox (capped), then a resident asks for help."""
    from robot.outbox import MAX_ACTIVITY_ROWS

    broker = Broker(tmp_path / "b")  # configured, not started: the staff channel is down all night
    rt = Runtime(honest_config(config, broker, 2.0), simulate=True)
    rt.start()
    staff = None
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 10) and rt.link is not None
        counts = {"conversations": 0, "reminders_confirmed": 0, "reminders_missed": 0, "engagement_minutes": 0,
                  "help_requests": 0, "wellbeing_checkins": 0, "asked_again": 0}
        night = MAX_ACTIVITY_ROWS + 300  # more 15-minute buckets than the cap keeps
        for n in range(night):
            rt.link.submit("activity", {"bucket_start": 1.7e9 + 900 * n, "bucket_s": 900, "counts": counts})
        assert wait_for(lambda: rt.link is not None and rt.link.outbox.dropped_activity >= 300, 30)
        assert rt.link.outbox.pending() <= MAX_ACTIVITY_ROWS + 5  # the file stays bounded
        rt.hear("help me please, I fell")
        assert wait_for(lambda: keys(rt)[:1] == ["help_called"], 5)
        assert rt.link.outbox.pending_alerts() >= 1  # the pile did not push it out
        assert wait_for(lambda: "help_not_reached" in keys(rt), 6)
        assert "help_reached" not in keys(rt) and "help_coming" not in keys(rt)
        broker.start()
        staff = Client(broker, STAFF)
        assert staff.connect() == 0
        staff.subscribe(f"carebot/v1/{SITE}/#")
        assert not rt.link.connected  # the robot's next try comes after ours: we see all it sends
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 40)
        first = [m.topic.rsplit("/", 1)[-1] for m in staff.messages if m.topic.endswith(("/alert", "/activity"))]
        assert first[:1] == ["alert"], first[:5]  # the help before any of the night's activity
        assert wait_for(lambda: keys(rt)[-1] == "help_reached", 5)
        helps = alerts(staff, type="help_request", state="raised")
        assert len({h["event_id"] for h in helps}) == 1
    finally:
        rt.stop()
        if staff is not None:
            staff.close()
        broker.stop()


def test_every_pack_says_it_is_checking_without_claiming_and_an_older_pack_sends_her_to_the_call_button(
        tmp_path: Path) -> None:
    """help_checking is said before the robot knows whether staff have the call: it may not claim they do. A home's
    own pack from before it existed still loads (the robot refuses to start on an invalid pack) and says its
    help_not_reached words instead: sooner than needed, never false comfort."""
    from robot.dialogs import find_packs, load_pack

    root = Path(__file__).resolve().parent.parent / "dialogs"
    for path in find_packs(root):
        pack = load_pack(path)
        checking = pack.responses["help_checking"]
        claims = {s for key in ("help_called", "help_still_coming", "help_coming", "help_reached")
                  for s in pack.responses[key]}
        assert checking and claims.isdisjoint(checking), path
    lines = (root / "en" / "pack.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "pack.yaml").write_text("".join(x for x in lines if not x.lstrip().startswith("help_checking:")),
                                        encoding="utf-8")
    old = load_pack(tmp_path / "pack.yaml")
    assert old.responses["help_checking"] == old.responses["help_not_reached"]
