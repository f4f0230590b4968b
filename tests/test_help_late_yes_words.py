"""The short ask after a no to the help question ("I need her"), attacked as a confused or distressed resident says it.

Wrong before, each through the dialog engine and the conversation as the dialog thread hands them on:
- the speaker with others wishing ("we need her", "wir brauchen sie") was someone else's wish: the question was
  asked again, though the resident is one of those who need her;
- a word that only stresses the wish ("really need her", "ich brauche sie wirklich", "ich brauche sie dringend")
  asked again or fell to clarify: before the wish it read as someone else, after her as more than a request;
- "I'd like you to call her" (seven words) was clarify: SHORT_ASK was six.
"""

from __future__ import annotations

import pytest

from .test_help_pause_attack import LATE, NOW, declined

NO = {"en": "no thanks", "de": "nein danke", "ko": "아니요"}
ASKED_AGAIN = [("ask_help", {"reason": "changed_mind"})]

CALLS = [("en", "we need her"), ("en", "we do need her"), ("en", "we really need her"), ("en", "really need her"),
         ("en", "I need her really"), ("en", "I need her badly"), ("en", "I'd like you to call her"),
         ("de", "wir brauchen sie"), ("de", "ich brauche sie wirklich"), ("de", "ich brauche sie dringend")]


@pytest.mark.parametrize(("lang", "text"), CALLS)
def test_a_late_request_for_her_stressed_or_said_by_us_calls_staff(lang: str, text: str) -> None:
    assert declined(lang, NO[lang]).decide(text, 1.0, NOW).actions == LATE


# ... while someone spoken to wishing still has the question asked again, stressed or not
@pytest.mark.parametrize("text", ["do you really need her", "do you need her badly"])
def test_a_stressed_wish_of_the_one_spoken_to_asks_the_question_again(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions == ASKED_AGAIN


# "we'll call her", "wir holen sie" called staff before and still do: the resident may mean herself with the robot
@pytest.mark.parametrize(("lang", "text"), [("en", "we'll call her"), ("en", "we will get her"),
                                            ("de", "wir holen sie")])
def test_we_acting_still_calls_staff(lang: str, text: str) -> None:
    assert declined(lang, NO[lang]).decide(text, 1.0, NOW).actions == LATE


# ... and her sent away, a thing back, or her called later or for a thing, calls no one
@pytest.mark.parametrize("text", ["I'd like you to call her later", "I'd like you to call her a taxi",
                                  "I'd like you to call my son", "I want the telly back", "bring them back",
                                  "I really want her to go", "they really need her", "send her back home"])
def test_her_sent_away_or_a_thing_back_calls_no_one(text: str) -> None:
    assert declined("en", "no thanks").decide(text, 1.0, NOW).actions[0][0] != "help"
