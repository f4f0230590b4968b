"""`carebot staff`: a nurse station's console for one site, with no other app needed.

It shows every robot's alerts live with their age and state, and takes typed commands:
`ack N`, `resolve N`, `pause ROBOT`, `resume ROBOT`, `remind ROBOT KIND [MINUTES]`, `list`,
`robots`, `quit`. Duplicate deliveries (same event_id) are shown once. Open alerts are retained
per alert by the robots, so a console started late sees them.

It trusts only what the broker vouches for: the robot is the one named by the topic, which
the ACL ties to the robot's account, and a payload that names another robot or site is
refused. It checks that the robot carried out what staff sent: an ack or resolve that the robot
has not confirmed within CONFIRM_S is reported, with the likely reason (the robot is offline, or
its clock, read from its heartbeats, is too far from this station's for it to accept commands).
Every message is parsed strictly and checked against its schema; one that is not is
reported with its topic and ignored, so nothing a robot account sends can crash the console.
"""

from __future__ import annotations

import collections
import json
import queue
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from robot.errors import CareBotError
from robot.events import CLOCK_SKEW_S, InvalidMessage, parse_json, printable, validate


@dataclass
class AlertView:
    """What the console knows of one alert."""

    alert_id: str
    robot: str
    room: str
    type: str
    priority: str
    state: str
    level: int
    raised_ts: float
    extra: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0  # of the update shown, to drop older ones delivered late
    boot_id: str = ""
    seq: int = 0

    def newer(self, body: dict[str, Any]) -> bool:
        """True if an update is newer than this: by seq within a boot (its clock may step back), else by ts."""
        if body["boot_id"] == self.boot_id:
            return bool(body["seq"] > self.seq)
        return bool(body["ts"] >= self.ts)

    def line(self, n: int, now: float) -> str:
        age = int(now - self.raised_ts)
        detail = " ".join(f"{k}={v}" for k, v in self.extra.items())
        esc = f" L{self.level}" if self.level else ""
        return (f"{n:>3}  {self.priority.upper():6s} {self.type:18s} {self.state:12s}{esc:4s} "
                f"{self.robot}/{self.room}  {age // 60:>3}m{age % 60:02d}s {detail}")


TOKEN = r"[a-z0-9][a-z0-9_-]{0,31}"
TOPIC = re.compile(rf"carebot/v1/(?P<site>{TOKEN})/(?P<robot>{TOKEN})/(?P<kind>status|alert|heartbeat)"
                   r"(?:/(?P<alert_id>[0-9a-f]{32}))?")
SEEN_EVENTS = 10_000  # event ids remembered to drop redeliveries
SESSION_TAKEN_OVER = 0x8E
CLOSED = ("resolved", "cancelled", "closed")
MAX_OPEN_PER_ROBOT = 50  # a robot has a handful open (help, reminders, faults); more is a misused account
CONFIRM_S = 10.0  # an ack or resolve not confirmed by the robot this long after it was sent is reported
SESSION_KEPT_S = 86400  # how long the broker keeps a staff client's session while its link is down


def kept_session() -> Properties:
    """CONNECT properties asking the broker to keep a staff client's session (its subscriptions and the QoS 1
    alert updates) while the link is down: an alert resolved meanwhile has no retained copy left to say so,
    only its update, which the broker keeps for this client."""
    kept = Properties(PacketTypes.CONNECT)
    kept.SessionExpiryInterval = SESSION_KEPT_S
    return kept


class StaffConsole:
    """Subscribes to a site and sends staff commands."""

    def __init__(self, site: str, client: mqtt.Client, out: TextIO, station: str) -> None:
        self.site = site
        self.client = client
        self.out = out
        self.station = station
        self.alerts: dict[str, AlertView] = {}
        # The alerts that may be open, for counting a robot's open ones (_over_limit) without going through every
        # closed alert kept: each alert as stored, dropped once the count finds it closed or no longer the view's.
        self._maybe_open: dict[str, AlertView] = {}
        # The number staff type (`ack N`): an alert keeps its own while this console runs, across a re-read of
        # the open alerts, and a number is never given again, so a list still on screen cannot name another alert.
        self.numbers: dict[str, int] = {}
        self.last_number = 0
        self.robots: dict[str, str] = {}
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.refused = 0
        self.flooding: set[str] = set()  # robots over MAX_OPEN_PER_ROBOT, whose new alerts are not shown
        self.clock_offset: dict[str, float] = {}  # robot -> its clock minus this station's, from heartbeats
        self.pending: dict[str, tuple[str, float]] = {}  # alert_id -> (ack or resolve, monotonic time sent)
        self.events: queue.SimpleQueue[tuple[str, bytes, bool]] = queue.SimpleQueue()  # topic "": start over
        self.kept = True  # False once another login took this console's session: what it kept went elsewhere
        client.on_message = self._guarded(lambda c, u, msg: self.events.put((msg.topic, bytes(msg.payload),
                                                                              bool(msg.retain))))
        client.on_connect = self._guarded(lambda c, u, f, rc, p: self._connected(f.session_present, rc))
        client.on_disconnect = self._guarded(lambda c, u, f, rc, p: self._on_disconnect(rc))

    def _guarded(self, callback: Any) -> Any:
        """A paho callback that cannot raise into paho's thread (which would end it)."""

        def call(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:
                self._say(f"internal error in a broker callback, carrying on: {type(exc).__name__}: {exc}")

        return call

    def _say(self, line: str, bell: bool = False) -> None:
        """One line to the nurse, control characters escaped; the terminal bell only when asked for."""
        try:
            self.out.write(("\a" if bell else "") + printable(line, 400) + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not take the console down with it

    def _on_connect(self, rc: Any) -> None:
        if rc.is_failure:
            self._say(f"broker refused the connection: {rc}")
            return
        base = f"carebot/v1/{self.site}/+"
        self.client.subscribe([(f"{base}/alert", 1), (f"{base}/alert/+", 1), (f"{base}/status", 1),
                               (f"{base}/heartbeat", 0)])
        self._say(f"connected; watching site {self.site}")

    def _connected(self, resumed: bool, rc: Any) -> None:
        if not rc.is_failure and not (resumed and self.kept):
            self.events.put(("", b"", False))  # queued ahead of the retained copies the subscription brings
            self.kept = True
        self._on_connect(rc)

    def _start_over(self) -> None:
        """The broker kept no session for this console (it lost its data, another login took it, it expired): the
        updates sent while the link was down are lost, and an alert closed meanwhile has no retained copy left to
        say so. As at start, the open alerts are read again from the robots' retained copies."""
        gone = [alert_id for alert_id, a in self.alerts.items() if a.state not in CLOSED]
        for alert_id in gone:
            del self.alerts[alert_id]
            self.pending.pop(alert_id, None)
        if gone:
            self.seen.clear()  # the retained copies repeat events already seen: they must be taken again
            self._say("the broker kept nothing for this console while it was away: the open alerts are read again")

    def _on_disconnect(self, rc: Any) -> None:
        if getattr(rc, "value", None) == SESSION_TAKEN_OVER:
            self.kept = False
            self._say("another login with this staff account took over this console's session: "
                      "use one console per staff account")
        elif getattr(rc, "is_failure", False):
            self._say(f"lost the broker ({rc}); reconnecting")

    def pump(self) -> None:
        """Apply every message received so far; report commands the robots have not confirmed."""
        while True:
            try:
                topic, payload, retained = self.events.get_nowait()
            except queue.Empty:
                break
            if topic:
                self.apply(topic, payload, retained)
            else:
                self._start_over()
        self.check_pending()

    def check_pending(self, now: float | None = None) -> None:
        """Say, once each, which acks and resolves the robot has not confirmed within CONFIRM_S, and why."""
        now = time.monotonic() if now is None else now
        for alert_id, (cmd, sent) in list(self.pending.items()):
            if now - sent < CONFIRM_S:
                continue
            del self.pending[alert_id]
            view = self.alerts[alert_id]
            self._say(f"{self._number(alert_id):>3}  {view.robot} has not confirmed your {cmd} after {CONFIRM_S:.0f} s"
                      f"{self._why(view.robot)}: the {view.type} at {view.robot}/{view.room} is still open; "
                      "go to the room", bell=True)

    def _why(self, robot: str) -> str:
        """The likely reason a robot did not carry out a command, as far as this console can tell."""
        state = self.robots.get(robot)
        if state in ("offline", "stopped"):
            return f" (the robot is {state})"
        offset = self.clock_offset.get(robot, 0.0)
        if abs(offset) > CLOCK_SKEW_S:
            return (f" (its clock is {abs(offset):.0f} s {'ahead of' if offset > 0 else 'behind'} this station's: "
                    "it refuses commands sent from here)")
        return " (it may be offline or refusing commands; see its log)"

    def _heartbeat(self, robot: str, body: dict[str, Any]) -> None:
        """Keep each robot's clock offset, and say when it is too far off for commands to be accepted."""
        offset = float(body["ts"]) - time.time()
        was = abs(self.clock_offset.get(robot, 0.0)) > CLOCK_SKEW_S
        self.clock_offset[robot] = offset
        if abs(offset) > CLOCK_SKEW_S and not was:
            self._say(f"robot {robot}: its clock is {abs(offset):.0f} s {'ahead of' if offset > 0 else 'behind'} "
                      f"this station's (at most {CLOCK_SKEW_S:.0f} s allowed): it will refuse acks and other "
                      "commands sent from here; put both on the care home's time server", bell=True)
        elif was and abs(offset) <= CLOCK_SKEW_S:
            self._say(f"robot {robot}: its clock agrees with this station's again")

    def apply(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Take one message from the broker into the view; a bad one is reported and ignored."""
        try:
            self._apply(topic, payload)
        except InvalidMessage as exc:
            self.refused += 1
            self._say(f"ignored a message: {exc}")
        except Exception as exc:  # a console bug must not end the console: say so and go on
            self.refused += 1
            self._say(f"ignored a message on {topic[:120]}: it could not be shown ({type(exc).__name__})")

    def _apply(self, topic: str, payload: bytes) -> None:
        where = TOPIC.fullmatch(topic)
        if where is None or where["site"] != self.site:
            raise InvalidMessage(f"{topic[:120]}: not a topic of site {self.site}", problem="wrong_topic")
        robot, kind, alert_id = where["robot"], where["kind"], where["alert_id"]
        if alert_id is not None and not payload:
            self._closed(alert_id, robot)
            return
        body = parse_json(payload, topic)
        if not isinstance(body, dict):
            raise InvalidMessage(f"{topic}: payload must be a JSON object, not {type(body).__name__}")
        validate(kind, body, topic)
        # Identity comes from the topic, which the broker's ACL ties to the robot's account.
        if body["robot"] != robot or body["site"] != self.site:
            raise InvalidMessage(f"{topic}: refused: the payload says {body['site']}/{body['robot']}, "
                                 f"the topic {self.site}/{robot}", field="robot", problem="identity")
        if alert_id is not None and body["alert_id"] != alert_id:
            raise InvalidMessage(f"{topic}: refused: the payload is about alert {body['alert_id']}",
                                 field="alert_id", problem="identity")
        if kind == "status":
            self.robots[robot] = body["state"]
            self._say(f"robot {robot} is {body['state']}")
        elif kind == "heartbeat":
            self._heartbeat(robot, body)
        else:
            self._take_alert(robot, body)

    def _take_alert(self, robot: str, body: dict[str, Any]) -> None:
        old = self.alerts.get(body["alert_id"])
        if old is not None and old.robot != robot:  # alert ids are per robot: no robot may touch another's
            raise InvalidMessage(f"robot {robot}: refused: alert {body['alert_id']} belongs to {old.robot}",
                                 field="alert_id", problem="identity")
        if old is None and self._over_limit(robot):
            return
        if body["event_id"] in self.seen:
            return  # a redelivery, or the retained copy of an update already shown
        self.seen[body["event_id"]] = None
        while len(self.seen) > SEEN_EVENTS:
            self.seen.popitem(last=False)
        if old is not None and (old.state == "closed" or not old.newer(body)):
            return  # an older update, delivered late: the view already has a newer one
        extra: dict[str, Any] = {k: body[k] for k in ("reminder", "concern", "fault") if k in body}
        view = AlertView(body["alert_id"], robot, body["room"], body["type"], body["priority"],
                         body["state"], body["level"], body["raised_ts"], extra, ts=body["ts"],
                         boot_id=body["boot_id"], seq=body["seq"])
        self.alerts[view.alert_id] = self._maybe_open[view.alert_id] = view
        self._confirmed(view.alert_id, view.state)
        n = self._number(view.alert_id)
        urgent = body["state"] in ("raised", "escalated") and body["priority"] == "high"
        self._say(view.line(n, time.time()), bell=urgent)

    def _number(self, alert_id: str) -> int:
        """The alert's number for staff to type: given once, the next unused one, and kept."""
        if alert_id not in self.numbers:
            self.last_number += 1
            self.numbers[alert_id] = self.last_number
        return self.numbers[alert_id]

    def _over_limit(self, robot: str) -> bool:
        """True if a robot has MAX_OPEN_PER_ROBOT open alerts (said once): a flood must not bury another's."""
        open_n = 0
        for alert_id, a in list(self._maybe_open.items()):
            if a.state in CLOSED or self.alerts.get(alert_id) is not a:
                del self._maybe_open[alert_id]
            elif a.robot == robot:
                open_n += 1
        if open_n < MAX_OPEN_PER_ROBOT:
            self.flooding.discard(robot)
            return False
        self.refused += 1
        if robot not in self.flooding:
            self.flooding.add(robot)
            self._say(f"robot {robot} has {open_n} open alerts: its new ones are not shown until some close; "
                      "check the robot (is its account misused?)", bell=True)
        return True

    def _closed(self, alert_id: str, robot: str) -> None:
        """The robot cleared an alert's retained copy: it is resolved or cancelled."""
        view = self.alerts.get(alert_id)
        if view is not None and view.robot != robot:
            raise InvalidMessage(f"robot {robot}: refused: alert {alert_id} belongs to {view.robot}",
                                 field="alert_id", problem="identity")
        self._confirmed(alert_id, "closed")
        if view is None or view.state == "closed":
            return
        if view.state not in CLOSED:
            self._say(f"{self._number(alert_id):>3}  {view.type} at {view.robot}/{view.room} closed")
        view.state = "closed"

    def _confirmed(self, alert_id: str, state: str) -> None:
        """An update from the robot that carries out a pending ack or resolve."""
        cmd = self.pending.get(alert_id, ("", 0.0))[0]
        if (cmd == "ack" and state not in ("raised", "escalated")) or (cmd == "resolve" and state in CLOSED):
            del self.pending[alert_id]

    def show(self) -> None:
        """Print the open alerts, oldest first (by number: a re-read takes them again in any order)."""
        open_alerts = sorted((self._number(a.alert_id), a) for a in self.alerts.values() if a.state not in CLOSED)
        if not open_alerts:
            self.out.write("no open alerts\n")
        for n, a in open_alerts:  # a robot that is down cannot update its alerts nor carry out an ack
            state = self.robots.get(a.robot)
            down = f" [robot {state}: go and see]" if state in ("offline", "stopped") else ""
            self.out.write(a.line(n, time.time()) + down + "\n")
        self.out.flush()

    def _alert(self, ref: str) -> AlertView:
        """The open alert a typed number (or alert id prefix) names; a closed one is refused, never another."""
        if ref.isdigit():
            n = int(ref)
            if not 1 <= n <= self.last_number:
                raise CareBotError(f"no alert {n}; type 'list' to see their numbers")
            view = next((self.alerts.get(a) for a, m in self.numbers.items() if m == n), None)
        else:
            matches = [a for a in self.alerts.values() if a.alert_id.startswith(ref)]
            if len(matches) != 1:
                raise CareBotError(f"no single alert {ref!r}; type 'list' to see their numbers")
            view = matches[0]
        if view is None or view.state in CLOSED:
            raise CareBotError(f"alert {ref} is no longer open: nothing sent; type 'list' to see the open alerts")
        return view

    def send(self, robot: str, name: str, **fields: Any) -> None:
        """Publish one command to a robot."""
        if not re.fullmatch(TOKEN, robot):
            raise CareBotError(f"no robot {robot[:40]!r}: type 'robots' to see their names")
        body = {"schema": f"carebot/cmd-{name.replace('_', '-')}/1", "cmd_id": uuid.uuid4().hex,
                "ts": round(time.time(), 3), "by": self.station, **fields}
        validate(f"cmd-{name.replace('_', '-')}", body)
        self.client.publish(f"carebot/v1/{self.site}/{robot}/cmd/{name}", json.dumps(body), qos=1)

    def command(self, line: str) -> bool:
        """Carry out one typed command; False to quit."""
        words = line.split()
        if not words:
            return True
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd in ("quit", "exit"):
                return False
            if cmd in ("ack", "resolve") and len(args) == 1:
                alert = self._alert(args[0])
                self.send(alert.robot, cmd, alert_id=alert.alert_id)
                if cmd == "resolve" or alert.state != "acknowledged":
                    self.pending[alert.alert_id] = (cmd, time.monotonic())  # the robot's update will confirm it
                self.out.write(f"sent {cmd} for {alert.type} at {alert.robot}/{alert.room}\n")
                if self.robots.get(alert.robot) in ("offline", "stopped") or abs(
                        self.clock_offset.get(alert.robot, 0.0)) > CLOCK_SKEW_S:
                    self._say(f"warning: it may not be carried out{self._why(alert.robot)}")
            elif cmd in ("pause", "resume") and len(args) == 1:
                self.send(args[0], cmd)
                self.out.write(f"sent {cmd} to {args[0]}\n")
            elif cmd == "remind" and len(args) in (2, 3):
                in_s = int(float(args[2]) * 60) if len(args) == 3 else 0
                self.send(args[0], "remind", kind=args[1], in_s=in_s)
                self.out.write(f"sent a {args[1]} reminder to {args[0]}\n")
            elif cmd == "list":
                self.show()
            elif cmd == "robots":
                for robot, state in sorted(self.robots.items()):
                    self.out.write(f"{robot}: {state}\n")
            else:
                self.out.write("commands: ack N | resolve N | pause ROBOT | resume ROBOT | "
                               "remind ROBOT KIND [MINUTES] | list | robots | quit\n")
        except (CareBotError, ValueError, OverflowError) as exc:
            self._say(f"{exc}")
            return True
        self.out.flush()
        return True

