"""A German statement asks for nothing (robot.sentence_mood): the rule alone, on words as the reader gives them."""

from __future__ import annotations

import pytest

from robot.sentence_mood import remark


@pytest.mark.parametrize(("words", "intent"), [
    ("gestern war ich beim singen", "activities"),  # the past, even with "ich"
    ("am sonntag habe ich geburtstag", "date"),  # any statement not opening with "ich", for the date
    ("die kirchturmuhr schlägt so laut", "louder"),  # other things, no one spoken to
    ("meine enkelin redet immer so schnell", "slower"),
])
def test_a_statement_is_a_remark(words: str, intent: str) -> None:
    assert remark(tuple(words.split()), intent)


@pytest.mark.parametrize(("words", "intent"), [
    ("ist heute bingo", "activities"),  # the verb first: a question
    ("wann ist heute das kegeln", "activities"),  # a W-word
    ("heute ist montag oder", "date"),  # a tag question
    ("ich langweile mich", "activities"),  # "ich" in the present asks
    ("das ist mir zu leise", "louder"),  # about the speaker
    ("sie reden zu schnell", "slower"),  # spoken to the robot
    ("heute bingo", "activities"),  # no verb: it may be a question
])
def test_a_question_or_a_request_is_none(words: str, intent: str) -> None:
    assert not remark(tuple(words.split()), intent)
