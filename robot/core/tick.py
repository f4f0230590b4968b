"""The control tick: what the real-time loop does each period, in order.

1. worker messages, 2. typed inputs and staff commands, 3. the servo link's state, boot, the
schedule and quiet hours, 4. the state machine's step and its intents, 5. alert escalation and
activity, 6. motion sampled and written to the board, 7. the guarded parts watched and systemd fed.
Nothing here blocks: every part it calls works on memory and deques. The loop's `now` is real
monotonic time; the schedule, the state machine's care timeouts and escalation step on care
time, the robot clock's reading for the same instant (robot.clock), which a simulator may run fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robot.activity import ActivityCounter
from robot.clock import Clock
from robot.core.actions import Executor
from robot.core.delivery import HelpDelivery
from robot.core.guard import Guard
from robot.core.inputs import (
    BoardFault,
    ButtonPress,
    Decision,
    Inbox,
    LookAtPoint,
    PartFault,
    PlayGesture,
    ScreenPress,
    SpeechStarted,
    StaffCommand,
    Trigger,
    Utterance,
)
from robot.core.machine import StateMachine
from robot.core.perception import Perception
from robot.core.schedule import Schedule
from robot.core.servo import ServoOutput
from robot.core.speech import SpeechChannel
from robot.core.staff import StaffChannel, token
from robot.core.watchdog import Watchdog
from robot.core.workers import WorkerChannel
from robot.intents import Say, StopSpeech
from robot.motion import MotionController

log = logging.getLogger(__name__)

# The screen's buttons that need no understanding: the dialog thread's own decision for the spoken twin
# ("help!", "stop listening", the wake phrase in privacy), taken straight, so a wedged dialog thread
# cannot hold up a call for help. The others need the conversation (what was said last, the rate).
SCREEN_DECISIONS = {"call_staff": "help", "stop_listening": "privacy_on", "start_listening": "privacy_off"}
SCREEN_DIALOG = {"say_again": "repeat", "slower": "slower"}
# Replies that mean the robot did not understand and asks again (counted, never the words).
ASKS_AGAIN = frozenset({"clarify", "fallback", "wellbeing_unclear", "reminder_unclear"})


@dataclass
class Parts:
    """The parts the tick drives, built by the runtime."""

    inbox: Inbox
    machine: StateMachine
    executor: Executor
    workers: WorkerChannel
    perception: Perception
    staff: StaffChannel
    delivery: HelpDelivery
    schedule: Schedule
    speech: SpeechChannel
    servo: ServoOutput
    motion: MotionController
    activity: ActivityCounter
    watchdog: Watchdog
    guard: Guard
    dialog_post: Callable[..., None]
    record: Callable[[str, dict[str, Any]], None]
    clock: Clock


class Tick:
    """The loop's tick function, `tick(now_ns, dt_s)`."""

    def __init__(self, parts: Parts, *, rate_hz: int, boot_timeout_s: float, started_at: float,
                 follow_head: bool, loop_p99_ms: Callable[[], float]) -> None:
        self.p = parts
        self.rate_hz = max(1, rate_hz)
        self.boot_timeout_s = boot_timeout_s
        self.started_at = started_at
        self.follow_head = follow_head
        self.loop_p99_ms = loop_p99_ms
        self.booted = False
        self.ticks = 0
        self._next_second = 0.0
        self._inputs: dict[type, Callable[[Any, float], object]] = {
            Trigger: lambda i, now: self.fire(i.name, **i.kwargs),
            Utterance: self._utterance,
            SpeechStarted: self._speech_started,
            Decision: self._decision,
            ButtonPress: self._button,
            ScreenPress: self._screen_press,
            PlayGesture: self._gesture,
            LookAtPoint: lambda i, now: parts.motion.look_at(i.x, i.y),
            StaffCommand: lambda i, now: parts.staff.command(i.name, i.payload),
            PartFault: self._part_fault,
            BoardFault: self._board_fault,
        }

    def fire(self, trigger: str, **kwargs: Any) -> bool:
        """Fire a trigger on the state machine."""
        return self.p.machine.fire(trigger, **kwargs)

    def __call__(self, now_ns: int, dt_s: float) -> None:
        p = self.p
        now = now_ns / 1e9
        p.workers.drain(now)
        for name, payload in p.staff.take_commands():
            p.inbox.put(StaffCommand(name, payload))
        for item in p.inbox.drain():
            self._take(item, now)
        change = p.servo.link_change()
        if change is not None:
            self.fire("recover" if change else "fault", reason="servo")
        silent = p.servo.silence_change()
        if silent is not None:
            self.fire("fault" if silent else "recover", reason="servo_silent")
        if not self.booted:
            self._check_boot(now)
        care = p.clock.at(now)
        p.schedule.tick(care)
        if p.speech.poll(now):
            p.machine.speech_done()
        p.machine.step(now, care)
        p.executor.run(p.machine.take_intents(), now)
        p.staff.tick(care)
        p.delivery.tick(now)
        p.activity.tick(p.machine.state, dt_s)
        if now >= self._next_second:
            self._every_second(now)
        if self.follow_head:
            p.perception.send_head(now)
        p.servo.write(p.motion.sample(now))
        self.ticks += 1
        # systemd's watchdog hears from a loop that runs and parts that all make progress. A fault
        # the robot is handling (servo unplugged, a worker restarting) is no reason to restart it.
        if p.guard.check(now) and self.ticks % self.rate_hz == 0:
            p.watchdog.notify("WATCHDOG=1")

    def _take(self, item: Any, now: float) -> None:
        """Handle one input; one that fails is logged and recorded, and the next still runs."""
        try:
            self._inputs[type(item)](item, now)
        except Exception:
            kind = type(item).__name__  # never the input itself: an utterance's words stay unlogged
            log.exception("input %s could not be handled; carrying on", kind)
            self.p.record("refused", {"reason": f"input_{kind}_failed"})

    def _check_boot(self, now: float) -> None:
        if (self.p.servo.ok and self.p.workers.all_ready) or now - self.started_at > self.boot_timeout_s:
            self.booted = True
            self.fire("booted")

    def _every_second(self, now: float) -> None:
        p = self.p
        self._next_second = now + 1.0
        p.workers.check_down(now)
        behaviour = p.machine.behaviour
        p.staff.every_second({"behaviour": behaviour.state,
                              "faults": sorted(token(f) for f in behaviour.facts.faults),
                              "loop_p99_ms": self.loop_p99_ms()})

    # -- inputs ---------------------------------------------------------------------------------

    def _interrupt(self) -> None:
        """A typed turn or a screen button may cut the reply short: there is no echo to fear."""
        if self.p.machine.state == "responding":
            self.p.executor.execute(StopSpeech(), time.monotonic())
            self.fire("reply_done")

    def _utterance(self, item: Utterance, now: float) -> None:
        p = self.p
        if item.typed:
            self._interrupt()
        state = p.machine.state
        if state in ("idle", "engaged"):
            self.fire("speech_start")
        # Understanding takes milliseconds (3-9 ms measured): the dialog thread does it, off this tick.
        p.dialog_post("utterance", text=item.text, confidence=item.confidence, state=p.machine.state,
                      alternatives=item.alternatives)
        p.record("utterance", {"reason": "understood"})  # that something was said; never what

    def _speech_started(self, item: SpeechStarted, now: float) -> None:
        if self.p.machine.state in ("idle", "engaged"):
            self.fire("speech_start")

    def _decision(self, item: Decision, now: float) -> None:
        """Carry out what the dialog thread decided for one utterance, then count it if the robot asked again
        (after the triggers: nothing, not even a count, goes before a call for help)."""
        for trigger, kwargs in item.actions:
            if trigger == "say":
                self.p.executor.execute(Say(str(kwargs["key"])), now)
            else:
                self.fire(trigger, **kwargs)
        if any(kwargs.get("reply") in ASKS_AGAIN or kwargs.get("key") in ASKS_AGAIN for _, kwargs in item.actions):
            self.p.staff.activity.count("asked_again")

    def _screen_press(self, item: ScreenPress, now: float) -> None:
        """A screen button: recorded as its spoken twin's words are (that it was pressed, by name)."""
        p = self.p
        p.record("screen", {"key": item.button})
        if item.button in SCREEN_DECISIONS:
            self._decision(Decision(((SCREEN_DECISIONS[item.button], {}),)), now)
        else:
            self._interrupt()
            p.dialog_post("press", intent=SCREEN_DIALOG[item.button], state=p.machine.state)

    def _button(self, item: ButtonPress, now: float) -> None:
        self.fire("privacy_off" if self.p.machine.state == "privacy" else "privacy_on")

    def _part_fault(self, item: PartFault, now: float) -> None:
        self.p.record("fault", {"reason": f"part_{item.part}", "state": "raised" if item.raised else "cleared"})
        self.p.staff.fault(f"part_{item.part}", item.raised, now)

    def _board_fault(self, item: BoardFault, now: float) -> None:
        """A brown-out, throttling or a filling disk: staff see it; the robot carries on."""
        self.p.record("fault", {"reason": item.reason, "state": "raised" if item.raised else "cleared"})
        self.p.staff.fault(item.reason, item.raised, now)

    def _gesture(self, item: PlayGesture, now: float) -> None:
        try:
            self.p.motion.play(item.name, now)
        except KeyError as exc:
            log.warning("%s", exc.args[0])
