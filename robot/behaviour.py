"""The behaviour state machine, as data, built with `transitions` (queued).

States, transitions, guards and timeouts are tables (robot.behaviour_table). A trigger first runs its
`prepare` hook (which records a fact: a person is present, staff paused the robot, a
fault is active...), then the first transition whose conditions hold. Triggers that
return the robot to "whatever it should be doing now" use SETTLE: fault beats paused
beats privacy beats a reminder cut short beats quiet hours beats an engaged person beats idle.

Callbacks only append intents (robot.intents); they never do I/O. Time comes in from
the control loop through `step(now, care)`, which fires timeouts: no timers, no threads. Two
clocks: turn-taking (listening, a reply, the help question) follows the resident's own pace in
real time; a reminder's re-prompts, the wait for staff and the greeting intervals are care
time (robot.clock), which the simulator may run fast or advance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine, MachineError

from robot.behaviour_table import (
    CARE_TIMEOUTS,
    CONVERSING,
    INDICATOR,
    POSE,
    RUNNING,
    SETTLE,
    STATES,
    TIMEOUTS,
    TRANSITIONS,
)
from robot.intents import Gesture, Indicator, IndicatorMode, Intent, Publish, Say, Sensors, StopSpeech

__all__ = ["CONVERSING", "RUNNING", "SETTLE", "STATES", "TIMEOUTS", "TRANSITIONS", "Behaviour", "BehaviourTimings",
           "Facts"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class BehaviourTimings:
    """Timeouts the machine fires by itself, in seconds."""

    listen_timeout_s: float = 8.0
    respond_timeout_s: float = 30.0
    reprompt_interval_s: float = 300.0
    reprompts_before_alert: int = 3
    ack_wait_s: float = 60.0
    confirm_timeout_s: float = 8.0  # silence after "Shall I call a nurse?" raises the alert anyway
    # The silence is counted from the end of the question (an answer cannot come while speech in is muted
    # for it); a question still not spoken after this long (speech out hung) starts the count anyway.
    question_speak_max_s: float = 15.0
    greet_interval_s: float = 1800.0
    disclosure_interval_s: float = 4 * 3600.0
    wellbeing_priority: str = "medium"


@dataclass
class Facts:
    """What the machine knows besides its state; guards read it, prepare hooks write it."""

    person: bool = False
    paused: bool = False
    privacy: bool = False
    quiet: bool = False
    faults: set[str] = field(default_factory=set)
    reminder: str = ""
    help_acked: bool = False  # staff acknowledged the open help request
    reminder_owed: bool = False  # the reminder was cut short, neither confirmed nor declined: ask it again
    reprompts: int = 0
    question_spoken: bool = True  # the help question has been said in full: its silence is being counted
    last_greet: float | None = None
    last_disclosure: float | None = None


class Behaviour:
    """The model object the state machine decorates; it collects intents for the runtime."""

    state: str
    trigger: Any  # bound by transitions.Machine

    def __init__(self, timings: BehaviourTimings | None = None, room: str = "lounge") -> None:
        self.timings = timings or BehaviourTimings()
        self.room = room
        self.facts = Facts()
        self.intents: list[Intent] = []
        self.refused: list[tuple[str, str]] = []
        self.history: list[tuple[str, str, str]] = []  # (trigger, source, dest)
        self.now = 0.0  # real (loop) time
        self.care = 0.0  # care time (robot.clock)
        self.entered_at = 0.0
        self.entered_care = 0.0
        self._indicator: IndicatorMode | None = None
        self._sensors: tuple[bool, bool] | None = None
        self._executed = False
        self.machine = Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="booting",
            queued=True,
            auto_transitions=False,
            before_state_change="_note_executed",
            after_state_change="_after_change",
            send_event=True,
            model_override=False,
        )
        self._after_change(None)

    # -- driving the machine ------------------------------------------------------------------

    def fire(self, trigger: str, **kwargs: Any) -> bool:
        """Fire a trigger; False (logged and recorded) if the current state refuses it."""
        source = self.state
        self._executed = False
        try:
            self.trigger(trigger, **kwargs)
        except MachineError:
            self._executed = False
        except AttributeError:
            log.warning("unknown trigger %s", trigger)
            self._executed = False
        if not self._executed:
            self.refused.append((trigger, source))
            log.debug("transition refused trigger=%s state=%s", trigger, source)
            return False
        self.history.append((trigger, source, self.state))
        return True

    def step(self, now: float, care: float | None = None) -> None:
        """Advance time (real `now`, and care time, `now` unless given); fire the current state's timeout
        when it is due, on the clock the state's timeout is counted in (CARE_TIMEOUTS)."""
        self.now = now
        self.care = now if care is None else care
        if self.state == "confirming" and not self.facts.question_spoken:
            if now - self.entered_at >= self.timings.question_speak_max_s:
                self.fire("question_spoken")  # speech out never said it had finished: count the silence now
            return
        timeout = TIMEOUTS.get(self.state)
        if timeout is not None:
            limit = getattr(self.timings, timeout[0])
            waited = self.care - self.entered_care if self.state in CARE_TIMEOUTS else now - self.entered_at
            if waited >= limit:
                self.entered_at, self.entered_care = now, self.care
                self.fire(timeout[1])

    def take_intents(self) -> list[Intent]:
        """The intents emitted since the last call, in order."""
        out, self.intents = self.intents, []
        return out

    def emit(self, intent: Intent) -> None:
        """Queue one intent for the runtime."""
        self.intents.append(intent)

    def triggers_here(self) -> list[str]:
        """Triggers the current state accepts (some may still fail their guards)."""
        return sorted(self.machine.get_triggers(self.state))

    # -- machine-wide callbacks -----------------------------------------------------------------

    def _note_executed(self, event: Any) -> None:
        self._executed = True

    def _after_change(self, event: Any) -> None:
        if event is not None and event.transition.dest is not None:
            self.entered_at, self.entered_care = self.now, self.care
        indicator = INDICATOR[self.state]
        if indicator != self._indicator:
            self._indicator = indicator
            self.emit(Indicator(indicator))
        sensors = (not self.facts.privacy and self.state != "stopping",) * 2
        if sensors != self._sensors:
            self._sensors = sensors
            self.emit(Sensors(microphone=sensors[0], camera=sensors[1]))

    # -- guards ---------------------------------------------------------------------------------

    def fault_active(self, event: Any = None) -> bool:
        return bool(self.facts.faults)

    def staff_paused(self, event: Any = None) -> bool:
        return self.facts.paused

    def privacy_requested(self, event: Any = None) -> bool:
        return self.facts.privacy

    def quiet_now(self, event: Any = None) -> bool:
        return self.facts.quiet

    def person_present(self, event: Any = None) -> bool:
        return self.facts.person

    def reminder_owed(self, event: Any = None) -> bool:
        return self.facts.reminder_owed

    def no_reminder_owed(self, event: Any = None) -> bool:
        return not self.facts.reminder_owed

    # -- prepare hooks: record facts ------------------------------------------------------------

    def note_person(self, event: Any) -> None:
        self.facts.person = True

    def note_no_person(self, event: Any) -> None:
        self.facts.person = False

    def note_paused(self, event: Any) -> None:
        self.facts.paused = True

    def note_resumed(self, event: Any) -> None:
        self.facts.paused = False

    def note_privacy(self, event: Any) -> None:
        self.facts.privacy = True

    def note_privacy_off(self, event: Any) -> None:
        self.facts.privacy = False

    def note_quiet(self, event: Any) -> None:
        self.facts.quiet = True

    def note_quiet_end(self, event: Any) -> None:
        self.facts.quiet = False

    def note_fault(self, event: Any) -> None:
        reason = str(event.kwargs.get("reason", "unknown"))
        if reason not in self.facts.faults:
            self.facts.faults.add(reason)
            self.emit(Publish("fault", (("reason", reason), ("state", "raised"))))

    def note_recovered(self, event: Any) -> None:
        reason = str(event.kwargs.get("reason", "unknown"))
        if reason in self.facts.faults:
            self.facts.faults.discard(reason)
            self.emit(Publish("fault", (("reason", reason), ("state", "cleared"))))

    def note_reminder(self, event: Any) -> None:
        self.facts.reminder = str(event.kwargs.get("kind", "activity"))
        self.facts.reprompts = 0

    # -- state entry: intents only --------------------------------------------------------------

    def on_enter_idle(self, event: Any) -> None:
        self.emit(Gesture(POSE["idle"]))

    def on_enter_engaged(self, event: Any) -> None:
        self.emit(Gesture(POSE["engaged"]))
        last = self.facts.last_greet
        if event.event.name == "engage" and (last is None or self.care - last >= self.timings.greet_interval_s):
            self.facts.last_greet = self.care
            self.emit(Say("greeting"))
            told = self.facts.last_disclosure
            if told is None or self.care - told >= self.timings.disclosure_interval_s:
                self.facts.last_disclosure = self.care  # first meeting: say what it is and what it records
                self.emit(Say("disclosure"))

    def on_enter_listening(self, event: Any) -> None:
        self.emit(Gesture(POSE["listening"]))

    def on_heard(self, event: Any) -> None:
        # Until a dialog engine answers, every utterance gets the kind fallback with a menu.
        reply = event.kwargs.get("reply")
        self.emit(Say(str(reply) if reply else "fallback", tuple(event.kwargs.get("params", ()))))
        if reply == "disclosure":
            self.facts.last_disclosure = self.care

    def on_checkin(self, event: Any) -> None:
        self.emit(Say("wellbeing_ask"))

    def on_wellbeing(self, event: Any) -> None:
        category = str(event.kwargs.get("category", "fine"))
        self.emit(Say(str(event.kwargs.get("reply", "wellbeing_fine"))))
        self.emit(Publish("activity", (("counter", "wellbeing_checkins"), ("delta", 1))))
        if event.kwargs.get("concern"):  # only the category leaves the dialog, never the words
            self.emit(Publish("alert", (("type", "wellbeing_concern"), ("priority", self.timings.wellbeing_priority),
                                        ("state", "raised"), ("room", self.room), ("concern", category))))

    def on_hush(self, event: Any) -> None:
        self.emit(StopSpeech())

    def say_goodbye(self, event: Any) -> None:
        self.emit(Say("goodbye"))

    def on_enter_confirming(self, event: Any) -> None:
        self.facts.question_spoken = False
        self.emit(StopSpeech())
        self.emit(Say("help_confirm"))

    def on_question_spoken(self, event: Any) -> None:
        # The silence window opens now: while the question was spoken, speech in was muted for it.
        if not self.facts.question_spoken:
            self.facts.question_spoken = True
            self.entered_at, self.entered_care = self.now, self.care

    def owe_reminder(self, event: Any) -> None:
        # A reminder that falls due during the help question or a call for help is asked once they end.
        self.facts.reminder = str(event.kwargs.get("kind", "activity"))
        self.facts.reminder_owed, self.facts.reprompts = True, 0

    def on_help_declined(self, event: Any) -> None:
        # "no, not that help": no nurse, and the robot asks what else it can do (robot.help_answer)
        self.emit(Say("help_other" if event.kwargs.get("other") else "help_cancelled"))

    def on_enter_alerting(self, event: Any) -> None:
        restored = event.kwargs.get("restored")
        self.facts.help_acked = restored == "acknowledged"
        if restored:  # an alert still open from before a restart: staff have it, the resident must hear so
            self.emit(Say("help_coming" if restored == "acknowledged" else "help_still_coming"))
            return
        # An unclear answer or silence to the help question still calls staff, at medium priority.
        unsure = event.event.name in ("help_unclear", "help_silence")
        self.emit(Publish("alert", (("type", "help_request"), ("priority", "medium" if unsure else "high"),
                                    ("state", "raised"), ("room", self.room))))
        self.emit(StopSpeech())  # after the call is out: nothing may come between help and staff
        self.emit(Say("help_called"))
        self.emit(Gesture("nod"))

    def on_help_again(self, event: Any) -> None:
        # Asked again while staff are called: the staff channel renews the open alert (it escalates a
        # step if staff had acknowledged it), so a resident whose plight has worsened is heard again.
        self.emit(Publish("alert", (("type", "help_request"), ("priority", "high"), ("state", "renewed"),
                                    ("room", self.room))))
        self.emit(StopSpeech())  # the answer must not wait behind (or be dropped from) a queue of chit-chat
        self.emit(Say("help_called"))

    def on_ack(self, event: Any) -> None:
        self.facts.help_acked = True
        self.emit(Say("help_coming"))

    def on_no_ack(self, event: Any) -> None:
        # The wait's reassurance: once staff have answered, "still calling / called again" would be false.
        self.emit(Say("help_coming" if self.facts.help_acked else "help_still_coming"))

    def on_enter_reminding(self, event: Any) -> None:
        if self.facts.reminder_owed:  # back to a reminder that help, staff or privacy cut short
            self.facts.reminder_owed, self.facts.reprompts = False, 0
        self.emit(Say("reminder", (("kind", self.facts.reminder),)))

    def on_exit_reminding(self, event: Any) -> None:
        # Only an answer, the reminder's expiry (staff are told) or shutdown end a reminder; anything
        # else (help, the help question, a pause, privacy, a fault) leaves it owed for when the robot is free.
        self.facts.reminder_owed = event.event.name not in ("confirm", "decline", "reminder_expired", "stop")

    def on_reprompt(self, event: Any) -> None:
        self.facts.reprompts += 1
        if self.facts.reprompts >= self.timings.reprompts_before_alert:
            self.trigger("reminder_expired")  # queued: runs after this transition
        else:
            self.emit(Say("reminder_again", (("kind", self.facts.reminder),)))

    def on_confirm(self, event: Any) -> None:
        self.emit(Say("reminder_thanks"))
        self.emit(Publish("activity", (("counter", "reminders_confirmed"), ("delta", 1))))

    def on_decline(self, event: Any) -> None:
        self.emit(Say("reminder_declined"))
        self.emit(Publish("alert", (("type", "reminder_unacked"), ("priority", "medium"),
                                    ("state", "raised"), ("room", self.room),
                                    ("reminder", self.facts.reminder))))

    def on_reminder_expired(self, event: Any) -> None:
        self.emit(Publish("alert", (("type", "reminder_unacked"), ("priority", "medium"),
                                    ("state", "raised"), ("room", self.room),
                                    ("reminder", self.facts.reminder))))

    def on_enter_paused(self, event: Any) -> None:
        self.emit(StopSpeech())
        self.emit(Gesture(POSE["paused"]))

    def on_enter_privacy(self, event: Any) -> None:
        self.emit(Say("privacy_on"))

    def on_exit_privacy(self, event: Any) -> None:
        if not self.facts.privacy:  # leaving for an alert keeps privacy for afterwards
            self.emit(Say("privacy_off"))

    def on_enter_sleeping(self, event: Any) -> None:
        self.emit(Gesture(POSE["sleeping"]))

    def on_enter_fault(self, event: Any) -> None:
        self.emit(Gesture(POSE["fault"]))

    def on_enter_stopping(self, event: Any) -> None:
        self.emit(StopSpeech())
        self.emit(Gesture(POSE["stopping"]))
