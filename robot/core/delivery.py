"""Honest to the resident: what the robot says about a help request follows where the alert is.

- "I've called the staff" (help_called) is said once the alert is committed (in the outbox,
  or held in memory when the disk is full and sent from there), never before.
- If the broker has not accepted it within `not_reached_s`, the robot says so plainly and
  tells the resident what else to do (the room's call button or pull cord), and keeps
  trying; from then on, until it gets through, "help is still coming" becomes that message.
- When it does get through later, it says so (help_reached).
- A help request restored after a restart that staff may not have (killed between the broker
  taking it and its receipt being written, or while the broker was away) is resent at once; what
  the robot says of it waits up to RESTORE_GRACE_S for the resend's receipt (meanwhile it says it is
  with the resident and checking the staff have the call): "help is still coming" if it comes, else
  that staff have not been reached, and later that it got through.
A staff acknowledgement (help_coming) proves staff have it. Runs on the control loop thread:
it drains the outbox's `accepted` and the link's `delivered` deques, and does no I/O.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from robot.intents import Say

log = logging.getLogger(__name__)

CLAIMS = ("help_called", "help_still_coming")  # sentences that say staff have been called
RESTORE_GRACE_S = 5.0  # a restarted robot connects and resends to a live broker well within this


class Receipt(Protocol):
    """A delivery receipt: the link's `Delivered`."""

    alert_id: str


@dataclass
class _Call:
    """Where one help request is, as far as the resident has been told."""

    alert_id: str
    since: float
    committed: bool = False
    reached: bool = False
    told_unreached: bool = False
    owed_called: bool = False  # help_called waits for the commit
    wait_s: float | None = None  # how long before the resident hears it has not reached staff (None: not_reached_s)
    owed_claim: Say | None = None  # a restored call's claim waits for the resend's receipt


class HelpDelivery:
    """Stands between the state machine's help sentences and the speech channel."""

    def __init__(self, speak: Callable[[Say, float], None], help_alert: Callable[[], str | None],
                 not_reached_s: float, accepted: collections.deque[str] | None,
                 delivered: collections.deque[Any] | None) -> None:
        self.speak = speak
        self.help_alert = help_alert
        self.not_reached_s = not_reached_s
        self.accepted = accepted
        self.delivered = delivered
        self.call: _Call | None = None

    def restored(self, alert_id: str, reached: bool, now: float) -> None:
        """A help request open from before a restart: committed long ago; reached if no row waits.

        One whose receipt was never written may or may not be with staff (the broker may have taken it
        just before the kill, or been away): it is resent at once, and its claims wait up to
        RESTORE_GRACE_S for the receipt, the resident hearing meanwhile that the robot is with them and
        checking; if none comes, they hear that staff have not been reached, never that help is still
        coming, and hear later when it gets through."""
        self.call = _Call(alert_id, now, committed=True, reached=reached,
                          wait_s=None if reached else min(RESTORE_GRACE_S, self.not_reached_s))

    def say(self, intent: Say, now: float) -> None:
        """The Executor's Say handler: help sentences are held or reworded to match the truth."""
        call = self._current(now)
        key = intent.key
        if call is not None:
            if key == "help_coming":
                call.reached = True  # staff acknowledged it: they have it
                call.owed_claim = None  # what they said now says more
            elif key in CLAIMS and not call.committed:
                call.owed_called = True
                return
            elif key in CLAIMS and call.told_unreached and not call.reached:
                key = "help_not_reached"
            elif key in CLAIMS and call.wait_s is not None and not call.reached:
                call.owed_claim = intent  # restored: said once the resend's receipt shows staff have it
                key, intent = "help_checking", Say("help_checking")  # meanwhile, what is true: it is checking
        self.speak(intent if key == intent.key else Say(key, intent.params), now)

    def tick(self, now: float) -> None:
        """Take commit and delivery receipts; tell the resident when staff could not be reached in time."""
        call = self._current(now)
        accepted, delivered = self.accepted, self.delivered
        while accepted:
            alert_id = accepted.popleft()
            if call is not None and alert_id == call.alert_id and not call.committed:
                call.committed = True
                if call.owed_called:
                    call.owed_called = False
                    self.speak(Say("help_called"), now)
        while delivered:
            receipt: Receipt = delivered.popleft()
            if call is not None and receipt.alert_id == call.alert_id and not call.reached:
                call.reached = True
                if call.owed_claim is not None:
                    self.speak(call.owed_claim, now)
                    call.owed_claim = None
                elif call.told_unreached:
                    log.info("help request reached the staff broker after %.0f s", now - call.since)
                    self.speak(Say("help_reached"), now)
        wait_s = self.not_reached_s if call is None or call.wait_s is None else call.wait_s
        if call is not None and not call.reached and not call.told_unreached and now - call.since >= wait_s:
            call.told_unreached = True
            call.owed_claim = None
            log.error("help request not accepted by the staff broker after %.0f s: telling the resident; "
                      "still trying", wait_s)
            self.speak(Say("help_not_reached"), now)

    def _current(self, now: float) -> _Call | None:
        """The call for the staff channel's open help request (a new one starts its clock now)."""
        alert_id = self.help_alert()
        if alert_id is None:
            self.call = None
        elif self.call is None or self.call.alert_id != alert_id:
            self.call = _Call(alert_id, now, committed=self.accepted is None)  # no outbox: nothing to wait for
        return self.call
