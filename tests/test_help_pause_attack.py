"""The help question's late answers, attacked after the pause rule landed (a no that ends in a pause lets a short
request said next call staff: "no thank you, wait" ... "call her").

Each was wrong before:
- a change of mind said as the next utterance and led by a turn word, after a no that did not pause, was lost:
  "no thanks" ... "actually, call her" was the name question's answer, "nein danke" ... "doch, rufen Sie sie" and
  "아니요 괜찮아요" ... "그래도 불러 주세요" the fallback (silence). The recogniser ends an utterance at any pause,
  not only after a pause word; a turn word takes the no back as it does in one breath.
- after a paused no, anything with a "please" was a call: "stop please", "be quiet please", "what time is it
  please", "그만 해 주세요" raised a high alert instead of being done; and a reminder asked just after it (one owed
  during the question) had its "yes please" ("ja bitte", "네 주세요") taken as a call, the medicine left unconfirmed.
- a turn, then the speaker's own wish for the staff offered, named by a pronoun, was a no: "no, wait, I do need
  her", "no, on second thoughts I need them" cancelled the call ("no, actually I want my tea" must stay a no).
- the paused flag outlived its question: a later question's "no, not that help" ("what else can I do?") took
  "get my glasses please" as the rest of the old no, and called staff.

The words go through the dialog engine and the conversation as the dialog thread hands them on; a change of mind
goes the whole way, through the running robot to a staff subscriber on a real mosquitto.
"""

from __future__ import annotations

import datetime as dt

import pytest

from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.conversation import LATE_YES_S, Conversation

from .broker import Broker
from .test_help_answer_turns import ENGINES, declined_then_called

NOW = dt.datetime(2026, 11, 27, 10, 0)
LATE = [("help", {"reason": "changed_mind"})]


def declined(lang: str, no: str, clock: list[float] | None = None) -> Conversation:
    """A conversation whose help question has just been answered with `no`, back in the open context."""
    conv = conversation_in(ENGINES[lang], "open")
    if clock is not None:
        conv.real = lambda: clock[0]
    conv.set_context("confirming")
    assert conv.decide(no, 1.0, NOW).actions == [("help_no", {})]
    conv.set_context("listening")
    return conv


PLAIN_NO = {"en": "no thanks", "de": "nein danke", "ko": "아니요 괜찮아요"}
PAUSED_NO = {"en": "no thank you, wait", "de": "nein danke moment", "ko": "아니요 괜찮아요 잠깐"}
# A turn word, then a yes or a short request, said as the next utterance after a plain no: the no taken back
TURN_NEXT = {"en": ["actually, call her", "on second thoughts do call her", "actually yes please call her",
                    "hang on, do get her"],
             "de": ["doch, rufen Sie sie", "ach doch, holen Sie sie bitte", "wenn ich recht überlege, ruf sie doch"],
             "ko": ["그래도 불러 주세요", "아니다 불러 줘", "다시 생각해 보니 불러 주세요"]}
# A turn word alone after the no: the question is asked again (it was the fallback or "say that again")
# ... unless the turn alone is a yes: "doch" calls staff as a late yes
TURN_YES = {"en": ["oh all right go on then"], "de": ["doch"]}
TURN_ALONE = {"en": ["wait", "actually", "on second thoughts"], "de": ["ach doch", "moment"],
              "ko": ["잠깐만", "다시 생각해 보니"]}
# A turn word that takes nothing back: no call, no question
TURN_NOTHING = {"en": ["actually I'm fine", "actually I want my tea", "no actually no", "I'm fine actually"],
                "de": ["doch nicht", "mir geht es doch gut"], "ko": ["아니다 괜찮아요", "잠깐 부르지 마세요"]}
# After a paused no, what asks the robot for something it does itself is done, not a call
ASKS_THE_ROBOT = {"en": [("stop please", "hush"), ("be quiet please", "hush"), ("what time is it please", "heard"),
                         ("what day is it please", "heard")],
                  "de": [("hör bitte auf", "hush"), ("wie spät ist es bitte", "heard")],
                  "ko": [("그만 해 주세요", "hush"), ("지금 몇 시예요 알려 주세요", "heard")]}
# A turn, then the speaker's wish for the staff offered ("her"): a yes (it was a no, the call cancelled)
WISH_FOR_HER = ["no, wait, I do need her", "no, on second thoughts I need them", "no thanks, actually I want her"]
# ... but a wish for a thing of the speaker's own is still a no
WISH_FOR_A_THING = ["no actually I want my tea", "no, actually I want the telly", "no wait I need my glasses"]
REMINDER_YES = {"en": ["yes please"], "de": ["ja bitte", "ja bitte schön"], "ko": ["네 주세요"]}
CALL_HER = {"en": "call her", "de": "ruf sie doch", "ko": "불러 줘"}


def cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(lang, t) for lang, ts in table.items() for t in ts]


@pytest.mark.parametrize(("lang", "text"), cases(TURN_NEXT))
def test_a_turn_said_next_after_a_no_takes_it_back_and_calls_staff(lang: str, text: str) -> None:
    assert declined(lang, PLAIN_NO[lang]).decide(text, 1.0, NOW).actions == LATE


@pytest.mark.parametrize(("lang", "text"), cases(TURN_YES))
def test_a_turn_that_is_a_yes_said_next_after_a_paused_no_calls_staff(lang: str, text: str) -> None:
    assert declined(lang, PAUSED_NO[lang]).decide(text, 1.0, NOW).actions == LATE


@pytest.mark.parametrize(("lang", "text"), cases(TURN_ALONE))
def test_a_turn_alone_said_next_after_a_no_asks_the_question_again(lang: str, text: str) -> None:
    assert declined(lang, PLAIN_NO[lang]).decide(text, 1.0, NOW).actions[0][0] == "ask_help"


@pytest.mark.parametrize(("lang", "text"), cases(TURN_NOTHING))
def test_a_turn_that_takes_nothing_back_said_next_neither_calls_nor_asks(lang: str, text: str) -> None:
    decision = declined(lang, PLAIN_NO[lang]).decide(text, 1.0, NOW)
    assert decision.actions[0][0] not in ("help", "ask_help"), decision


def test_a_turn_said_after_the_window_is_no_call() -> None:
    clock = [0.0]
    conv = declined("en", "no thanks", clock)
    clock[0] = LATE_YES_S + 1
    assert conv.decide("actually, call her", 1.0, NOW).actions[0][0] != "help"


@pytest.mark.parametrize(("lang", "text", "trigger"),
                         [(lang, t, trig) for lang, ts in ASKS_THE_ROBOT.items() for t, trig in ts])
def test_after_a_paused_no_what_asks_the_robot_is_done_not_a_call(lang: str, text: str, trigger: str) -> None:
    conv = declined(lang, PAUSED_NO[lang])
    assert conv.decide(text, 1.0, NOW).actions[0][0] == trigger
    assert conv.decide(CALL_HER[lang], 1.0, NOW).actions == LATE  # the rest of the no may still follow


@pytest.mark.parametrize(("lang", "yes"), cases(REMINDER_YES))
def test_a_reminder_asked_after_a_paused_no_takes_its_own_yes(lang: str, yes: str) -> None:
    # "ja bitte schön" was a call still: the German turn word "na gut" reads as "ja", so every "ja" was a turn
    conv = declined(lang, PAUSED_NO[lang])
    conv.set_context("reminding")  # owed during the question: asked as soon as the no ends it
    assert conv.decide(yes, 1.0, NOW).actions == [("confirm", {})]
    conv.set_context("reminding")
    assert conv.decide(CALL_HER[lang], 1.0, NOW).actions == LATE  # the rest of the no still calls there


def test_a_paused_no_is_forgotten_when_the_next_question_is_asked() -> None:
    clock = [0.0]
    conv = declined("en", "no thank you, wait", clock)
    clock[0] = LATE_YES_S + 1
    conv.set_context("confirming")  # another question, answered by pointing elsewhere: "what else can I do?"
    assert conv.decide("no, not that help", 1.0, NOW).actions == [("help_no", {"other": True})]
    conv.set_context("listening")
    assert conv.decide("get my glasses please", 1.0, NOW).actions[0][0] != "help"


def test_a_turn_said_next_after_a_no_reaches_staff_through_the_running_robot(config: Config,
                                                                             broker: Broker) -> None:
    # was the name question's answer: the resident's change of mind went unheard
    declined_then_called(config, broker, "en", "my hip hurts", "no thanks", "actually, do call her")


@pytest.mark.parametrize("text", WISH_FOR_HER)
def test_a_turn_then_a_wish_for_her_is_a_yes(text: str) -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide(text, 1.0, NOW).actions == [("help_yes", {})]


@pytest.mark.parametrize("text", WISH_FOR_A_THING)
def test_a_turn_then_a_wish_for_a_thing_is_still_a_no(text: str) -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide(text, 1.0, NOW).actions == [("help_no", {})]


def test_a_wish_for_her_said_next_after_a_no_calls_staff() -> None:
    assert declined("en", "no thanks").decide("actually, I do need her", 1.0, NOW).actions == LATE


# -- through the recogniser: the dialog context's grammar ---------------------------------------------------------
# With a grammar (as Vosk is run) a word outside it is not heard: the turn and pause words were in no grammar, so
# "nein... ach doch" was heard "nein" and "아니요 다시 생각해 보니" "아니요" (both cancelled the call, meant to raise
# it at medium priority), and "그래도 불러 주세요" after a no was heard "불러 주세요" (the name question: no call).


def heard(lang: str, context: str, text: str) -> str:
    """`text` as the recogniser's twin (hardware.recogniser_text: Vosk's behaviour with a grammar) hears it in a
    dialog context, through the grammar the dialog thread sends it."""
    from hardware.recogniser_text import TextRecogniser
    from robot.asr import build_grammar, has_unk

    rec = TextRecogniser()
    grammar = build_grammar(ENGINES[lang].grammar(context), rec.knows).listed(has_unk(rec.knows))
    pcm = rec.hear(text) + bytes(32000)
    rec.begin(grammar)
    for i in range(0, len(pcm), 4800):
        rec.accept(pcm[i:i + 4800])
    return rec.end().text


@pytest.mark.parametrize(("lang", "text"), [("en", "no, wait"), ("en", "no, on second thoughts"),
                                            ("de", "nein... ach doch"), ("de", "nein, warten Sie"),
                                            ("ko", "아니요 다시 생각해 보니"), ("ko", "아니요 잠깐")])
def test_a_no_taken_back_is_heard_through_the_grammar_and_calls_staff(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    assert conv.decide(heard(lang, "confirm", text), 1.0, NOW).actions == [("help_unclear", {})]


@pytest.mark.parametrize(("lang", "no", "then"), [("en", "no thanks", "actually, do call her"),
                                                  ("de", "nein danke moment", "ruf sie doch"),
                                                  ("ko", "아니요 괜찮아요", "그래도 불러 주세요")])
def test_a_change_of_mind_said_next_is_heard_through_the_grammar_and_calls_staff(lang: str, no: str,
                                                                                 then: str) -> None:
    conv = declined(lang, heard(lang, "confirm", no))
    assert conv.decide(heard(lang, "open", then), 1.0, NOW).actions == LATE
