"""An answer to "Shall I call a nurse?" that says no and then asks for someone is a call; "not that help" is a no.

"nein... doch", "no, wait, actually do call her" and "nein, warten Sie, doch, bitte holen Sie sie" were a no too: a
turn word (the packs' `help.turns`) takes the no back; a yes or a short request after it is a yes, nothing after
it is unclear (staff are called at medium priority).

Before: "not now but later call the nurse", "no I'm alright oh no wait fetch somebody" and "nah leave it, no actually
send for the doctor" cancelled the call, because the no was read and the request after it was not. A clause after
the no that asks for staff (or cries for help) now wins: staff are called at once when the request is sure, and at
medium priority when it doubts itself ("later call the nurse": staff can judge when), never silence.

"no not that help" was a plain cancel in English and a high alert in German ("nein, nicht diese Hilfe" read its
"Hilfe" as a cry). It is a no to the nurse that points at the help offered and wishes something else: the call is
cancelled, the robot says so and asks what it can do instead (or to say "nurse" to call one), and a yes just after
still calls staff. The words go through the dialog engine in the state where the question was asked; one answer of
each kind goes the whole way, through the running robot to a staff subscriber on a real mosquitto.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.conversation import Decision
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .broker import Broker, alerts
from .conftest import wait_for
from .test_help_words_attack import answering_the_help_question_reaches_staff, robot_and_staff

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
ENGINES = {lang: DialogEngine(load_pack(ROOT / "dialogs" / lang)) for lang in ("en", "de", "ko")}

# A no, then a clause that asks for staff: sure requests call at once (high)
NO_THEN_ASK = {"en": ["no I'm alright oh no wait fetch somebody", "nah leave it, no actually send for the doctor",
                      "no wait yes get the nurse", "no no... hang on, yes please fetch somebody",
                      "no, hang on, yes call someone"],
               "de": ["nein, doch, holen Sie die Schwester", "nee lassen Sie mal, doch, holen Sie bitte den Pfleger",
                      "nein es geht schon, nein doch nicht, holen Sie den Arzt"],
               "ko": ["아니 괜찮아 아니 아니 간호사 불러 줘", "아니요 됐어요 아 잠깐 간호사 좀 불러 주세요",
                      "싫어요 근데 간호사는 불러 주세요"]}
# A no, then a request that doubts itself ("later"): staff are called all the same, at medium priority at least
NO_THEN_LATER = {"en": ["not now but later call the nurse", "not now love but later ring for the carer",
                        "no not now, but in a bit get someone"],
                 "de": ["nein jetzt nicht aber später bitte die Schwester rufen"],
                 "ko": ["아니요 지금 말고 나중에 간호사 불러 주세요", "아니 지금은 말고 이따가 간호사 불러 줘"]}
# A no taken back by a turn word: a yes or a short request after it is a yes (high), nothing after it unclear
TAKEN_BACK = {"en": ["no, wait, actually do call her", "no, on second thoughts, yes please", "no... actually yes",
                     "no, well, on second thoughts do call them", "no... actually yes please"],
              "de": ["nein... ach doch, rufen Sie sie", "nein, warten Sie, doch, bitte holen Sie sie",
                     # "wenn ich es mir recht überlege" and "doch lieber" were no turn words: the call was cancelled
                     "nein, wenn ich es mir recht überlege, ruf sie doch", "nein... doch lieber, rufen Sie sie",
                     "nein wenn ich recht überlege holen sie sie doch"],
              "ko": ["아니요... 아니다 불러 주세요", "아니요 괜찮아요 그래도 불러 주세요",
                     "아니요 다시 생각해 보니 불러 줘", "아니 다시 생각해보니 불러 주세요"]}
TAKEN_BACK_ALONE = {"en": ["no, wait",
                           # a turn that reconsiders (not a mere pause) takes back even a polite no
                           "no thank you, on second thoughts"],
                    "de": ["nein... doch", "nein, ach doch", "nein danke, doch",
                           "nein, doch lieber", "nein, wenn ich es mir recht überlege"],  # were a no: cancelled
                    "ko": ["아니요 다시 생각해 보니", "아니 다시 생각해보니"]}  # were a no: cancelled
# A no that points at the help offered: the call is cancelled, the robot asks what else it can do
NOT_THAT_HELP = {"en": ["no not that help", "no, not that sort of help dear", "not that kind of help thank you"],
                 "de": ["nein, nicht diese Hilfe", "nein, nicht so eine Hilfe",
                        "nein danke, nicht diese Art von Hilfe"],
                 "ko": ["아니요 그런 도움 말고요", "아니 그 도움 말고", "그런 도움은 말고요"]}
# Still a plain no
PLAIN_NO = {"en": ["no", "no thanks", "no I'm fine", "no thanks love", "no, I'm quite all right thank you",
                   "no, don't bother the nurse",
                   # "no need" was read as a leading "no" before "to call the nurse": a high alert, in every context
                   "no, no need to call the nurse", "no need to call anyone thank you",
                   # a turn word that takes nothing back
                   "no, actually I'm fine", "no wait, I'm fine thanks", "no actually I want my tea",
                   "no, actually, no"],
            "de": ["nein danke", "nein danke mir geht es gut", "nein lassen Sie nur", "ich brauche keine Hilfe",
                   "nein, doch nicht", "nein danke, mir geht es doch gut", "nein, ich kann das doch selbst"],
            "ko": ["아니요 괜찮아요", "아니요", "아니 됐어", "아니 아니다 괜찮아", "아니요 잠깐만요 괜찮아요"]}
# A polite no, then a pause with nothing after it: the resident trails off, the no stands (was unclear: staff called
# at medium priority, since the reader folds "thank you" into the no and "no thank you, wait" read as "no, wait")
POLITE_NO_PAUSE = {"en": ["no thank you actually", "no thanks wait", "no thank you, hang on", "no thanks ta, actually"],
                   "de": ["nein danke moment", "nein danke, warten Sie", "nein vielen Dank, moment mal"],
                   "ko": ["아니요 괜찮아요 잠깐", "아니요 고마워요 잠깐만"]}


# Attacked after it landed (each was a cancel or a call the other way round):
# the help pointed at, then a request or a cry: a call, never "what else can I do?" (was silence)
POINTED_THEN_ASK = {"en": ["not that help get the nurse", "no not that help help me", "not that help nurse"],
                    "de": ["nicht diese hilfe holen sie die schwester", "nein nicht diese hilfe hilfe",
                           "nicht diese hilfe schwester"],
                    "ko": ["그런 도움 말고 간호사", "아니 그런 도움 말고 간호사 불러"]}
# a no that is taken back by a turn word, where the no was "not" or "no need"; and a recogniser that dropped the
# "I" of "no, I need help" (Vosk): "no need" before a help word without "to" or "for" is no "not need"
TAKEN_BACK_LATE = {"en": ["no need to call her actually yes", "not now wait actually yes"],
                   "ko": ["아니다 불러 줘", "아니다 불러 주세요"]}  # "아니다" says no and takes it back in one word
DROPPED_I = {"en": ["no need help", "no need the nurse"]}
# a cry after a no, a turn word and a no again: the second no answers, as the first does ("no, no, help"); was a no
NO_TURN_NO_CRY = {"en": ["no wait no help", "no wait no help me", "no actually no help", "no wait wait no help"],
                  "de": ["nein warte nein hilfe"], "ko": ["아니 잠깐 아니 살려 주세요"]}
# a turn word after a clause of its own, or before a negated request, takes nothing back (was a call)
TURN_TAKES_NOTHING = {"en": ["no I'm fine actually", "no I'll wait", "no thanks I can wait",
                             "no don't call her wait", "no wait I'm fine actually"],
                      "de": ["nein ich warte", "nein ich kann warten", "nein, das schaffe ich doch",
                             "nein danke mir geht es gut doch"],
                      "ko": ["아니요 괜찮아요 잠깐만요", "아니요 아니다 부르지 마세요", "아니 잠깐 부르지 마세요",
                             "아니요 아니다 부르지 마", "아니 잠깐 부르지 마", "아니다 부르지 마", "아니다"]}


def answer(lang: str, text: str) -> Decision:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    return conv.decide(text, 1.0, NOW)


def cases(table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(lang, t) for lang, ts in table.items() for t in ts]


CALLS, UNCLEAR, YES, NO = [("help", {})], [("help_unclear", {})], [("help_yes", {})], [("help_no", {})]
# Each kind of answer and what it must do: calling staff at once (help, a yes), or at medium priority (unclear).
KINDS = [(NO_THEN_ASK, (CALLS,)),  # a request after the no calls staff at once
         (NO_THEN_LATER, (CALLS, UNCLEAR)),  # a request that doubts itself still calls (both raise the alert)
         (TAKEN_BACK, (YES,)),  # a no taken back by a turn word is a yes
         (TAKEN_BACK_ALONE, (UNCLEAR,)),  # ... and with nothing after it still calls: "nein... doch" was silence
         (PLAIN_NO, (NO,)),  # a plain no still cancels
         (POLITE_NO_PAUSE, (NO,))]  # ... and so does a polite one that trails off in a pause


@pytest.mark.parametrize(("lang", "text", "allowed"),
                         [(lang, text, allowed) for table, allowed in KINDS for lang, text in cases(table)])
def test_an_answer_with_a_no_and_more_is_taken_as_the_resident_meant(lang: str, text: str,
                                                                     allowed: tuple[list[Any], ...]) -> None:
    decision = answer(lang, text)
    assert decision.actions in allowed, decision


@pytest.mark.parametrize(("lang", "text"), cases(NOT_THAT_HELP))
def test_not_that_help_cancels_and_asks_what_else(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    decision = conv.decide(text, 1.0, NOW)
    assert (decision.label, decision.actions) == ("other", [("help_no", {"other": True})]), decision
    conv.set_context("listening")  # the robot has cancelled: a yes just after is a change of mind, and calls
    yes = {"en": "yes please", "de": "ja bitte", "ko": "네 그래 주세요"}[lang]
    assert conv.decide(yes, 1.0, NOW).actions[0][0] == "help"


@pytest.mark.parametrize("context", ["open", "reminder", "quiz", "speaking"])
def test_no_need_to_call_the_nurse_calls_no_one_anywhere(context: str) -> None:
    conv = conversation_in(ENGINES["en"], context)
    assert conv.decide("no need to call the nurse, I'm all right", 1.0, NOW).label != "help"


@pytest.mark.parametrize("lang", sorted(ENGINES))
def test_every_pack_says_what_else_it_can_do(lang: str) -> None:
    other = ENGINES[lang].pack.responses["help_other"]
    assert other and set(other).isdisjoint(ENGINES[lang].pack.responses["help_cancelled"])


def test_a_pack_from_before_help_other_still_loads_and_declines_in_its_own_words(tmp_path: Path) -> None:
    """A home's own pack written before `help_other` existed is valid still (the robot refuses to start on an
    invalid pack): after "no, not that help" it says its help_cancelled words instead."""
    lines = (ROOT / "dialogs" / "en" / "pack.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "pack.yaml").write_text("".join(x for x in lines if not x.lstrip().startswith("help_other:")),
                                        encoding="utf-8")
    pack = load_pack(tmp_path / "pack.yaml")
    assert pack.responses["help_other"] == pack.responses["help_cancelled"]
    conv = conversation_in(DialogEngine(pack), "open")
    conv.set_context("confirming")
    assert conv.decide("no not that help", 1.0, NOW).actions == [("help_no", {"other": True})]


def test_not_now_but_later_call_the_nurse_reaches_staff_through_the_running_robot(config: Config,
                                                                                  broker: Broker) -> None:
    # was a no: the call was cancelled
    answering_the_help_question_reaches_staff(config, broker, "my hip hurts", "not now but later call the nurse",
                                              priority=None)


def test_a_request_after_a_turn_that_reconsiders_reaches_staff_through_the_running_robot(config: Config,
                                                                                           broker: Broker) -> None:
    # was a no: "wenn ich es mir recht überlege" took nothing back, and the call was cancelled
    answering_the_help_question_reaches_staff(config, broker, "mir tut die Hüfte weh",
                                              "nein, wenn ich es mir recht überlege, ruf sie doch", language="de")


# The rest of a polite no's pause may come as the next utterance (the recogniser ends one at the pause): a short
# request for someone then is a change of mind, as a yes is (it was "name" or the fallback: silence)
PAUSE_THEN_ASK = {"en": [("no thank you, wait", "call her"), ("no thanks actually", "do call them")],
                  "de": [("nein danke moment", "ruf sie doch"), ("nein danke, warten Sie", "holen Sie sie bitte")],
                  "ko": [("아니요 괜찮아요 잠깐", "불러 줘"), ("아니요 괜찮아요 잠깐만", "불러 주세요")]}


@pytest.mark.parametrize(("lang", "no", "then"), [(lang, n, t) for lang, ps in PAUSE_THEN_ASK.items() for n, t in ps])
def test_a_request_just_after_a_polite_no_calls_staff(lang: str, no: str, then: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    assert conv.decide(no, 1.0, NOW).actions == [("help_no", {})]
    conv.set_context("listening")
    assert conv.decide(then, 1.0, NOW).actions == [("help", {"reason": "changed_mind"})]


@pytest.mark.parametrize(("lang", "no", "then"), [("en", "no thank you", "get my glasses"),
                                                  ("de", "nein danke", "hol mir die Brille"),
                                                  ("ko", "아니요 괜찮아요", "물 좀 줘")])
def test_a_request_after_a_polite_no_that_did_not_pause_is_no_call(lang: str, no: str, then: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")  # only a pause says more is coming
    conv.set_context("confirming")
    assert conv.decide(no, 1.0, NOW).actions == [("help_no", {})]
    conv.set_context("listening")
    assert conv.decide(then, 1.0, NOW).label != "yes"


def declined_then_called(config: Config, broker: Broker, lang: str, complaint: str, no: str, then: str,
                         reply: str | None = None) -> None:
    """Through the running robot: the complaint asks "Shall I call a nurse?", the `no` cancels it (saying `reply`
    if given) and calls no one, and `then`, said just after, raises the alert at a staff subscriber."""
    rt, staff = robot_and_staff(config, broker, lang)
    try:
        rt.hear(complaint)
        assert wait_for(lambda: rt.said and rt.said[-1].key == "help_confirm", 5), rt.behaviour.state
        rt.hear(no)
        if reply is not None:
            assert wait_for(lambda: rt.said and rt.said[-1].key == reply, 5), rt.said[-1]
        assert wait_for(lambda: rt.behaviour.state != "confirming", 5)
        assert rt.behaviour.state != "alerting" and not alerts(staff, type="help_request")
        rt.hear(then)
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10), rt.said[-1]
    finally:
        rt.stop()
        staff.close()


def test_a_request_after_a_polite_no_that_paused_reaches_staff_through_the_running_robot(config: Config,
                                                                                        broker: Broker) -> None:
    # a polite no that trails off is cancelled; the rest of it, said after the pause, calls staff
    declined_then_called(config, broker, "en", "my hip hurts", "no thank you, wait", "do call her")


def test_not_that_help_cancels_says_what_else_and_a_yes_after_it_reaches_staff(config: Config,
                                                                               broker: Broker) -> None:
    # "nicht diese Hilfe" was a high alert (its "Hilfe" read as a cry); a change of mind just after calls staff
    declined_then_called(config, broker, "de", "mir tut die Hüfte weh", "nein, nicht diese Hilfe", "doch, ja bitte",
                         reply="help_other")


@pytest.mark.parametrize(("lang", "text"), cases(POINTED_THEN_ASK) + cases(TAKEN_BACK_LATE) + cases(DROPPED_I)
                         + cases(NO_TURN_NO_CRY))
def test_a_request_after_not_that_help_or_a_late_turn_calls_staff(lang: str, text: str) -> None:
    decision = answer(lang, text)
    assert decision.actions[0][0] in ("help", "help_yes", "help_unclear"), decision  # each raises the alert


@pytest.mark.parametrize(("lang", "text"), cases(TURN_TAKES_NOTHING))
def test_a_turn_word_that_takes_nothing_back_leaves_the_no(lang: str, text: str) -> None:
    assert answer(lang, text).actions == [("help_no", {})]


def test_not_that_help_then_a_call_for_the_nurse_reaches_staff_through_the_running_robot(config: Config,
                                                                                          broker: Broker) -> None:
    said = answering_the_help_question_reaches_staff(config, broker, "my hip hurts", "not that help get the nurse",
                                                     priority=None)
    assert "help_other" not in said  # was "what else can I do?": the call was cancelled


def test_a_long_answer_reads_each_clause_once_and_its_call_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each no or turn word starts a clause, which was read to the end of the answer: n words cost n squared (2.5 s
    for a paste of 6,000 characters on the dialog thread). A clause is read to CLAUSE_MAX words at most; the call
    at the end is heard all the same."""
    from robot.help_answer import CLAUSE_MAX

    engine = ENGINES["en"]
    read, lengths = engine.reader.read, []

    def counting(text: str):  # type: ignore[no-untyped-def]
        lengths.append(len(text.split()))
        return read(text)

    monkeypatch.setattr(engine.reader, "read", counting)
    text = " ".join(["no wait no"] * 100 + ["call the nurse"])
    assert answer("en", text).actions == [("help_yes", {})]
    # The answer, or most of it, is read a few times as a whole; its 200 clauses are not each read to its end.
    assert sum(n > CLAUSE_MAX for n in lengths) <= 10, sorted(lengths)[-20:]
