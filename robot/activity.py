"""Anonymous activity counts, summed per time bucket: how much the robot helped, never who."""

from __future__ import annotations

from typing import Any

ENGAGED_STATES = frozenset({"engaged", "listening", "responding"})


class ActivityCounter:
    """Counts per bucket: conversations, reminders, engagement minutes, help requests, and how often the robot
    had to ask again (it did not understand: how well it serves the residents' voices, for the staff's impact
    page)."""

    def __init__(self, bucket_s: int, wall: float) -> None:
        self.bucket_s = bucket_s
        self.start = wall - wall % bucket_s
        self.counts = self._zero()
        self._engaged_s = 0.0

    @staticmethod
    def _zero() -> dict[str, int]:
        return {"conversations": 0, "reminders_confirmed": 0, "reminders_missed": 0,
                "engagement_minutes": 0, "help_requests": 0, "wellbeing_checkins": 0, "asked_again": 0}

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter (unknown names are a bug and raise KeyError)."""
        self.counts[name] += n

    def tick(self, state: str, dt: float) -> None:
        """Accumulate engagement time."""
        if state in ENGAGED_STATES:
            self._engaged_s += dt

    def flush(self, wall: float) -> dict[str, Any] | None:
        """The finished bucket's fields, once its time is up; None before that."""
        if wall < self.start + self.bucket_s:
            return None
        counts = {**self.counts, "engagement_minutes": int(self._engaged_s // 60)}
        fields = {"bucket_start": self.start, "bucket_s": self.bucket_s, "counts": counts}
        self.start = wall - wall % self.bucket_s
        self.counts = self._zero()
        self._engaged_s = self._engaged_s % 60
        return fields
