"""The short ask after a no to the help question ("I need her"), attacked once more: the reviewer's leftovers.

Wrong before, each through the dialog engine and the conversation as the dialog thread hands them on:
- the speaker doing the calling, or asked about, was a high-priority call for the nurse just declined: "I'll call
  her", "shall I call her", "let me ring her", "ich hole sie" (the resident means to do it: the question is asked
  again) and "do you need her" (someone else wishes: asked again, never a call);
- a request for her with where or for whom after her was missed: "I'd like her to come" (clarify), "get her in
  here" and "call her for me" (the fallback, the name question); and the Korean request said as one word,
  "불러요" ([her] call), was the name question;
- "actually call her a taxi" after a no called staff (a turn word, then a request with a person in it), "get him
  off me" was goodbye (someone on top of the resident: distress), and "ich vermisse sie" (I miss her) switched the
  microphone off as a wish for privacy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.bench.understanding import conversation_in
from robot.dialog_help_check import help_problems
from robot.dialogs import load_pack

from .test_help_answer_turns import ENGINES
from .test_help_pause_attack import LATE, NOW, declined

ROOT = Path(__file__).resolve().parents[1]
NO = {"en": "no thanks", "de": "nein danke", "ko": "아니요"}
ASKED_AGAIN = [("ask_help", {"reason": "changed_mind"})]


# The speaker acts ("I'll call her"): she means to get the nurse herself, so the offer is made again
@pytest.mark.parametrize(("lang", "text"), [("en", "I'll call her"), ("en", "shall I call her"),
                                            ("en", "let me ring her"), ("en", "I will get her"),
                                            ("de", "ich hole sie"), ("de", "ich rufe sie")])
def test_the_speaker_calling_her_herself_asks_the_question_again(lang: str, text: str) -> None:
    assert declined(lang, NO[lang]).decide(text, 1.0, NOW).actions == ASKED_AGAIN


# ... and a wish of someone the resident speaks to is no request of hers
@pytest.mark.parametrize("text", ["do you need her", "do you want them"])
def test_a_wish_of_the_one_spoken_to_calls_no_one(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions[0][0] != "help"


# ... while a request to the robot or the speaker's own wish still calls staff, and so does one with where she should
# come or for whom after her
STILL_CALLS = [("en", "can you call her"), ("en", "could you get her please"), ("en", "I need you to get her"),
               ("en", "I want you to get her"), ("en", "I need her"), ("en", "I do need her after all"),
               ("de", "ich brauche sie"), ("de", "holen sie sie")]
BRING_HER = [("en", "I'd like her to come"), ("en", "get her in here"), ("en", "call her for me"),
             ("en", "I want them to come"), ("en", "send her to me"), ("en", "get her over here"),
             ("de", "holen sie sie zu mir"), ("de", "rufen sie sie für mich")]


@pytest.mark.parametrize(("lang", "text"), STILL_CALLS + BRING_HER)
def test_a_request_for_her_still_calls_staff(lang: str, text: str) -> None:
    assert declined(lang, NO[lang]).decide(text, 1.0, NOW).actions == LATE


# ... but not where she is sent away, or what else she is to do
@pytest.mark.parametrize("text", ["I want her to go", "get her to leave", "I'd like her to stop",
                                  "call her to tell my son", "get them to me tomorrow"])
def test_her_sent_away_or_told_to_do_something_else_calls_no_one(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions[0][0] != "help"


# Korean says a request in one word, its ending on the verb: "불러요" ([her] call)
@pytest.mark.parametrize(("no", "text"), [(no, t) for no in ("아니요", "아니요 괜찮아요")
                                          for t in ("불러요", "와요", "불러줘", "불러주세요", "보내요")])
def test_a_korean_request_in_one_word_after_a_no_calls_staff(no: str, text: str) -> None:
    assert declined("ko", no).decide(text, 1.0, NOW).actions == LATE


# ... another ending on the request word asks the question again: a question ("부를까요", shall I call?), a negation
# ("부르지마", don't call: it was a high-priority call when one word first counted)
@pytest.mark.parametrize("text", ["부를까요", "부르지마", "부르지 마"])
def test_a_korean_request_word_with_a_question_or_negation_calls_no_one(text: str) -> None:
    assert declined("ko", "아니요").decide(text, 1.0, NOW).actions[0][0] != "help"


@pytest.mark.parametrize("text", ["주세요", "줘", "이름 불러요", "노래 불러요"])
def test_a_korean_please_alone_or_a_request_for_a_thing_calls_no_one(text: str) -> None:
    assert declined("ko", "아니요").decide(text, 1.0, NOW).actions[0][0] != "help"


# "call her a taxi": a request for a thing for her, not for her; no goodbye either, with or without a turn word
@pytest.mark.parametrize("text", ["actually call her a taxi", "call her a taxi", "actually, get them their tea"])
def test_a_request_for_something_for_her_after_a_no_is_no_call_and_no_goodbye(text: str) -> None:
    decision = declined("en", "no thanks").decide(text, 1.0, NOW)
    assert decision.actions[0][0] not in ("help", "goodbye"), decision


# ... while after a turn word a request for her with more words still takes the no back
@pytest.mark.parametrize("text", ["actually, call her back", "actually, I'll call her", "actually, send her in"])
def test_a_turn_and_a_request_for_her_still_calls_staff(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions == LATE


def test_a_no_then_a_turn_and_a_request_for_something_for_her_is_no_yes() -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide("no, actually call her a taxi", 1.0, NOW).actions == [("help_no", {})]


# "get him off me": someone on top of the resident or holding her is distress, wherever it is said
@pytest.mark.parametrize("text", ["get him off me", "get her off me", "get off me", "get them off me"])
def test_get_him_off_me_calls_staff(text: str) -> None:
    assert conversation_in(ENGINES["en"], "open").decide(text, 1.0, NOW).actions == [("help", {})]
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions[0][0] == "help"


# "ich vermisse sie" (I miss her) is a feeling: no wish to be left alone, the microphone stays on
@pytest.mark.parametrize("text", ["ich vermisse sie", "ich vermisse ihn", "sie fehlt mir", "ich vermisse meinen mann",
                                  "ich vermisse dich", "ich vermisse euch"])
def test_missing_someone_is_no_privacy_request(text: str) -> None:
    assert conversation_in(ENGINES["de"], "open").decide(text, 1.0, NOW).label != "privacy_on"
    assert declined("de", "nein danke").decide(text, 1.0, NOW).actions[0][0] not in ("help", "privacy_on")


def test_missing_someone_answers_how_are_you_as_lonely() -> None:
    conv = conversation_in(ENGINES["de"], "open")
    conv.start_checkin()
    assert conv.decide("ich vermisse sie so", 1.0, NOW).label == "lonely"


@pytest.mark.parametrize(("word", "bad"), [("me", True), ("not", True), ("in here", False)])
def test_the_check_refuses_a_word_after_her_that_is_the_speaker_or_a_no(tmp_path: Path, word: str, bad: bool
                                                                        ) -> None:
    pack_file = tmp_path / "pack.yaml"
    text = (ROOT / "dialogs" / "en" / "pack.yaml").read_text(encoding="utf-8")
    pack_file.write_text(text.replace("    hither: [", f"    hither: [{word}, ", 1), encoding="utf-8")
    found = [p for p in help_problems(pack_file, load_pack(pack_file)) if "help.hither" in p.path]
    assert [(p.path, p.value) for p in found] == ([("understanding.help.hither.0", word)] if bad else [])
