"""The real behaviour state machine, driven through its transitions, refused ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from robot.behaviour import RUNNING, STATES, TRANSITIONS, Behaviour, BehaviourTimings
from robot.intents import Gesture, Indicator, Publish, Say, Sensors, StopSpeech

# How to reach each state from a fresh machine.
REACH = {
    "booting": [],
    "idle": ["booted"],
    "engaged": ["booted", "engage"],
    "listening": ["booted", "speech_start"],
    "responding": ["booted", "speech_start", "heard"],
    "reminding": ["booted", "remind"],
    "confirming": ["booted", "ask_help"],
    "alerting": ["booted", "help"],
    "paused": ["booted", "pause"],
    "privacy": ["booted", "privacy_on"],
    "sleeping": ["booted", "quiet_start"],
    "fault": ["booted", "fault"],
    "stopping": ["booted", "stop"],
}


def machine_in(state: str, **timings: float) -> Behaviour:
    b = Behaviour(BehaviourTimings(**timings))
    for trigger in REACH[state]:
        assert b.fire(trigger, reason="servo"), f"could not reach {state} via {trigger}"
    assert b.state == state
    b.take_intents()
    return b


@pytest.mark.parametrize("state", STATES)
def test_every_state_is_reachable(state: str) -> None:
    assert machine_in(state).state == state


# (state, trigger, expected state afterwards, or None when the trigger must be refused)
CASES = [
    ("booting", "booted", "idle"),
    ("booting", "heard", None),
    ("booting", "resume", "booting"),          # noted, not refused: it clears a flag
    ("idle", "booted", None),
    ("idle", "engage", "engaged"),
    ("engaged", "disengage", "idle"),
    ("idle", "speech_start", "listening"),
    ("listening", "heard", "responding"),
    ("responding", "reply_done", "listening"),
    ("responding", "speech_start", None),     # half duplex: the robot is talking
    ("listening", "timeout", "idle"),
    ("engaged", "goodbye", "engaged"),       # the conversation ends; the person is still there
    ("listening", "goodbye", "idle"),
    ("idle", "ack", None),                     # nothing to acknowledge
    ("idle", "resolve", None),
    ("idle", "confirm", None),
    ("idle", "resume", None),                  # not paused
    ("idle", "recover", "idle"),               # recovering from nothing is harmless
    ("alerting", "ack", "alerting"),
    ("alerting", "resolve", "idle"),
    ("alerting", "cancel", "idle"),
    ("alerting", "remind", "alerting"),        # no reminder while waiting for help: owed for after it
    ("alerting", "privacy_on", "alerting"),    # noted for afterwards, alert stands
    ("reminding", "confirm", "idle"),
    ("reminding", "decline", "idle"),
    ("listening", "remind", None),             # do not interrupt the resident
    ("paused", "resume", "idle"),
    ("paused", "engage", "paused"),
    ("paused", "remind", None),
    ("paused", "heard", None),
    ("privacy", "privacy_off", "idle"),
    ("privacy", "speech_start", None),         # the microphone is off
    ("privacy", "heard", None),
    ("sleeping", "quiet_end", "idle"),
    ("sleeping", "engage", "sleeping"),        # no chatting during quiet hours
    ("sleeping", "remind", None),
    ("fault", "recover", "idle"),
    ("fault", "engage", "fault"),
    ("fault", "remind", None),
    ("idle", "checkin", "listening"),
    ("sleeping", "checkin", None),            # no check-ins during quiet hours
    ("privacy", "checkin", None),
    ("listening", "wellbeing", "responding"),
    ("responding", "hush", "idle"),
    ("reminding", "hush", None),
    ("stopping", "help", None),
    ("booting", "help", "alerting"),           # help is accepted in every state but stopping
    ("fault", "help", "alerting"),
    ("booting", "ask_help", "confirming"),
    ("privacy", "ask_help", "confirming"),
    ("alerting", "ask_help", "alerting"),      # already calling: nothing to ask
    ("confirming", "help_yes", "alerting"),
    ("confirming", "help_unclear", "alerting"),
    ("confirming", "help_silence", "alerting"),
    ("confirming", "help_no", "idle"),
    ("confirming", "help", "alerting"),
    ("confirming", "pause", "confirming"),     # the question is not dropped: noted for afterwards
    ("confirming", "fault", "confirming"),
    ("confirming", "privacy_on", "confirming"),
    ("confirming", "remind", "confirming"),    # owed for after the help question
    ("confirming", "question_spoken", "confirming"),  # its silence is counted from here
    ("listening", "question_spoken", None),
    ("confirming", "heard", None),
    ("idle", "help_yes", None),                # nothing was asked
    ("reminding", "repeat_reminder", "reminding"),
    ("idle", "repeat_reminder", None),
    ("stopping", "booted", None),
    ("stopping", "stop", None),
]


@pytest.mark.parametrize(("state", "trigger", "expected"), CASES)
def test_transition(state: str, trigger: str, expected: str | None) -> None:
    b = machine_in(state)
    ok = b.fire(trigger, reason="servo")
    if expected is None:
        assert not ok
        assert b.state == state
        assert b.refused[-1] == (trigger, state)
    else:
        assert ok, f"{trigger} refused in {state}"
        assert b.state == expected


@pytest.mark.parametrize("state", ["booting", *(s for s in RUNNING if s != "alerting")])
def test_help_reaches_staff_from_every_state_without_a_question(state: str) -> None:
    b = machine_in(state)
    assert b.fire("help")
    assert b.state == "alerting"
    intents = b.take_intents()
    alerts = [i for i in intents if isinstance(i, Publish) and i.kind == "alert"]
    assert len(alerts) == 1
    assert alerts[0].get("type") == "help_request" and alerts[0].get("priority") == "high"
    says = [i.key for i in intents if isinstance(i, Say)]
    assert says == ["help_called"]  # tells the resident what it did; asks nothing


@pytest.mark.parametrize(("answer", "priority"), [("help_yes", "high"), ("help_unclear", "medium"),
                                                  (None, "medium")])
def test_the_help_question_raises_the_alert_on_yes_unclear_and_silence(answer: str | None, priority: str) -> None:
    b = machine_in("engaged", confirm_timeout_s=8)
    assert b.fire("ask_help")
    intents = b.take_intents()
    assert Say("help_confirm") in intents and not [i for i in intents if isinstance(i, Publish)]
    if answer is None:
        b.step(b.now + 14.9)
        assert b.state == "confirming"  # still saying the question: the silence has not started
        assert b.fire("question_spoken")  # speech out finished it
        b.step(b.now + 7.9)
        assert b.state == "confirming"  # still waiting for an answer
        b.step(b.now + 0.2)
    else:
        assert b.fire(answer)
    assert b.state == "alerting"
    alerts = [i for i in b.take_intents() if isinstance(i, Publish) and i.kind == "alert"]
    assert [(a.get("type"), a.get("priority")) for a in alerts] == [("help_request", priority)]


def test_the_help_question_s_silence_starts_at_the_latest_when_saying_it_should_have_ended() -> None:
    b = machine_in("engaged", confirm_timeout_s=8, question_speak_max_s=15)
    b.fire("ask_help")
    b.step(b.now + 15)  # speech out never reported the question finished (hung)
    b.step(b.now + 7.9)
    assert b.state == "confirming"
    b.step(b.now + 0.2)
    assert b.state == "alerting"


def test_a_reminder_due_during_the_help_question_is_asked_after_a_no() -> None:
    b = machine_in("engaged")
    b.fire("ask_help")
    assert b.fire("remind", kind="medication")  # taken: owed, not retried a minute later
    assert not b.fire("remind", kind="drink")  # one owed at a time: the schedule retries this one
    assert b.fire("help_no") and b.state == "reminding"
    assert Say("reminder", (("kind", "medication"),)) in b.take_intents()


def test_the_help_question_answered_no_cancels_and_says_so() -> None:
    b = machine_in("engaged")
    b.fire("ask_help")
    b.take_intents()
    assert b.fire("help_no") and b.state == "engaged"
    intents = b.take_intents()
    assert Say("help_cancelled") in intents and not [i for i in intents if isinstance(i, Publish)]
    b.step(b.now + 60)
    assert not [i for i in b.take_intents() if isinstance(i, Publish)]  # no late alert either


def test_help_again_reassures_without_a_second_alert() -> None:
    b = machine_in("alerting")
    assert b.fire("help")
    intents = b.take_intents()
    assert [i for i in intents if isinstance(i, Publish) and i.get("state") != "renewed"] == []
    assert [i.get("type") for i in intents if isinstance(i, Publish)] == ["help_request"]  # the open one, renewed
    assert Say("help_called") in intents
    # said at once: speech in progress is stopped first, so the answer cannot wait behind a queue
    assert intents.index(StopSpeech()) < intents.index(Say("help_called"))


def test_staff_ack_tells_the_resident_help_is_coming_and_no_ack_reassures() -> None:
    b = machine_in("alerting", ack_wait_s=60)
    b.step(b.now + 61)
    assert Say("help_still_coming") in b.take_intents()  # no answer from staff yet: still calling
    b.fire("ack")
    assert Say("help_coming") in b.take_intents()
    b.step(b.now + 61)
    assert Say("help_coming") in b.take_intents()  # staff have answered: they are coming, not called again


def test_settling_order_fault_beats_paused_beats_privacy_beats_quiet_beats_person() -> None:
    b = machine_in("alerting")
    for trigger in ("engage", "quiet_start", "privacy_on", "pause"):
        assert b.fire(trigger)
    assert b.fire("fault", reason="servo")
    assert b.state == "alerting"  # the help request keeps its state so staff's ack still reaches the resident
    assert b.fire("resolve") and b.state == "fault"
    assert b.fire("recover", reason="servo") and b.state == "paused"
    assert b.fire("resume") and b.state == "privacy"
    assert b.fire("privacy_off") and b.state == "sleeping"
    assert b.fire("quiet_end") and b.state == "engaged"


def test_fault_clears_only_when_every_fault_has_recovered() -> None:
    b = machine_in("idle")
    b.fire("fault", reason="servo")
    b.fire("fault", reason="camera")
    b.fire("recover", reason="servo")
    assert b.state == "fault" and b.facts.faults == {"camera"}
    b.fire("recover", reason="camera")
    assert b.state == "idle"
    published = [(i.get("reason"), i.get("state")) for i in b.take_intents() if isinstance(i, Publish)]
    assert published == [("servo", "raised"), ("camera", "raised"), ("servo", "cleared"), ("camera", "cleared")]


def test_fault_enters_safe_pose_and_fault_indicator() -> None:
    b = machine_in("engaged")
    b.fire("fault", reason="servo")
    intents = b.take_intents()
    assert Gesture("safe") in intents and Indicator("fault") in intents


def test_privacy_turns_microphone_and_camera_off_and_shows_it() -> None:
    b = machine_in("engaged")
    b.fire("privacy_on")
    intents = b.take_intents()
    assert Sensors(microphone=False, camera=False) in intents
    assert Indicator("privacy") in intents and Say("privacy_on") in intents
    b.fire("privacy_off")
    intents = b.take_intents()
    assert Sensors(microphone=True, camera=True) in intents and Say("privacy_off") in intents


def test_unconfirmed_reminder_is_reprompted_then_becomes_one_staff_alert() -> None:
    b = machine_in("idle", reprompt_interval_s=300, reprompts_before_alert=3)
    b.fire("remind", kind="medication")
    assert Say("reminder", (("kind", "medication"),)) in b.take_intents()
    b.step(b.now + 300)
    assert b.take_intents() == [Say("reminder_again", (("kind", "medication"),))]
    b.step(b.now + 300)
    b.take_intents()
    b.step(b.now + 300)
    intents = b.take_intents()
    alerts = [i for i in intents if isinstance(i, Publish) and i.kind == "alert"]
    assert len(alerts) == 1 and alerts[0].get("type") == "reminder_unacked"
    assert b.state == "idle"


def test_confirmed_reminder_counts_activity_and_raises_nothing() -> None:
    b = machine_in("reminding")
    b.fire("confirm")
    publishes = [i for i in b.take_intents() if isinstance(i, Publish)]
    assert [(p.kind, p.get("counter")) for p in publishes] == [("activity", "reminders_confirmed")]


def test_listening_times_out_back_to_engaged_when_someone_is_there() -> None:
    b = machine_in("engaged", listen_timeout_s=8)
    b.fire("speech_start")
    b.step(b.now + 7.9)
    assert b.state == "listening"
    b.step(b.now + 0.2)
    assert b.state == "engaged"


def test_turn_taking_keeps_real_time_while_care_timeouts_follow_the_robot_clock() -> None:
    """A simulated clock at 60x (robot.clock): a reminder's re-prompt comes after 5 robot minutes (5 real
    seconds), but the resident still has their 8 real seconds to answer a question."""
    b = machine_in("engaged", listen_timeout_s=8, reprompt_interval_s=300)
    b.step(0.0, 0.0)
    b.fire("speech_start")
    b.step(5.0, 300.0)
    assert b.state == "listening"  # 5 real seconds: still listening, however far the clock ran
    b.step(8.1, 486.0)
    assert b.state == "engaged"
    b.fire("remind", kind="drink")
    b.take_intents()
    b.step(13.0, 786.0)  # 5 real seconds, 5 robot minutes
    assert b.take_intents() == [Say("reminder_again", (("kind", "drink"),))]


def test_greeting_is_rate_limited() -> None:
    b = machine_in("idle", greet_interval_s=600)
    b.step(1000.0)
    b.fire("engage")
    assert Say("greeting") in b.take_intents()
    b.fire("disengage")
    b.step(1300.0)
    b.fire("engage")
    assert Say("greeting") not in b.take_intents()
    b.fire("disengage")
    b.step(1700.0)
    b.fire("engage")
    assert Say("greeting") in b.take_intents()


def test_pause_stops_speech_and_rests() -> None:
    b = machine_in("responding")
    b.fire("pause")
    intents = b.take_intents()
    assert StopSpeech() in intents and Gesture("rest") in intents


def test_unknown_trigger_is_refused_not_raised() -> None:
    b = machine_in("idle")
    assert not b.fire("dance")
    assert b.refused[-1] == ("dance", "idle")


def test_callbacks_do_no_io() -> None:
    """The behaviour module may import only pure modules: intents, logging, typing, transitions."""
    pure = ("robot.intents", "robot.behaviour_table")
    for module in ("behaviour.py", "behaviour_table.py"):
        source = Path(__file__).resolve().parent.parent / "robot" / module
        tree = ast.parse(source.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module if node.module in pure else (node.module or "").split(".")[0])
        assert imported <= {"__future__", "logging", "collections", "dataclasses", "typing", "transitions", *pure}
        forbidden = {"open", "print", "socket", "subprocess", "sleep"}
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not names & forbidden


def test_every_trigger_in_the_table_is_exercised_by_these_tests() -> None:
    triggers = {row["trigger"] for row in TRANSITIONS}
    covered = {t for _, t, _ in CASES} | {t for path in REACH.values() for t in path}
    covered |= {"help", "no_ack", "reprompt", "reminder_expired", "quiet_end", "recover", "engage", "help_no"}
    assert triggers <= covered, triggers - covered
