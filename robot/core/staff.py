"""The staff channel: alerts raised, escalated and closed; staff commands carried out.

Runs on the control loop thread and does no I/O: alert updates and activity buckets go to
the MQTT link as deque appends (the link thread commits them to the outbox and publishes).
Alerts are timed on the robot clock (robot.clock): raised and escalated in care time, stamped
with its civil time.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from robot.activity import ActivityCounter
from robot.alerts import Alert, AlertManager, UnknownAlert
from robot.clock import Clock
from robot.config import QuietHoursSection
from robot.core.schedule import Schedule
from robot.intents import Publish
from robot.mqtt_link import MqttLink

log = logging.getLogger(__name__)

# A robot_fault alert restored from before a restart is cancelled if its fault has not been raised
# again this long after start (longer than a worker may stay down before it is reported).
RESTORED_FAULT_GRACE_S = 90.0
# A storage fault that comes back within this long of clearing is flapping (a worn card failing now and then, a
# nearly full disk where only big batches fail): it is then held until storage has been good this long.
STORAGE_HOLD_S = 300.0

Record = Callable[[str, dict[str, Any]], None]
Fire = Callable[..., bool]


def token(text: str) -> str:
    """A schema-safe token from an internal reason such as 'worker_speech_in' or 'loop_overrun'."""
    out = "".join(c if c.isalnum() or c in "_-" else "_" for c in text.lower())[:32]
    return out if out and out[0].isalnum() else "fault"


class StaffChannel:
    """Alerts and activity out to staff, staff commands in."""

    def __init__(self, room: str, alerts: AlertManager, activity: ActivityCounter, link: MqttLink | None,
                 record: Record, fire: Fire, schedule: Schedule,
                 published: collections.deque[Publish], alert_updates: collections.deque[dict[str, Any]],
                 clock: Clock | None = None) -> None:
        self.room = room
        self.clock = clock or Clock()
        self.alerts = alerts
        self.activity = activity
        self.link = link
        self.record = record
        self.fire = fire
        self.schedule = schedule
        self.published = published
        self.alert_updates = alert_updates
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # also told each update (never blocking)
        self.audit_error: Callable[[], str | None] = lambda: None  # why the audit log cannot write, if it cannot
        self.help_alert: str | None = None
        self._fault_alerts: dict[str, str] = {}  # fault reason -> its robot_fault alert
        self._restored_help: str | None = None  # state of a help alert restored at start, until announced
        self._retry_restore = 0.0
        self._storage_raised = False
        self._storage_bad_at = 0.0  # when storage last failed
        self._storage_cleared_at: float | None = None
        self._storage_hold = 0.0  # how long storage must be good before the fault clears (0: at once)
        self._stale_faults: set[str] = set()  # restored fault alerts not raised again in this run
        self._stale_until: float | None = None

    def adopt(self, restored: list[Alert]) -> None:
        """Alerts still open from before a restart: they escalate on, staff can ack and resolve them,
        and a help request takes the robot back to the resident to say help is still coming."""
        for alert in restored:
            log.warning("open %s alert restored from before the restart (%s, level %d)", alert.type,
                        alert.state, alert.level)
            if alert.type == "help_request":
                self.help_alert, self._restored_help = alert.alert_id, alert.state
            elif alert.type == "robot_fault":
                reason = alert.extra.get("fault", "unknown")
                self._fault_alerts[reason] = alert.alert_id
                self._stale_faults.add(reason)

    # -- out to staff -----------------------------------------------------------------------------

    def publish(self, intent: Publish, now: float) -> None:
        """Carry out one Publish intent: an alert, a fault raised or cleared, an activity count.
        (`now` is the loop's real time, as for every intent; alerts take the clock's care time.)"""
        self.published.append(intent)
        f = dict(intent.fields)
        if intent.kind == "alert":
            open_help = self.help_alert if self.help_alert in self.alerts.alerts else None
            if f.get("state") == "renewed" and open_help is not None:  # asked again: one call, one alert
                renewed = self.alerts.renew(open_help, str(f["priority"]))
                if renewed is not None:
                    self.send_alert(renewed)
                return  # (with no open help alert to renew, the call is raised afresh below)
            extra = {k: str(f[k]) for k in ("reminder", "concern") if k in f}
            alert, update = self.alerts.raise_alert(str(f["type"]), str(f["priority"]), self.room,
                                                    self.clock.monotonic(), self.clock.time(), **extra)
            if alert.type == "help_request":
                self.help_alert = alert.alert_id
                self.activity.count("help_requests")
            elif alert.type == "reminder_unacked":
                self.activity.count("reminders_missed")
            self.send_alert(update)
        elif intent.kind == "fault":
            reason = str(f.get("reason", "unknown"))
            if f.get("state") == "raised":
                self._stale_faults.discard(reason)  # the restored alert stands for the fault again
            if f.get("state") == "raised" and reason not in self._fault_alerts:
                alert, update = self.alerts.raise_alert("robot_fault", "medium", self.room,
                                                        self.clock.monotonic(), self.clock.time(),
                                                        fault=token(reason))
                self._fault_alerts[reason] = alert.alert_id
                self.send_alert(update)
            elif f.get("state") == "cleared" and reason in self._fault_alerts:
                alert_id = self._fault_alerts.pop(reason)
                if alert_id in self.alerts.alerts:  # staff may have resolved it while the fault lasted
                    self.send_alert(self.alerts.cancel(alert_id))
        elif intent.kind == "activity":
            counter = str(f.get("counter"))
            if counter in self.activity.counts:
                self.activity.count(counter, int(f.get("delta", 1)))

    def fault(self, reason: str, raised: bool, now: float) -> None:
        """Raise or clear a robot_fault alert for `reason` (worker, camera, speech...)."""
        self.publish(Publish("fault", (("reason", reason), ("state", "raised" if raised else "cleared"))), now)

    def send_alert(self, update: dict[str, Any]) -> None:
        """Hand one alert update to the link and the audit log, then to the observers (the paging part): the
        help path goes first, and nothing an observer does can stop or delay it."""
        self.alert_updates.append(update)
        if self.link is not None:
            self.link.submit("alert", update)
        self.record("alert", {k: update[k] for k in ("type", "priority", "state", "room")})
        for observe in self.observers:
            try:
                observe(update)
            except Exception:
                log.exception("an alert observer failed; the alert went to staff all the same")

    def tick(self, now: float) -> None:
        """At care time `now`: escalate alerts that are due; announce a restored help request; report
        outbox and audit log write faults."""
        for update in self.alerts.tick(now):
            self.send_alert(update)
        if self._restored_help is not None and now >= self._retry_restore:
            self._retry_restore = now + 0.5  # refused while booting (and retried) if help is not taken there
            if self.fire("help", restored=self._restored_help):
                self._restored_help = None
        if self._stale_faults:
            self._cancel_stale_faults(now)
        # The outbox (alerts are held in memory meanwhile) or the audit log (its records are lost meanwhile).
        error = (self.link.outbox.write_error if self.link is not None else None) or self.audit_error()
        if error is not None:
            self._storage_bad_at = now
            if not self._storage_raised:
                flapping = self._storage_cleared_at is not None and now - self._storage_cleared_at < STORAGE_HOLD_S
                self._storage_hold = STORAGE_HOLD_S if flapping else 0.0
                self._storage_raised = True
                self.fault("storage", True, now)
        elif self._storage_raised and now - self._storage_bad_at >= self._storage_hold:
            self._storage_raised, self._storage_cleared_at = False, now
            self.fault("storage", False, now)

    def _cancel_stale_faults(self, now: float) -> None:
        """Faults clear when their cause clears: one from before the restart that has not come back is gone."""
        if self._stale_until is None:
            self._stale_until = now + RESTORED_FAULT_GRACE_S
        if now < self._stale_until:
            return
        for reason in sorted(self._stale_faults):
            alert_id = self._fault_alerts.pop(reason, None)
            if alert_id in self.alerts.alerts:  # staff may have resolved it already
                log.info("robot fault %s from before the restart has not come back: cancelling its alert", reason)
                self.send_alert(self.alerts.cancel(alert_id))
        self._stale_faults.clear()

    def every_second(self, health: dict[str, Any]) -> None:
        """Send a finished activity bucket; refresh the health the heartbeat carries."""
        if self.link is None:
            return
        bucket = self.activity.flush(self.clock.time())
        if bucket is not None:
            self.link.submit("activity", bucket)
        self.link.health = {**health, "open_alerts": len(self.alerts.alerts)}

    def newest_open_alert(self) -> str | None:
        """The help alert if there is one, else the newest open alert (for the console)."""
        if self.help_alert is not None:
            return self.help_alert
        open_alerts = self.alerts.open_alerts()
        return open_alerts[-1].alert_id if open_alerts else None

    # -- in from staff ----------------------------------------------------------------------------

    def take_commands(self) -> list[tuple[str, dict[str, Any]]]:
        """Commands the link has decoded since the last tick (its refusals go to the audit log)."""
        out: list[tuple[str, dict[str, Any]]] = []
        if self.link is not None:
            commands = self.link.commands
            while commands:
                out.append(commands.popleft())
            refusals = self.link.refusals  # refused at the edge: codes only, never the payload's text
            while refusals:
                r = refusals.popleft()
                self.record("refused", {"command": r.command, "field": r.field, "reason": r.problem})
        return out

    def command(self, name: str, payload: dict[str, Any]) -> None:
        """Carry out one staff command."""
        self.record("command", {"command": name})
        try:
            alert_id = str(payload.get("alert_id", ""))
            if name == "ack":
                update = self.alerts.acknowledge(alert_id)
                if update is not None:
                    self.send_alert(update)
                if alert_id == self.help_alert:
                    self.fire("ack")  # the resident hears that help is on the way
            elif name == "resolve":
                self.send_alert(self.alerts.resolve(alert_id))
                if alert_id == self.help_alert:
                    self.help_alert = None
                    self.fire("resolve")
            elif name in ("pause", "resume"):
                self.fire(name)
            elif name == "remind":
                self.schedule.add(self.clock.monotonic() + float(payload.get("in_s", 0)), str(payload["kind"]))
            elif name == "quiet_hours":
                self.schedule.set_quiet_hours(QuietHoursSection.model_validate(
                    {k: payload[k] for k in ("enabled", "start", "end")}))
        except UnknownAlert as exc:
            log.warning("staff command %s rejected: %s", name, exc)
            self.record("refused", {"command": name, "reason": "unknown alert"})
        except Exception as exc:  # whatever the decoder let through: refused and reported, never a fault
            log.warning("staff command %s refused: it could not be carried out: %s: %s", name,
                        type(exc).__name__, str(exc)[:200])
            self.record("refused", {"command": name, "reason": "invalid"})
