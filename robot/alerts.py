"""Alert lifecycle and escalation, as pure logic stepped by the control loop.

raised -> escalated (step by step while nobody acknowledges) -> acknowledged -> resolved,
or cancelled at any point. The alert_id stays the same through the whole life; every
change is one update for the staff channel. Acknowledging stops escalation but does
not close the alert: only resolve or cancel does. Time is passed in, so tests run the
escalation schedule on a fake clock.

Open alerts outlive the process: the outbox stores each alert's latest update in the same
transaction as the event that carries it, and `restore` rebuilds them at start. Monotonic
time does not survive a restart, so a restored alert's age comes from its wall-clock
`raised_ts`, bounded below by the level it had already reached (a clock set back at boot
delays the next step by at most one interval; a clock set forward escalates at once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from robot.errors import CareBotError

OPEN_STATES = ("raised", "escalated", "acknowledged")
MAX_LEVEL = 10  # the alert schema's bound on `level`


class UnknownAlert(CareBotError):
    """A command named an alert this robot does not have open."""


@dataclass(frozen=True)
class EscalationPolicy:
    """Seconds after raising at which each escalation step fires, per priority."""

    high: tuple[float, ...] = (60.0, 180.0)
    medium: tuple[float, ...] = (900.0,)
    low: tuple[float, ...] = ()
    promote_medium_to_high_s: float | None = 900.0

    def steps(self, priority: str) -> tuple[float, ...]:
        return {"high": self.high, "medium": self.medium, "low": self.low}[priority]


@dataclass
class Alert:
    """One alert and where it is in its life."""

    alert_id: str
    type: str
    priority: str
    room: str
    raised_at: float       # monotonic, for escalation
    raised_ts: float       # wall clock, for staff
    state: str = "raised"
    level: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    promoted: bool = False

    def update(self) -> dict[str, Any]:
        """The fields of this alert's state change, as the alert schema names them."""
        return {"alert_id": self.alert_id, "type": self.type, "priority": self.priority, "room": self.room,
                "state": self.state, "level": self.level, "raised_ts": round(self.raised_ts, 3), **self.extra}


class AlertManager:
    """Open alerts, their escalation, and the updates to publish."""

    def __init__(self, policy: EscalationPolicy | None = None) -> None:
        self.policy = policy or EscalationPolicy()
        self.alerts: dict[str, Alert] = {}

    def raise_alert(self, type: str, priority: str, room: str, now: float, wall: float,
                    **extra: str) -> tuple[Alert, dict[str, Any]]:
        """Open a new alert; returns it and its first update."""
        alert = Alert(uuid.uuid4().hex, type, priority, room, now, wall, extra=dict(extra))
        self.alerts[alert.alert_id] = alert
        return alert, alert.update()

    def _get(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise UnknownAlert(f"no open alert {alert_id[:32]!r}")
        return alert

    def acknowledge(self, alert_id: str) -> dict[str, Any] | None:
        """Staff have it: stop escalating. None if it was already acknowledged."""
        alert = self._get(alert_id)
        if alert.state == "acknowledged":
            return None
        alert.state = "acknowledged"
        return alert.update()

    def renew(self, alert_id: str, priority: str) -> dict[str, Any] | None:
        """The same call made again: an acknowledged alert escalates a step (staff must hear the resident
        asked again), a lower priority is raised to `priority`. None if it is already escalating as it should."""
        alert = self._get(alert_id)
        rank = {"low": 0, "medium": 1, "high": 2}
        higher = rank[priority] > rank[alert.priority]
        if alert.state != "acknowledged" and not higher:
            return None
        if alert.state == "acknowledged":
            alert.level = min(alert.level + 1, MAX_LEVEL)
        if higher:
            alert.priority = priority
        alert.state = "escalated"
        return alert.update()

    def resolve(self, alert_id: str) -> dict[str, Any]:
        """Staff dealt with it: close it."""
        return self._close(alert_id, "resolved")

    def cancel(self, alert_id: str) -> dict[str, Any]:
        """It no longer applies (the fault cleared, the resident confirmed late): close it."""
        return self._close(alert_id, "cancelled")

    def _close(self, alert_id: str, state: str) -> dict[str, Any]:
        alert = self._get(alert_id)
        alert.state = state
        del self.alerts[alert_id]
        return alert.update()

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Escalation steps that are due, as updates (call often; it is cheap)."""
        updates = []
        for alert in self.alerts.values():
            if alert.state == "acknowledged":
                continue
            age = now - alert.raised_at
            changed = False
            steps = self.policy.steps(alert.priority) if not alert.promoted else self.policy.high
            while alert.level < len(steps) and age >= steps[alert.level]:
                alert.level += 1
                changed = True
            promote = self.policy.promote_medium_to_high_s
            if (alert.priority == "medium" and promote is not None and age >= promote
                    and alert.type == "reminder_unacked"):
                alert.priority, alert.promoted, changed = "high", True, True
            if changed:
                alert.state = "escalated"
                updates.append(alert.update())
        return updates

    def restore(self, updates: list[dict[str, Any]], now: float, wall: float) -> list[Alert]:
        """Reopen alerts from their last stored updates (at start); returns those reopened."""
        restored = []
        for u in updates:
            if u.get("state") not in OPEN_STATES or u.get("alert_id") in self.alerts:
                continue
            priority, level = str(u["priority"]), int(u.get("level", 0))
            promoted = u["type"] == "reminder_unacked" and priority == "high"
            steps = self.policy.high if promoted else self.policy.steps(priority)
            reached = steps[min(level, len(steps)) - 1] if level and steps else 0.0
            age = max(wall - float(u["raised_ts"]), reached)
            extra: dict[str, str] = {k: str(u[k]) for k in ("reminder", "concern", "fault") if k in u}
            alert = Alert(str(u["alert_id"]), str(u["type"]), priority, str(u["room"]), now - age,
                          float(u["raised_ts"]), state=str(u["state"]), level=level, extra=extra, promoted=promoted)
            self.alerts[alert.alert_id] = alert
            restored.append(alert)
        return restored

    def open_alerts(self) -> list[Alert]:
        """Alerts not yet resolved or cancelled, oldest first."""
        return sorted(self.alerts.values(), key=lambda a: a.raised_at)
