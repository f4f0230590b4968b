"""The help question's no taken back, attacked after the turn words landed (robot.help_answer.turns_back,
Conversation._taken_back).

Wrong before: a turn, then a wish for the staff offered worded at ordinary length, was a no. "no, on second
thoughts I would like her to come" and "no, actually could you ask her to come" (six words after the turn, one
more than a short request was allowed) cancelled the call, and said as the next utterance after "no thanks" they
were the fallback: silence. A wish for a thing of the speaker's own at that length stays a no.

And a guard: a turn alone after a no asks the question again, and the same turn said again as its answer is not
asked again forever: it is unclear, and staff are called at medium priority.
"""

from __future__ import annotations

import pytest

from robot.bench.understanding import conversation_in

from .test_help_answer_turns import ENGINES
from .test_help_pause_attack import LATE, NOW, declined

# A turn, then a request for her said at ordinary length: the no taken back
WISH_AT_LENGTH = ["on second thoughts I would like her to come", "actually could you ask her to come",
                  "actually I would like them to come please", "wait, could you get her to come"]
# ... a wish for the speaker's own thing at that length is still a no
THING_AT_LENGTH = ["actually I would like my tea now please", "wait, I'd like a little sleep now please"]


@pytest.mark.parametrize("text", WISH_AT_LENGTH)
def test_a_no_then_a_turn_and_a_request_for_her_at_length_is_a_yes(text: str) -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide(f"no, {text}", 1.0, NOW).actions == [("help_yes", {})]


@pytest.mark.parametrize("text", WISH_AT_LENGTH)
def test_a_turn_and_a_request_for_her_at_length_said_next_calls_staff(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions == LATE


@pytest.mark.parametrize("text", THING_AT_LENGTH)
def test_a_turn_and_a_wish_for_a_thing_at_length_is_still_a_no(text: str) -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide(f"no, {text}", 1.0, NOW).actions == [("help_no", {})]
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions[0][0] not in ("help", "ask_help")


@pytest.mark.parametrize(("lang", "turn"), [("en", "wait"), ("de", "warte"), ("ko", "잠깐만")])
def test_a_turn_alone_said_again_to_the_question_asked_again_calls_staff(lang: str, turn: str) -> None:
    conv = declined(lang, {"en": "no thanks", "de": "nein danke", "ko": "아니요 괜찮아요"}[lang])
    assert conv.decide(turn, 1.0, NOW).actions[0][0] == "ask_help"
    conv.set_context("confirming")  # the question asked again
    assert conv.decide(turn, 1.0, NOW).actions == [("help_unclear", {})]


# "I need HER" after a no takes it back (her: the pack's `others`); German says it with "sie", which is also the
# polite "you" and so can be no `others` word: the pack's `whom` names the staff after a request instead
NEED_HER = [("de", "nein danke", "doch, ich brauche sie"), ("de", "nein danke", "ich brauche sie doch"),
            ("de", "nein danke", "doch, ich brauche Sie"), ("de", "nein danke", "doch, ich möchte sie sehen"),
            ("en", "no thanks", "actually, I need her"),
            # ... and with no turn word, or one at the end: a short request whose object is her, the staff or
            # someone, just after the nurse was declined, can only be for the nurse (it was a joke, or the fallback)
            ("en", "no thanks", "I need her"), ("en", "no thanks", "I need her actually"),
            ("en", "no thanks", "I do need her after all"), ("en", "no thanks", "call her please"),
            ("en", "no", "get the nurse"), ("de", "nein danke", "ich brauche sie"),
            ("de", "nein danke", "rufen sie sie doch"), ("de", "nein", "holen sie die schwester")]


@pytest.mark.parametrize(("lang", "no", "text"), NEED_HER)
def test_i_need_her_after_a_no_calls_staff(lang: str, no: str, text: str) -> None:
    assert declined(lang, no).decide(text, 1.0, NOW).actions in (LATE, [("help", {})])  # the change of mind, or help


# ... not her: no, the speaker's own thing, someone of her own, or more than a short request
NOT_HER = {"de": ["doch, ich brauche sie nicht", "doch, ich brauche meine brille", "ich brauche sie nicht",
                  "rufen sie meine tochter an"],
           "en": ["I need my glasses", "can you call my daughter", "I want them to leave me alone", "I don't need her"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, text) for lang, texts in NOT_HER.items() for text in texts])
def test_i_do_not_need_her_or_my_own_thing_is_still_no_call(lang: str, text: str) -> None:
    no = {"en": "no thanks", "de": "nein danke"}[lang]
    assert declined(lang, no).decide(text, 1.0, NOW).actions[0][0] not in ("help", "ask_help")


@pytest.mark.parametrize(("lang", "words"), [(lang, words) for lang in ("en", "de") for words in ("whom", "hither")])
def test_the_words_for_her_are_in_the_recognisers_grammar_where_the_answer_is_said(lang: str, words: str) -> None:
    """A grammar drops every word outside it: without them "I need her" was heard "I need", and "call her for me"
    would be heard "call her" (help.hither, said after the no in the open dialog only)."""
    engine = ENGINES[lang]
    listed = getattr(engine.pack.lexicon, words)
    assert listed
    for context in ("confirm", "open", "reminder") if words == "whom" else ("open",):
        heard = set(" ".join(engine.grammar(context)).split())
        assert set(" ".join(listed).split()) <= heard, context


# Attacked after "I need her" landed. Wrong: any ask with a word for a person at once was the nurse after all, so
# these called staff at high priority: someone else's wish ("they need her"), a question to the robot ("brauchen
# Sie mich?", "möchten Sie Tee"), the person sent off or given something ("get them off", "send her away", "call
# her a taxi", "holen Sie ihn weg"), or put off ("call him later"). What follows the person must be a request's
# words at most (fillers, "please", another word for her), no one but the speaker may want her, and the speaker
# named after her is the one wanted ("do you need me").
NOT_FOR_HER = [("en", t) for t in ("call her a taxi", "call them names", "I need them tablets", "get them off",
                                   "get him out", "send her away", "send them home", "I want her gone",
                                   "call him later", "bring them back", "they need her", "he wants her",
                                   "she needs him", "do you need me")] + [
    ("de", t) for t in ("brauchen Sie mich", "brauchen sie was", "möchten sie tee", "kommen sie mit",
                        "kommen sie gut heim", "holen sie ihn weg", "er braucht sie", "sie braucht ihn")]


@pytest.mark.parametrize(("lang", "text"), NOT_FOR_HER)
def test_a_short_ask_for_someone_that_is_not_for_her_calls_no_one(lang: str, text: str) -> None:
    no = {"en": "no thanks", "de": "nein danke"}[lang]
    assert declined(lang, no).decide(text, 1.0, NOW).actions[0][0] != "help"


# ... and missed: the request was only the first ask word, so a "please" or "bitte" first, or an ask of two words
# ("ring for"), put her out of reach
@pytest.mark.parametrize(("lang", "text"), [("en", "please get her"), ("en", "ring for her"),
                                            ("en", "please call them"), ("de", "bitte holen sie sie"),
                                            ("de", "bitte ruf sie")])
def test_a_short_ask_for_her_after_a_please_calls_staff(lang: str, text: str) -> None:
    no = {"en": "no thanks", "de": "nein danke"}[lang]
    assert declined(lang, no).decide(text, 1.0, NOW).actions == LATE


# A reminder owed during the window has been asked since the no: "I need them", "ich brauche sie" are the tablets
@pytest.mark.parametrize(("lang", "text"), [("en", "I need them"), ("en", "I want them please"),
                                            ("de", "ich brauche sie"), ("de", "ich möchte sie")])
def test_i_need_them_to_a_reminder_after_the_no_is_about_the_tablets(lang: str, text: str) -> None:
    conv = declined(lang, {"en": "no thanks", "de": "nein danke"}[lang])
    conv.set_context("reminding")
    assert conv.decide(text, 1.0, NOW).actions == [("say", {"key": "reminder_unclear"})]


# ... and one that doubts itself ("maybe get her", "vielleicht holen Sie sie") was a high-priority call: a doubt asks
# the question again, as it would have asked the first time
@pytest.mark.parametrize(("lang", "text"), [("en", "maybe get her"), ("en", "perhaps call her"),
                                            ("en", "should I get her"), ("de", "vielleicht holen sie sie")])
def test_a_short_ask_for_her_that_doubts_asks_the_question_again(lang: str, text: str) -> None:
    no = {"en": "no thanks", "de": "nein danke"}[lang]
    assert declined(lang, no).decide(text, 1.0, NOW).actions == [("ask_help", {"reason": "changed_mind"})]


# After "no, not that help" the robot asks what else it can do: "I need her", "I need them" answer that (a daughter,
# the glasses), and were a high-priority call for the nurse just declined. A turn word still takes the no back.
@pytest.mark.parametrize(("lang", "pointing", "text"), [("en", "no, not that help", "I need her"),
                                                        ("en", "no, not that kind of help", "I need them"),
                                                        ("en", "no, not that help", "get her please"),
                                                        ("de", "nein, nicht diese hilfe", "ich brauche sie")])
def test_i_need_her_after_the_help_was_pointed_away_is_no_call(lang: str, pointing: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    assert conv.decide(pointing, 1.0, NOW).actions == [("help_no", {"other": True})]
    conv.set_context("listening")
    assert conv.decide(text, 1.0, NOW).actions[0][0] != "help"


def test_a_turn_after_the_help_was_pointed_away_still_calls_staff() -> None:
    conv = conversation_in(ENGINES["en"], "open")
    conv.set_context("confirming")
    assert conv.decide("no, not that help", 1.0, NOW).actions == [("help_no", {"other": True})]
    conv.set_context("listening")
    assert conv.decide("actually, call her", 1.0, NOW).actions == LATE


# Korean drops the object: "불러 줘" ([her] call, please) after "아니요" was the fallback, "빨리 불러 주세요" too, and
# "불러 주세요" asked the question again. A short request of request words alone (fillers aside, two words or
# more) said soon after the no is for the nurse just offered; a request for something named is not.
@pytest.mark.parametrize(("no", "text"), [(no, t) for no in ("아니요", "아니요 괜찮아요")
                                          for t in ("불러 줘", "불러 주세요", "와 주세요", "빨리 불러 주세요")])
def test_a_korean_request_with_its_object_dropped_after_a_no_calls_staff(no: str, text: str) -> None:
    assert declined("ko", no).decide(text, 1.0, NOW).actions == LATE


@pytest.mark.parametrize(("lang", "text"), [("ko", "노래 불러 주세요"), ("ko", "이름 불러 주세요"), ("ko", "주세요"),
                                            ("ko", "물 주세요"), ("ko", "불러 주지 마세요"),
                                            ("ko", "나중에 불러 주세요"),
                                            ("en", "please"), ("en", "please please"), ("de", "bitte"),
                                            ("de", "schnell bitte"), ("de", "ich brauche"), ("en", "I need")])
def test_a_request_for_a_thing_or_a_please_alone_after_a_no_calls_no_one(lang: str, text: str) -> None:
    no = {"en": "no thanks", "de": "nein danke", "ko": "아니요"}[lang]
    assert declined(lang, no).decide(text, 1.0, NOW).actions[0][0] != "help"
