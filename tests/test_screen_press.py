"""A screen button does what its spoken twin, heard for sure, does in the same dialog context
(robot.conversation.Conversation.press), and is never taken as an answer to a question."""

from __future__ import annotations

import datetime as dt

import pytest

from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .conftest import ROOT

NOW = dt.datetime(2026, 3, 2, 9, 30)


@pytest.fixture(scope="module")
def engine() -> DialogEngine:
    return DialogEngine(load_pack(ROOT / "dialogs" / "en"), seed=1)


def spoken(conv: Conversation, text: str) -> list[tuple[str, dict[str, object]]]:
    return conv.hear(text, 1.0, NOW)


@pytest.mark.parametrize("state", ["idle", "reminding"])
def test_say_that_again_does_what_the_words_do(engine: DialogEngine, state: str) -> None:
    by_voice, by_button = Conversation(engine), Conversation(engine)
    for conv in (by_voice, by_button):
        conv.hear("what is your name", 1.0, NOW)
        conv.set_context(state)
    assert by_button.press("repeat", NOW) == spoken(by_voice, "say that again")


def test_slower_does_what_the_words_do(engine: DialogEngine) -> None:
    by_voice, by_button = Conversation(engine), Conversation(engine)
    assert by_button.press("slower", NOW) == spoken(by_voice, "slower please")
    assert by_button.rate_step == by_voice.rate_step == -1


def test_a_button_never_answers_the_help_question_nor_speaks_in_privacy(engine: DialogEngine) -> None:
    conv = Conversation(engine)
    conv.set_context("confirming")
    assert conv.press("repeat", NOW) == [("say", {"key": "help_confirm"})]  # asked again, never "unclear"
    assert conv.context == "confirm"
    conv.set_context("privacy")
    assert conv.press("repeat", NOW) == []
    assert conv.press("slower", NOW) == [] and conv.rate_step == -1  # still slower for later


def test_a_button_leaves_a_wellbeing_question_instead_of_answering_it(engine: DialogEngine) -> None:
    conv = Conversation(engine)
    conv.hear("what is your name", 1.0, NOW)
    conv.start_checkin()
    assert conv.press("repeat", NOW)[0][0] == "heard" and conv.context == "open"
