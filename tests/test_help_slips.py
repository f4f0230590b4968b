"""A help word slipped by one letter, or in Korean by a stray space, is asked about; an ordinary word is not.

The typed console, the screen and recognisers other than Vosk with a grammar give "hepl", "nurce", "Krankenwagn" or
"살 려 주세요": they were nothing, a quiz answer, or "tired". Now the robot asks "Shall I call a nurse?". An ordinary
word one letter from a help word ("hell of a day", "he held the door for me", "my purse") is what it says, and a
rare one ("yelp") is read as help only inside a help phrase ("yelp me"). The words go through the dialog engine and
a conversation in every context, as the dialog thread hands them on.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from robot import help_slips
from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack
from robot.help_slips import _NEIGHBOURS

from .broker import Broker
from .test_help_words_attack import answering_the_help_question_reaches_staff

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
CONTEXTS = ("open", "reminder", "wellbeing", "quiz", "speaking")
ENGINES = {lang: DialogEngine(load_pack(ROOT / "dialogs" / lang)) for lang in ("en", "de", "ko")}

SLIPS = {"en": ["hepl me", "yelp me please", "fetch a nurce", "ambulence", "get the docter", "hlep",
                # a letter held as a frightened resident types it: nothing before
                "heeeelp", "nurseee", "heeelp meee"],
         "de": ["Krankenwagn", "holen sie eine schwster", "ich brauche einen artz", "notfal"],
         "ko": ["살 려 주세요", "구급 차 좀 불러 줘요", "간호 사 불러 줘",
                # two stray spaces: nothing, or not asked in every context, before
                "간 호 사 불러 주세요", "구 급 차 좀 불러 줘", "간 호 사님 좀 와 주세요", "구 급 차 를 불러 줘요"]}
ORDINARY = {"en": ["what a hell of a day", "he held the door for me", "my purse is on the table",
                   "the puppy gave a yelp", "the nurses are lovely", "the ball rolled under the bed"],
            "de": ["meine schwestern kommen morgen", "die art wie er redet", "einen eimer wasser"],
            "ko": ["간호사가 참 친절해요", "응 그래요",
                   # one-syllable words side by side that make no help word, or one only a piece began with
                   "그 사 람 이 야", "나 도 잘 몰 라", "이 사 가 는 날", "의 자 에 앉 아"]}


def labels(lang: str, text: str) -> set[str]:
    return {conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label for context in CONTEXTS}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in SLIPS.items() for t in ts])
def test_a_slipped_help_word_is_asked_about_in_every_context(lang: str, text: str) -> None:
    assert labels(lang, text) == {"ask"}, labels(lang, text)


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in ORDINARY.items() for t in ts])
def test_an_ordinary_word_near_a_help_word_calls_no_one(lang: str, text: str) -> None:
    assert not labels(lang, text) & {"ask", "help"}, labels(lang, text)


def test_a_korean_call_split_into_syllables_reaches_staff_through_the_running_robot(config: Config,
                                                                                     broker: Broker) -> None:
    # "간 호 사 불러 주세요" (two stray spaces) was nothing: now the robot asks, and a yes calls staff
    answering_the_help_question_reaches_staff(config, broker, "간 호 사 불러 주세요", "네", "ko")


def test_only_the_help_words_neighbours_are_kept_from_the_word_list() -> None:
    ENGINES["en"].help("hepl")
    kept = [words for (lang, _), words in _NEIGHBOURS.items() if lang == "en"]
    assert kept and all(0 < len(words) < 500 for words in kept)
    assert kept[0]["held"] >= 0.01 > kept[0]["yelp"]  # common against "help", and rare


def test_the_dialog_thread_reads_the_word_list_first_and_a_damaged_one_makes_it_ask(monkeypatch: Any) -> None:
    """The word list is read before the first utterance (it takes seconds on a Pi: a call for help must not wait
    behind it); an install whose list cannot be read reads every near word as the help word (it asks, never misses)."""
    from robot.conversation import Conversation
    from robot.core.dialog_thread import DialogThread
    from robot.core.inputs import Inbox

    engine = DialogEngine(load_pack(ROOT / "dialogs" / "en"))
    key = ("en", engine.slips.targets)
    _NEIGHBOURS.pop(key, None)
    thread = DialogThread(Conversation(engine), Inbox(), None)
    thread.step()  # its first piece of work, before any utterance
    assert key in _NEIGHBOURS and _NEIGHBOURS[key]
    assert not labels("en", "fetch me my purse") & {"ask", "help"}  # the list knows "purse"
    _NEIGHBOURS.pop(key)
    monkeypatch.setattr(help_slips.resources, "files", lambda package: (_ for _ in ()).throw(OSError("gone")))
    try:
        thread = DialogThread(Conversation(engine), Inbox(), None)
        thread.step()
        assert _NEIGHBOURS[key] == {}
        assert labels("en", "fetch me my purse") == {"ask"}  # "purse" is one letter from "nurse"
    finally:
        _NEIGHBOURS.pop(key, None)
