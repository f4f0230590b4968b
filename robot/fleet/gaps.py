"""Gaps in each robot's event sequence, as the central side of a fleet sees them.

A robot numbers its events (alert updates and activity buckets) 1, 2, 3 ... per boot (`seq`, with `boot_id`).
Bridges between brokers can drop messages while a link is down, so a central consumer must not trust the path:
it keeps, per robot and boot, the numbers it has seen, and a number missing below the highest one seen is a gap
that staff should be shown (an alert update that may never have arrived). Duplicates (the outbox replays, the
bridge redelivers) are counted once. Numbers before the first one seen are unknown, not missing: a consumer that
starts late has not lost what came before it, and the retained copy of each open alert tells it what is open.

Only events are counted: heartbeats have their own counter and travel at QoS 0, so a lost heartbeat is normal. But
each heartbeat says the number of the robot's newest event so far (`event_seq`), so an event lost at the end of
a run, with none after it to show the hole, is a gap by the next heartbeat. While the heartbeat's
`outbox_pending` is above 0 the robot is still sending, and such a gap may yet fill (so may one at the centre
while a home's uplink drains its queue after an outage: a heartbeat, at QoS 0, overtakes the queued events).
A heartbeat with nothing pending also starts the count for a boot not seen before (every event up to its number
was delivered before it), so a quiet robot whose only event in an outage (a help alert) was dropped shows a gap.

The numbers come from robot accounts, which may lie within the schema (up to 2**53): the missing numbers are
counted and tested arithmetically and listed lazily, never enumerated, so one claim cannot freeze the staff page
or the centre.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

EVENT_TOPICS = ("alert", "activity")
MAX_SEQ = 2**53 - 1  # the schemas' bound on seq and event_seq; anything outside is not a number we count


class Missing:
    """The event numbers missing in one boot, [first, top) less those seen: `len` and `in` in constant time,
    iteration lazy (a lying robot's 2**53 costs nothing until someone lists it)."""

    def __init__(self, first: int, top: int, seen: set[int]) -> None:
        self.first, self.top, self._seen = first, top, seen

    def __len__(self) -> int:
        return self.top - self.first - len(self._seen)  # every number seen lies in [first, top)

    def __contains__(self, n: object) -> bool:
        return isinstance(n, int) and self.first <= n < self.top and n not in self._seen

    def __iter__(self) -> Iterator[int]:
        left = len(self)
        for n in count(self.first):
            if not left:
                return
            if n not in self._seen:
                left -= 1
                yield n

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Missing | list):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        shown = [n for n, _ in zip(self, range(10), strict=False)]
        return f"Missing({shown}{' ...' if len(self) > 10 else ''}, count={len(self)})"


@dataclass
class _Boot:
    first: int
    seen: set[int] = field(default_factory=set)
    announced: int = 0  # the newest event number a heartbeat gave

    def missing(self) -> Missing:
        top = max(max(self.seen, default=0) + 1, self.announced + 1)
        return Missing(self.first, max(top, self.first), self.seen)


class SeqWatch:
    """Per robot and boot, which event numbers were seen and which are missing."""

    def __init__(self) -> None:
        self._boots: dict[tuple[str, str, str], _Boot] = {}  # (site, robot, boot_id)
        self.duplicates = 0

    def feed(self, topic: str, body: dict[str, Any]) -> bool:
        """Take one event as received on `topic` (carebot/v1/SITE/ROBOT/KIND). Returns True if it was new.

        The retained copy of an open alert (…/alert/ALERT_ID) repeats an event already numbered: it is not
        counted. The robot's identity comes from the topic (which the broker's ACL vouches for), not the body."""
        parts = topic.split("/")
        if len(parts) == 5 and parts[4] == "heartbeat":
            self._announce(parts[2], parts[3], body)
            return False
        if len(parts) != 5 or parts[4] not in EVENT_TOPICS:
            return False
        site, robot = parts[2], parts[3]
        try:
            boot_id, seq = str(body["boot_id"]), int(body["seq"])
        except (KeyError, TypeError, ValueError):
            return False
        if not 1 <= seq <= MAX_SEQ:
            return False
        key = (site, robot, boot_id)
        boot = self._boots.get(key)
        if boot is None:
            boot = self._boots[key] = _Boot(first=seq)
        if seq in boot.seen:
            self.duplicates += 1
            return False
        boot.first = min(boot.first, seq)
        boot.seen.add(seq)
        return True

    def _announce(self, site: str, robot: str, body: dict[str, Any]) -> None:
        try:
            key, newest = (site, robot, str(body["boot_id"])), int(body.get("event_seq", 0))
            if not 0 <= newest <= MAX_SEQ:
                return
            boot = self._boots.get(key)
            if boot is None:
                if body.get("outbox_pending") != 0:  # some may have been delivered before we listened: unknown
                    return
                boot = self._boots[key] = _Boot(first=newest + 1)
            boot.announced = max(boot.announced, newest)
        except (KeyError, TypeError, ValueError):
            return

    def gaps(self) -> dict[tuple[str, str, str], Missing]:
        """(site, robot, boot_id) -> the event numbers missing so far, for every boot that has any."""
        out = {}
        for key, boot in self._boots.items():
            missing = boot.missing()
            if missing:
                out[key] = missing
        return out

    def seen(self, site: str, robot: str, boot_id: str) -> set[int]:
        boot = self._boots.get((site, robot, boot_id))
        return set(boot.seen) if boot else set()

    def robots(self) -> set[tuple[str, str]]:
        return {(site, robot) for site, robot, _ in self._boots}
