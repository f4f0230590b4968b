"""The conversation: context between turns, and utterances turned into state-machine triggers.

The context says what an answer means: a reminder's yes or no, the wellbeing check-in, a
quiz answer, privacy (where only the wake phrase counts) or the help question ("Shall I call
a nurse for you?"). It follows the state machine and is reset by every state change that
ends it. In every context help is judged first and nothing outranks it: help at once is the
`help` trigger; a plausible but unsure call is `ask_help`, which asks the question. In the
question's context yes raises the alert, no cancels, and anything else raises it too (the
state machine also raises it when the answer does not come). A yes soon after a no (a change of
mind) or soon after the silence (a late answer) calls staff as the yes would have, and so does a
short request soon after a no that paused ("no thank you, wait" ... "call her"), or a turn word and a
request soon after any no ("no thanks" ... "actually, call her"). It does no I/O.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from robot.help_answer import (
    asks_after_no,
    asks_after_pointing,
    asks_for_them,
    asks_someone,
    past_turns,
    points_elsewhere,
    turns_back,
)

if TYPE_CHECKING:
    from robot.dialog_engine import DialogEngine

Action = tuple[str, dict[str, Any]]  # (trigger, kwargs) for Behaviour.fire

# Dialog contexts: (the states it holds in, what starts it, what ends it). The diagram shows this.
CONTEXTS: dict[str, tuple[str, str, str]] = {
    "open": ("every other state", "any state change that ends another context", "-"),
    "reminder": ("reminding", "entering reminding", "any other state"),
    "wellbeing": ("listening, responding", "the checkin trigger", "an answer, or any other state"),
    "quiz": ("listening, responding", "a quiz question", "an answer, or any other state"),
    "privacy": ("privacy", "entering privacy", "any other state"),
    "confirm": ("confirming", "entering confirming (the help question)", "any other state"),
}
STATE_CONTEXT = {"reminding": "reminder", "privacy": "privacy", "confirming": "confirm"}
LATE_YES_S = 20.0  # a yes this soon (real seconds) after a "no" to the help question, or its silence, calls staff
CORRECTION_WORDS = 4  # a request this short after a "no" to the help question corrects it: "no, call her"
TURN_STATES = ("listening", "responding")  # a question asked in a turn is answered in the next


@dataclass(frozen=True)
class Decision:
    """What an utterance was taken as (a label, never the words) and the triggers it fires."""

    label: str  # help, ask, an intent, a wellbeing category, yes/no/repeat/unclear, right/wrong, wake/ignore
    actions: list[Action]


@dataclass
class Conversation:
    """Context between turns; turns utterances into state-machine triggers."""

    engine: DialogEngine
    activities: tuple[str, ...] = ()
    context: str = "open"
    quiz_answer: tuple[str, ...] = ()
    last_reply: tuple[str, tuple[tuple[str, str], ...]] = ("greeting", ())
    rate_step: int = 0
    volume_step: int = 0
    late_yes: tuple[float, str] | None = None  # (real monotonic seconds, why): since when a yes still answers
    # Turn-taking is the resident's pace: the late yes is timed on the real monotonic clock, never the robot's
    # civil one, which a simulator runs fast or advances and NTP may step (a yes lost to a step is a lost call).
    real: Callable[[], float] = field(default=time.monotonic, repr=False)
    _answered: bool = True  # the help question last asked has had its answer
    _paused: bool = False  # that answer was a no that ended in a pause ("no thank you, wait"): its rest may follow
    _elsewhere: bool = False  # that no pointed away ("no, not that help"): the robot asked what else, so "I need
    # her" said next answers that, not the nurse declined
    _quiz_i: int = 0

    def set_context(self, state: str) -> None:
        """Follow the state machine: a context lasts only as long as the state that holds it."""
        if state in TURN_STATES and self.context in ("wellbeing", "quiz"):
            return
        new = STATE_CONTEXT.get(state, "open")
        if new == "confirm" and self.context != "confirm":
            self._answered, self._paused, self._elsewhere = False, False, False  # a new question: an older no's
            # pause is over
        elif self.context == "confirm" and new != "confirm" and not self._answered:
            # Silence called staff, but the answer may still be coming: with real speech the question is
            # spoken with speech in muted, so a resident's prompt yes can arrive after the timeout.
            self.late_yes, self._paused = (self.real(), "late_yes"), False
        self.context, self.quiz_answer = new, ()

    def start_checkin(self) -> None:
        """The robot asked how the resident feels: the next answer is a wellbeing category."""
        self.context = "wellbeing"

    def end_session(self) -> None:
        """The person left: forget speech settings and pending questions."""
        # (a late yes to the help question survives: the camera loses a face that looks down, and the
        # window is short; a needless visit costs minutes, a missed call more)
        self.context, self.rate_step, self.volume_step, self.quiz_answer = "open", 0, 0, ()

    def hear(self, text: str, confidence: float, now: dt.datetime, alternatives: tuple[str, ...] = ()
             ) -> list[Action]:
        """Triggers for one utterance (the text is used here and then dropped)."""
        return self.decide(text, confidence, now, alternatives).actions

    def decide(self, text: str, confidence: float, now: dt.datetime, alternatives: tuple[str, ...] = ()
               ) -> Decision:
        """What one utterance means in the current context, help first."""
        e, ctx = self.engine, self.context
        if ctx == "confirm":
            return self._answer_help_question(text, confidence, now)
        first = e.help(text, alternatives, complaints_ask=ctx != "wellbeing")  # a complaint answers it there
        if first is not None and first.sure:
            return Decision("help", [("help", {})])
        taken = self._taken_back(text, confidence)
        if taken is not None:
            return taken
        if first is not None:
            return Decision("ask", [("ask_help", {"reason": first.reason})])
        if ctx == "privacy":
            # only a call by name wakes the robot, as it says when it goes quiet ("say hello Robin"): a visitor's
            # "come back later" or "are you listening, Margaret" must not switch the microphone back on
            if not e.addressed(e.reader.read(text).words):  # not "a robin on the bird table"
                return Decision("ignore", [])
            u = e.classify(text, confidence, among=["wake"])
            if (u.intent == "wake" and u.sure) or e.loosely(text, "wake"):
                return Decision("wake", [("privacy_off", {})])
            return Decision("ignore", [])
        if ctx == "reminder":
            u = e.classify(text, confidence, among=["yes", "no", "repeat"], answering=True)
            if u.sure and u.intent in ("yes", "no") and not e.doubtful(text, u.intent):
                self.context = "open"
                return Decision(u.intent, [("confirm" if u.intent == "yes" else "decline", {})])
            if u.sure and u.intent == "repeat" and not e.hedged(text):
                return Decision("repeat", [("repeat_reminder", {})])
            return Decision("unclear", [("say", {"key": "reminder_unclear"})])  # never guess on medication
        if ctx == "wellbeing":
            u = e.classify(text, confidence, choices=True)
            category = u.intent if u.sure else None
            if (category is None and u.intent in (None, "in_pain") and "in_pain" in e.pack.wellbeing
                    and confidence >= e.min_confidence and e.sore(text)):
                category = "in_pain"  # "my knees won't have it today"
            concern = category in e.pack.concerning
            # no feeling named, or "fine", yet a worry: "where am I?", "fine, but I'm scared"
            plausible = e.help(text, alternatives) if category in (None, "fine") else None
            if category is not None and plausible is None:
                self.context = "open"
                choice = e.pack.wellbeing[category]
                return Decision(category, [("wellbeing", {"category": category, "concern": concern,
                                                          "reply": choice.reply})])
            if plausible is not None:
                return Decision("ask", [("ask_help", {"reason": plausible.reason})])
            return Decision("unclear", self._reply("wellbeing_unclear"))
        if ctx == "quiz":
            self.context = "open"
            right = e.mentions(text, self.quiz_answer)
            answer = self.quiz_answer[0] if self.quiz_answer else ""
            return Decision("right" if right else "wrong", self._reply("quiz_right" if right else "quiz_wrong",
                                                                        answer=answer))
        u = e.classify(text, confidence)
        if u.intent == "yes" and u.sure and self._yes_still_answers():
            return self._late_yes()
        if u.intent is None:
            return Decision("none", self._reply("fallback"))
        if not u.sure:
            return Decision("none", self._reply("clarify"))  # ask again in other words
        return Decision(u.intent, self._act(u.intent, now))

    def press(self, intent: str, now: dt.datetime) -> list[Action]:
        """A button on the resident's screen ("repeat" or "slower"): what the request, heard for sure,
        does in this context. A button is never an answer, so the reminder's and the help question's
        stay open: "repeat" asks them again; in privacy the robot stays quiet."""
        if intent == "slower":
            self.rate_step -= 1
        if self.context == "privacy":
            return []
        if self.context == "reminder":
            return [("repeat_reminder", {})] if intent == "repeat" else [("say", {"key": "slower_ok"})]
        if self.context == "confirm":
            return [("say", {"key": "help_confirm" if intent == "repeat" else "slower_ok"})]
        self.context = "open"  # a wellbeing or quiz question is left, as a spoken "say that again" would not
        if intent == "slower":
            return self._reply("slower_ok")
        return self._act(intent, now)

    def _answer_help_question(self, text: str, confidence: float, now: dt.datetime) -> Decision:
        """Yes raises the alert, no cancels it; anything else raises it too (at medium priority)."""
        self._answered = True
        first = self.engine.help(text)
        if first is not None and first.sure:
            return Decision("help", [("help", {})])  # "yes, I've fallen": at once, high
        rest = self.engine.after_no(text)
        after = self.engine.help(rest) if rest is not None else None  # the no answers; it negates nothing after it
        if after is not None and after.sure:
            return Decision("help", [("help", {})])  # "no, I can't breathe"; "no no, get someone"
        turned = asks_after_no(self.engine, text) or asks_after_pointing(self.engine, text)
        if turned is not None:  # "not now but later call the nurse": the request after the no wins
            return Decision(turned, [("help" if turned == "help" else "help_unclear", {})])
        if points_elsewhere(self.engine, text):  # "no, not that help": no nurse; the robot asks what else
            self.late_yes, self._elsewhere = (self.real(), "changed_mind"), True
            return Decision("other", [("help_no", {"other": True})])
        back = turns_back(self.engine, text)
        if back in ("yes", "unclear"):  # "nein... doch", "no, wait, actually do call her": the no is taken back
            return Decision(back, [("help_yes" if back == "yes" else "help_unclear", {})])
        if after is not None and after.reason != "negated":
            return Decision("unclear", [("help_unclear", {})])  # "no, it's my chest": not a no to a nurse
        e = self.engine
        cry = first is not None and e.helper.cries_last(e.reader.read(text))
        if cry:  # "I can't find my glasses help", "es geht nicht hilfe": the cry said last answers yes
            return Decision("help", [("help", {})])
        u = self.engine.classify(text, confidence, among=["yes", "no"])
        if u.sure and u.intent == "yes":
            if self._yes_still_answers():  # "no ... yes" in one breath: the no has already ended the question
                return self._late_yes()
            return Decision("yes", [("help_yes", {})])
        # A call negated only from afar ("I didn't think it would hurt this much get the nurse") is no no, though
        # "did not" is a no word: only a leading no or a negation against the help words cancels it.
        negated = first is not None and first.reason == "negated"
        denied = negated and e.denies(text)
        afar = negated and rest is None and not denied
        if (u.sure and u.intent == "no" and not afar and not e.doubtful(text, "no") and not self._corrected(text)) or (
                denied):
            # "I don't know" is no answer, nor is another clause's negation: "ich kann nicht mehr, ich brauche Hilfe"
            self.late_yes, self._paused, self._elsewhere = (self.real(), "changed_mind"), back == "paused", False
            return Decision("no", [("help_no", {})])
        return Decision("unclear", [("help_unclear", {})])  # a needless visit costs minutes; a missed call more

    def _corrected(self, text: str) -> bool:
        """A yes or a short request after the no, in the same breath: "no wait, yes", "nein, bitte holen Sie sie",
        "아니 그래 불러". Then the no is no answer. A yes word that also says fine ("okay") corrects it only said
        (nearly) alone: "no, that's okay" and "no, I'm okay" are a no."""
        e = self.engine
        rest = e.after_no(text)
        if rest is None:
            return False
        r = e.reader.read(rest)
        fine = {k.parts for k in e.choices["fine"].keywords} if "fine" in e.choices and len(r.words) > 2 else set()
        if any(k.parts not in fine and e.reader.find(k, r, stems=True) for k in e.intents["yes"].keywords):
            return True
        return len(r.words) <= CORRECTION_WORDS and bool(e.helper.spans_of(e.helper.asks, r)) and not e.denies(rest)

    def _taken_back(self, text: str, confidence: float) -> Decision | None:
        """A no to the help question taken back in the next utterance, soon after it (the recogniser ends an
        utterance at any pause): a turn word and a yes or a short request ("actually, call her", "doch, rufen Sie
        sie", "그래도 불러 주세요") calls staff as a late yes does; a turn alone ("wait", "ach doch") asks the
        question again. After a no that paused ("no thank you, wait") a short request alone is its rest ("call
        her"). Words that answer what the robot has asked since (a reminder's "yes please") or ask it for what it
        does itself ("stop please", "what time is it please") are that, not a call."""
        e = self.engine
        if not self._yes_still_answers():
            return None
        back = turns_back(e, text, said_no=True)
        if back not in ("yes", "unclear") and self._paused and asks_someone(e, e.reader.read(text)):
            back = "yes"  # "no thank you, wait" ... "call her": the rest, said after the pause
        them = asks_for_them(e, e.reader.read(past_turns(e, text))) if back not in ("yes", "unclear") and (
            self.context == "open" and not self._elsewhere) else None
        if them is not None:
            # "no thanks" ... "I need her", "ich brauche sie doch": the nurse after all (a reminder asked since is
            # what "I need them" is about: the tablets); "maybe get her" doubts, and "I'll call her" (she acts
            # herself) or "do you need her" is no request of hers: each is asked again
            back = "unclear" if them == "unclear" or e.doubtful(past_turns(e, text)) else "yes"
        if back not in ("yes", "unclear") or (back == "unclear" and self.context != "open"):
            return None
        reminder, said = self.context == "reminder", past_turns(e, text)  # the turn is the no's; judge the rest
        u = e.classify(said, confidence, among=["yes", "no", "repeat"], answering=True) if reminder else e.classify(
            said, confidence)
        # read for sure and strongly (a keyword, or near a pack's example): not "call her", faintly the name question
        if u.sure and u.score >= e.accept and (reminder or u.intent != "yes"):
            return None
        if back == "unclear" and not ((y := e.classify(text, confidence)).sure and y.intent == "yes"):
            return Decision("ask", [("ask_help", {"reason": "changed_mind"})])   # "doch": a yes
        return self._late_yes()

    def _yes_still_answers(self) -> bool:
        return self.late_yes is not None and 0 <= self.real() - self.late_yes[0] <= LATE_YES_S

    def _late_yes(self) -> Decision:
        """"No ... actually yes", or a yes after the silence: the question has ended, so the yes calls
        staff directly, at high priority as a yes would (an alert already out is raised to high)."""
        reason = self.late_yes[1] if self.late_yes else "late_yes"
        self.late_yes, self._paused = None, False
        return Decision("yes", [("help", {"reason": reason})])

    def _reply(self, key: str, **params: str) -> list[Action]:
        packed = tuple(sorted(params.items()))
        if key not in ("clarify", "fallback", "wellbeing_unclear"):
            self.last_reply = (key, packed)
        return [("heard", {"reply": key, "params": packed})]

    def _act(self, intent: str, now: dt.datetime) -> list[Action]:
        simple = {"privacy_on": "privacy_on", "goodbye": "goodbye", "stop": "hush"}
        if intent in simple:
            return [(simple[intent], {})]
        if intent in ("yes", "no", "wake"):
            return self._reply("clarify")
        if intent == "repeat":
            key, params = self.last_reply
            return [("heard", {"reply": key, "params": params})]  # render() picks other words
        if intent == "slower":
            self.rate_step -= 1
            return self._reply("slower_ok")
        if intent == "louder":
            self.volume_step += 1
            return self._reply("louder_ok")
        clock = self.engine.pack.clock  # the pack's own words: never strftime's English, never the system locale
        if intent == "time":
            return self._reply("time", time=clock.time(now.time()))
        if intent == "date":
            return self._reply("date", date=clock.date(now.date()))
        if intent == "activities":
            if not self.activities:
                return self._reply("no_activities")
            return self._reply("activities", activities=", ".join(clock.activity(a) for a in self.activities))
        if intent == "quiz":
            questions = self.engine.pack.quiz
            ask, answers = questions[self._quiz_i % len(questions)]
            self._quiz_i += 1
            self.context, self.quiz_answer = "quiz", answers
            return [("heard", {"reply": "quiz_question", "params": (("text", ask),)})]
        if intent == "thanks":
            return self._reply("thanks_reply")
        return self._reply(intent)  # name, disclosure, joke, reminisce
