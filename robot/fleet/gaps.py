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
`outbox_pending` is above 0 the robot is still sending, and such a gap may yet fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVENT_TOPICS = ("alert", "activity")


@dataclass
class _Boot:
    first: int
    seen: set[int] = field(default_factory=set)
    announced: int = 0  # the newest event number a heartbeat gave

    def missing(self) -> list[int]:
        if not self.seen:
            return []
        top = max(max(self.seen), self.announced + 1)
        return [n for n in range(self.first, top) if n not in self.seen]


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
            boot = self._boots.get((site, robot, str(body["boot_id"])))
            if boot is not None:
                boot.announced = max(boot.announced, int(body.get("event_seq", 0)))
        except (KeyError, TypeError, ValueError):
            return

    def gaps(self) -> dict[tuple[str, str, str], list[int]]:
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
