"""Everyday answers in the residents' own words: reminder answers that put it off or forgot, a negation
before the word it turns round, and wellbeing idioms (issue 10). Through Conversation.decide, as the
dialog thread calls it; the wordings are our own, in no pack and no corpus."""

from __future__ import annotations

import datetime as dt

import pytest

from robot.bench.understanding import conversation_in
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .conftest import ROOT

NOW = dt.datetime(2026, 3, 2, 9, 30)
ENGINES: dict[str, DialogEngine] = {}


def decide(lang: str, context: str, text: str) -> str:
    if lang not in ENGINES:
        ENGINES[lang] = DialogEngine(load_pack(ROOT / "dialogs" / lang), seed=1)
    return conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label


@pytest.mark.parametrize(("lang", "text", "label"), [
    ("en", "maybe later pet, the racing is on", "no"),  # put off: not done, so staff may check
    ("en", "it went clean out of my head, love", "no"),
    ("en", "no, i'm not sure, maybe later", "unclear"),  # a doubt that is no deferral stays unclear
    ("en", "i haven't done it", "no"),
    ("de", "später vielleicht, mein kind", "no"),
    ("de", "die hab ich noch nicht genommen", "no"),  # "genommen" after "nicht" is no yes
    ("de", "ich weiß nicht mehr, ob ich die hatte", "unclear"),
    ("ko", "이따 먹을게요", "no"),
    ("ko", "안 먹었어", "no"),
])
def test_reminder_answers(lang: str, text: str, label: str) -> None:
    assert decide(lang, "reminder", text) == label


@pytest.mark.parametrize(("lang", "text", "label"), [
    ("en", "fit as a fiddle, thank you love", "fine"),
    ("en", "i'm not tired at all, can't complain", "fine"),  # "tired" after "not" is no tiredness
    ("en", "i've been full of cold all week", "unwell"),
    ("de", "ich kann mich wirklich nicht beklagen", "fine"),
    ("de", "ich hab kein auge zugemacht, kein auge zugetan", "tired"),
    ("ko", "밤에 잠을 설쳐서 피곤해요", "tired"),
])
def test_wellbeing_idioms(lang: str, text: str, label: str) -> None:
    assert decide(lang, "wellbeing", text) == label


def test_a_word_said_of_switching_off_is_no_complaint() -> None:
    # "a bit off" is a complaint; "off for a bit" (the words in another order) is not one
    assert decide("en", "open", "turn your camera off for a bit") == "privacy_on"


def test_a_reminder_s_own_answers_count_only_as_its_answers() -> None:
    # "had" and "still" answer a reminder; said in passing they are no yes or no
    assert decide("en", "reminder", "had it with my porridge ages ago") == "yes"
    assert decide("en", "reminder", "it's still sat in the little cup") == "no"
    assert decide("en", "open", "i had a lovely bit of cod for lunch") not in ("yes", "no")


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "oh, these shoulders of mine, don't ask"),
    ("de", "meine knie wollen heut nicht mehr"),
    ("ko", "어깨가 영 시원찮아"),
])
def test_a_body_part_of_one_s_own_in_answer_to_how_are_you_is_pain(lang: str, text: str) -> None:
    assert decide(lang, "wellbeing", text) == "in_pain"


def test_a_body_part_said_to_be_well_is_no_pain() -> None:
    assert decide("en", "wellbeing", "my knees are much better, thank you") == "fine"


@pytest.mark.parametrize("lang", ["en", "de", "ko"])
def test_no_doubt_or_story_phrase_reads_as_a_complaint(lang: str) -> None:
    # A doubt that synonyms turn into a complaint word ("not a hundred percent" read as "unwell") would make
    # every complaint doubt itself, and a request for a nurse said with one only be asked about.
    decide(lang, "open", "hello")
    helper = ENGINES[lang].helper
    complaints = {p.parts[0] for p in (*helper.unsure, *helper.distress) if len(p.parts) == 1}
    wrong = [(name, p.source) for name in ("doubts", "past", "present") for p in getattr(helper, name)
             if set(p.parts) & complaints]
    assert wrong == []


def test_a_nurse_who_gave_something_is_no_call_for_one() -> None:
    # "간호사가 ... 줘서" (the nurse gave it, so ...) tells what happened; "간호사 불러 줘" asks for one
    assert decide("ko", "reminder", "조금 전에 간호사가 약을 챙겨 줘서 다 먹었어요") == "yes"
    assert decide("ko", "open", "간호사가 와 줘서 참 고마웠어") not in ("help", "ask")
    assert decide("ko", "open", "간호사 좀 빨리 불러 줘") == "help"


@pytest.mark.parametrize(("lang", "text", "label"), [
    ("de", "nun hör doch bitte mal auf", "stop"),  # "hör auf", with the particles between its words
    ("en", "robin, slow down please dear a bit", "slower"),
])
def test_fillers_between_a_keyword_s_words_do_not_break_it(lang: str, text: str, label: str) -> None:
    assert decide(lang, "open", text) == label


def test_a_short_question_staff_wrote_for_another_intent_is_no_call_but_a_short_call_still_is() -> None:
    assert decide("de", "open", "wer bist du?") == "name"  # "wer" may call someone ("kann mal wer kommen")
    assert decide("de", "open", "schwester!") == "help"
    assert decide("en", "open", "nurse, quick") == "help"
