"""Help words about someone else or long ago (issue 10): a story is not a call, but whatever may be
happening now is still asked about, and a cry for help is always help. Through Conversation.decide, as
the dialog thread does, with the real packs; the wordings are our own and in no pack.
"""

from __future__ import annotations

import datetime as dt

import pytest

from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .conftest import ROOT

NOW = dt.datetime(2026, 3, 2, 9, 30)


def label(lang: str, text: str) -> str:
    return Conversation(DialogEngine(load_pack(ROOT / "dialogs" / lang), seed=1)).decide(text, 1.0, NOW).label


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "my cousin took a tumble on the ice years ago"),
    ("en", "my grandson fell off his bike last summer"),
    ("en", "her brother is a doctor up in leeds"),
    ("de", "mein onkel ist vor jahren vom dach gefallen"),
    ("ko", "우리 딸이 간호사예요"),
    ("ko", "작년에 친구가 넘어졌어"),
])
def test_a_story_about_others_or_long_ago_neither_calls_nor_asks(lang: str, text: str) -> None:
    assert label(lang, text) not in ("help", "ask")


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "my husband has fallen in the bathroom"),
    ("en", "she can't breathe properly"),
    ("en", "my wife fell, can someone come"),
    ("de", "mein mann ist gerade gestürzt"),
    ("ko", "남편이 방금 넘어졌어요"),
])
def test_someone_elses_distress_that_may_be_happening_now_is_asked_about(lang: str, text: str) -> None:
    assert label(lang, text) in ("ask", "help")


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "one of them's gone down the wrong way i'm choking"),  # "them" are the tablets: the speaker chokes
    ("en", "i'm choking on one of them"),
    ("en", "my husband is choking"),
    ("de", "mein mann erstickt"),
    ("de", "meine frau ist bewusstlos"),
    ("ko", "남편이 숨을 못 쉬어요"),
    ("en", "my neighbour can't breathe"),
    ("de", "meine Nachbarin kriegt keine Luft"),  # the acute list: minutes count
])
def test_an_emergency_in_the_room_is_raised_whoever_has_it(lang: str, text: str) -> None:
    assert label(lang, text) == "help"


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "my husband choked on a fishbone years ago"),
    ("de", "mein opa hat sich im krieg verschluckt"),
    ("ko", "옛날에 친구가 기절했어"),
    ("en", "my husband fell down the stairs years ago"),
    ("en", "my brother fell off a ladder when I was young"),
    ("en", "in the film the man fell off a cliff"),
    ("de", "mein Mann ist vor Jahren gestürzt"),
    ("de", "im Fernsehen ist einer vom Pferd gestürzt"),
    ("ko", "몇 년 전에 남편이 넘어졌어요"),
])
def test_an_emergency_long_ago_is_a_story(lang: str, text: str) -> None:
    assert label(lang, text) not in ("help", "ask")


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "help, my chest, like my father years ago"),
    ("de", "hilfe, wie damals im krieg"),
])
def test_a_cry_for_help_is_help_whatever_else_is_said(lang: str, text: str) -> None:
    assert label(lang, text) == "help"


def test_a_german_negation_word_is_no_compound_of_a_call_word() -> None:
    # "keiner" holds the letters of the call word "einer" (somebody), but it means nobody
    conv = Conversation(DialogEngine(load_pack(ROOT / "dialogs" / "de"), seed=1))
    conv.start_checkin()
    assert conv.decide("keiner ruft mich je an", 1.0, NOW).label not in ("help", "ask")
