"""The behaviour state machine's tables: states, transitions, guards, timeouts, indicator and poses.

Data only; robot.behaviour builds the machine from it and robot.diagram draws it.
"""

from __future__ import annotations

from typing import Any

from robot.intents import IndicatorMode

STATES = [
    "booting",     # workers and devices starting
    "idle",        # nobody engaged; breathing motion
    "engaged",     # someone is facing the robot
    "listening",   # the resident is speaking or expected to answer
    "responding",  # the robot is answering
    "reminding",   # a reminder is waiting for yes or no
    "confirming",  # help is plausible but unsure: "Shall I call a nurse for you?", waiting for yes or no
    "alerting",    # help requested, waiting for staff
    "paused",      # staff paused the robot
    "privacy",     # microphone and camera off
    "sleeping",    # quiet hours
    "fault",       # safe pose until the fault clears
    "stopping",    # shutting down
]

RUNNING = [s for s in STATES if s not in ("booting", "stopping")]
CONVERSING = ["idle", "engaged", "listening", "responding"]

# The order in which a settling trigger picks its destination: (state, condition).
SETTLE: list[tuple[str, str | None]] = [
    ("fault", "fault_active"),
    ("paused", "staff_paused"),
    ("privacy", "privacy_requested"),
    ("reminding", "reminder_owed"),  # a reminder cut short (help, pause...) is asked again, never dropped
    ("sleeping", "quiet_now"),
    ("engaged", "person_present"),
    ("idle", None),
]


def _settle(
    trigger: str, source: str | list[str], prepare: str | None = None, before: str | None = None
) -> list[dict[str, Any]]:
    """Rows that send `trigger` to the first SETTLE state whose guard holds.

    `prepare` records a fact and runs once per candidate row, so it must be idempotent;
    `before` emits intents and runs once, for the row taken.
    """
    rows = []
    for dest, condition in SETTLE:
        row: dict[str, Any] = {"trigger": trigger, "source": source, "dest": dest}
        if condition:
            row["conditions"] = condition
        if prepare:
            row["prepare"] = prepare
        if before:
            row["before"] = before
        rows.append(row)
    return rows


def _stay(trigger: str, source: str | list[str], prepare: str | None = None, **kw: Any) -> dict[str, Any]:
    """An internal transition: the trigger is accepted, the state stays."""
    row: dict[str, Any] = {"trigger": trigger, "source": source, "dest": None, **kw}
    if prepare:
        row["prepare"] = prepare
    return row


def _others(*excluded: str) -> list[str]:
    return [s for s in RUNNING if s not in excluded]


TRANSITIONS: list[dict[str, Any]] = [
    *_settle("booted", "booting"),
    # A person faces the robot, or leaves. Always noted; it changes state only when idle/engaged.
    {"trigger": "engage", "source": "idle", "dest": "engaged", "prepare": "note_person"},
    _stay("engage", ["booting", *_others("idle")], "note_person"),
    {"trigger": "disengage", "source": "engaged", "dest": "idle", "prepare": "note_no_person"},
    _stay("disengage", ["booting", *_others("engaged")], "note_no_person"),
    # Conversation.
    {"trigger": "speech_start", "source": ["idle", "engaged"], "dest": "listening"},
    _stay("speech_start", ["listening", "reminding", "confirming", "alerting"]),
    {"trigger": "heard", "source": ["idle", "engaged", "listening"], "dest": "responding", "after": "on_heard"},
    {"trigger": "checkin", "source": ["idle", "engaged"], "dest": "listening", "after": "on_checkin"},
    {"trigger": "wellbeing", "source": ["idle", "engaged", "listening"], "dest": "responding",
     "after": "on_wellbeing"},
    *_settle("hush", ["listening", "responding"], before="on_hush"),
    {"trigger": "reply_done", "source": "responding", "dest": "listening"},
    *_settle("timeout", ["listening", "responding"]),
    *_settle("goodbye", ["engaged", "listening", "responding"], before="say_goodbye"),
    # Help always reaches staff: from every state but stopping (booting too), without a question first.
    {"trigger": "help", "source": ["booting", *_others("alerting")], "dest": "alerting"},
    _stay("help", "alerting", after="on_help_again"),
    # Ask, never drop: when help is plausible but unsure, one yes/no question. Yes, an unclear answer
    # or silence (the confirming timeout) raise the alert, the last two at medium priority; no cancels.
    {"trigger": "ask_help", "source": ["booting", *_others("alerting", "confirming")], "dest": "confirming"},
    _stay("ask_help", "alerting", after="on_no_ack"),  # staff are called already: reassure, never silence
    _stay("ask_help", "confirming"),
    _stay("question_spoken", "confirming", after="on_question_spoken"),  # the silence is counted from here
    {"trigger": "help_yes", "source": "confirming", "dest": "alerting"},
    {"trigger": "help_unclear", "source": "confirming", "dest": "alerting"},
    {"trigger": "help_silence", "source": "confirming", "dest": "alerting"},
    *_settle("help_no", "confirming", before="on_help_declined"),
    _stay("ack", "alerting", after="on_ack"),
    _stay("no_ack", "alerting", after="on_no_ack"),
    *_settle("resolve", "alerting"),
    *_settle("cancel", "alerting"),
    # Reminders.
    {"trigger": "remind", "source": ["idle", "engaged"], "dest": "reminding", "prepare": "note_reminder"},
    # Due during the help question or a call for help: owed, and asked as soon as they end (one at a time).
    _stay("remind", ["confirming", "alerting"], conditions="no_reminder_owed", after="owe_reminder"),
    _stay("reprompt", "reminding", after="on_reprompt"),
    _stay("repeat_reminder", "reminding", after="on_enter_reminding"),
    *_settle("confirm", "reminding", before="on_confirm"),
    *_settle("decline", "reminding", before="on_decline"),
    *_settle("reminder_expired", "reminding", before="on_reminder_expired"),
    # Staff oversight.
    # (The help question, like an alert, is never dropped: pause, privacy and faults are noted for after it.)
    {"trigger": "pause", "source": _others("confirming", "alerting", "fault", "paused"), "dest": "paused",
     "prepare": "note_paused"},
    _stay("pause", ["booting", "confirming", "alerting", "fault", "paused"], "note_paused"),
    *_settle("resume", "paused", "note_resumed"),
    _stay("resume", ["booting", "confirming", "alerting", "fault"], "note_resumed"),
    # Privacy: microphone and camera off until asked back.
    {"trigger": "privacy_on", "source": ["idle", "engaged", "listening", "responding", "reminding"],
     "dest": "privacy", "prepare": "note_privacy"},
    _stay("privacy_on", ["booting", "privacy", "confirming", "alerting", "paused", "sleeping", "fault"],
          "note_privacy"),
    *_settle("privacy_off", "privacy", "note_privacy_off"),
    _stay("privacy_off", ["booting", "confirming", "alerting", "paused", "sleeping", "fault"], "note_privacy_off"),
    # Quiet hours.
    {"trigger": "quiet_start", "source": ["idle", "engaged"], "dest": "sleeping", "prepare": "note_quiet"},
    _stay("quiet_start", ["booting", *_others("idle", "engaged")], "note_quiet"),
    *_settle("quiet_end", "sleeping", "note_quiet_end"),
    _stay("quiet_end", ["booting", *_others("sleeping")], "note_quiet_end"),
    # Faults: safe pose until every active fault has cleared.
    {"trigger": "fault", "source": _others("confirming", "alerting", "fault"), "dest": "fault",
     "prepare": "note_fault"},
    _stay("fault", ["booting", "confirming", "alerting", "fault"], "note_fault"),
    _stay("recover", "fault", "note_recovered", conditions="fault_active"),
    *_settle("recover", "fault", "note_recovered"),
    _stay("recover", ["booting", *_others("fault")], "note_recovered"),
    {"trigger": "stop", "source": STATES[:-1], "dest": "stopping"},
]

# State timeouts: state -> (BehaviourTimings attribute, trigger).
TIMEOUTS = {
    "listening": ("listen_timeout_s", "timeout"),
    "responding": ("respond_timeout_s", "timeout"),
    "reminding": ("reprompt_interval_s", "reprompt"),
    "confirming": ("confirm_timeout_s", "help_silence"),
    "alerting": ("ack_wait_s", "no_ack"),
}
# Timeouts counted in care time (robot.clock): a reminder's re-prompts and the wait for staff. The others
# are turn-taking, at the resident's own pace, in real time however fast a simulated clock runs.
CARE_TIMEOUTS = frozenset({"reminding", "alerting"})

INDICATOR: dict[str, IndicatorMode] = {
    "booting": "off", "idle": "idle", "engaged": "idle", "listening": "listening",
    "responding": "idle", "reminding": "listening", "confirming": "listening", "alerting": "alert", "paused": "paused",
    "privacy": "privacy", "sleeping": "sleep", "fault": "fault", "stopping": "off",
}

POSE = {"idle": "breathe", "engaged": "attentive", "listening": "attentive", "paused": "rest",
        "sleeping": "sleep", "fault": "safe", "stopping": "safe"}
