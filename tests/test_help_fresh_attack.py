"""Help attacked after the accuracy tuning, with wordings that mix a call for help with the rules it added.

Each case here was dropped or only asked about on the landed engine: the words go through the dialog
engine and the conversation as the dialog thread hands them on, in every context.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pytest

from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .broker import SITE, STAFF, Broker, Client, alerts, robot_config
from .conftest import start_idle, wait_for
from .test_help_words_attack import assert_reaches_staff

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
CONTEXTS = ("open", "reminder", "wellbeing", "quiz", "privacy", "speaking", "booting")
ENGINES = {lang: DialogEngine(load_pack(ROOT / "dialogs" / lang)) for lang in ("en", "de", "ko")}

# An interjection ("oh no", "never", "no") before the speaker's own words negates nothing in them: these
# were read as a "no" (open, reminder), "fine" (wellbeing) or nothing at all, or only asked about.
INTERJECTED = {"en": ["oh no, I can't breathe", "never, I can't breathe", "I'm very well, oh no, I fell",
                      "oh no, I fell", "oh no, I need a nurse", "oh no, help me", "oh dear no, get the nurse"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in INTERJECTED.items() for t in ts])
def test_an_interjected_no_before_the_speaker_negates_nothing(lang: str, text: str) -> None:
    for context in CONTEXTS:
        label = conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label
        assert label == "help", f"{context}: {text!r} was taken as {label!r}"


# Distress in another language whose words the robot's own language shares ("fallen" is German too): its own words
# were taken out first, what was left held no distress, and the German robot took "I've fallen" as a yes.
SHARED = {"de": ["I've fallen", "I have fallen", "I've had a fall", "oh no I have fallen over"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in SHARED.items() for t in ts])
def test_distress_in_another_language_that_shares_its_words_is_asked_about(lang: str, text: str) -> None:
    for context in CONTEXTS:
        label = conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label
        assert label in ("help", "ask"), f"{context}: {text!r} was taken as {label!r}"


@pytest.mark.parametrize("text", ["auf jeden Fall", "das ist der Fall", "mir ist nichts eingefallen"])
def test_the_robots_own_language_keeps_its_shared_words(text: str) -> None:
    assert conversation_in(ENGINES["de"], "open").decide(text, 1.0, NOW).label not in ("help", "ask")


# Injuries, accidents, being stuck, fire and smoke, trembling: no pack held them, so each was read as nothing
UNHEARD = {"en": ["I've injured myself", "I've had an accident", "I've soiled myself", "I tripped", "I'm stuck",
                  "I can't get out of the bath", "there's smoke", "there's a fire", "there's a man in my room"],
           "de": ["ich habe mich verletzt", "ich hatte einen Unfall", "ich stecke fest", "Feuer",
                  "ich komme nicht aus der Badewanne", "ich zittere am ganzen Körper", "ich hab mich geschnitten",
                  "es riecht nach Rauch"],
           "ko": ["머리를 부딪쳤어요", "사고가 났어요", "불이야", "연기가 나요", "욕조에서 못 나와요", "칼에 베였어요"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in UNHEARD.items() for t in ts])
def test_an_injury_an_accident_or_a_fire_is_asked_about(lang: str, text: str) -> None:
    assert_reaches_staff(ENGINES[lang], lang, text)


# The nurse call did not bring anyone, or cannot be found: read as nothing, or as a "no" ("no one's answering")
BELL = {"en": ["I rang the bell and nobody came", "I've pressed the button and no one's come",
               "no one's answering the bell", "where's my call button", "I need the loo urgently"],
        "de": ["ich habe geklingelt und keiner kam", "wo ist meine Klingel", "ich muss dringend aufs Klo"],
        "ko": ["벨을 눌렀는데 아무도 안 와요", "벨 어디 있어요", "화장실 급해요"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in BELL.items() for t in ts])
def test_a_nurse_call_that_brought_no_one_is_asked_about(lang: str, text: str) -> None:
    assert_reaches_staff(ENGINES[lang], lang, text)


# A contraction typed without its apostrophe ("cant") was no "can not": "i cant get up" was read as nothing
BARE = ["i cant get up", "cant get up", "im on the floor and i cant move", "ive fallen"]


@pytest.mark.parametrize("text", BARE)
def test_distress_without_apostrophes_is_still_distress(text: str) -> None:
    for context in CONTEXTS:
        label = conversation_in(ENGINES["en"], context).decide(text, 1.0, NOW).label
        assert label == "help", f"{context}: {text!r} was taken as {label!r}"


# Text in decomposed Unicode (NFD: Hangul as separate jamo, "ü" as "u" and a combining mark), as some keyboards and
# text tools send it, and zero-width characters: every Korean help phrase was read as nothing
@pytest.mark.parametrize(("lang", "text"), [("ko", "넘어졌어요"), ("ko", "도와주세요"),
                                            ("ko", "할아버지 숨을 못 쉬어요"),
                                            ("de", "mir ist übel und ich bin gestürzt"), ("en", "he\u200blp me")])
def test_help_in_decomposed_unicode_is_still_help(lang: str, text: str) -> None:
    text = unicodedata.normalize("NFD", text)
    for context in CONTEXTS:
        label = conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label
        assert label == "help", f"{context}: {text!r} was taken as {label!r}"


# "Fine" in answer to "how are you feeling?", with a worry beside it: the worry was dropped and the answer was fine
@pytest.mark.parametrize(("lang", "text"), [("en", "fine, but I'm scared"), ("en", "yes fine, but I wet the bed"),
                                            ("de", "mir geht es gut, aber ich habe Angst"),
                                            ("ko", "괜찮은데 무서워요")])
def test_fine_with_a_worry_beside_it_is_asked_about(lang: str, text: str) -> None:
    assert conversation_in(ENGINES[lang], "wellbeing").decide(text, 1.0, NOW).label == "ask"


# The Herz idiom rule ("am Herzen liegen") ate "am Herzen" whole: "ich hab's am Herzen" (heart trouble) was nothing
@pytest.mark.parametrize("text", ["ich habe es am Herzen", "ich hab's am Herzen", "ich hab was am Herzen"])
def test_heart_trouble_said_am_herzen_is_asked_about(text: str) -> None:
    assert conversation_in(ENGINES["de"], "open").decide(text, 1.0, NOW).label in ("help", "ask")


@pytest.mark.parametrize("text", ["das liegt mir am Herzen", "meine Enkel liegen mir sehr am Herzen"])
def test_what_lies_close_to_the_heart_is_no_heart_trouble(text: str) -> None:
    assert conversation_in(ENGINES["de"], "open").decide(text, 1.0, NOW).label not in ("help", "ask")


# A request whose verb is inflected ("getting", "calling") was read as nothing: help words matched the bare verb only
INFLECTED = {"en": ["would you mind getting the nurse", "could you be calling the doctor",
                    "fetching the nurse would be good"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in INFLECTED.items() for t in ts])
def test_an_inflected_request_for_a_person_is_asked_about(lang: str, text: str) -> None:
    for context in CONTEXTS:
        label = conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label
        assert label in ("help", "ask"), f"{context}: {text!r} was taken as {label!r}"


@pytest.mark.parametrize(("lang", "text"), [("en", "the nurse is coming at three"), ("en", "the doctor called round"),
                                            ("de", "die Schwester kommt gleich")])
def test_what_a_nurse_does_is_no_request(lang: str, text: str) -> None:
    assert conversation_in(ENGINES[lang], "open").decide(text, 1.0, NOW).label not in ("help", "ask")


# A no corrected in the same breath, by a yes or a short request, answered "Shall I call a nurse?" with a no
CORRECTED = {"en": ["no wait yes", "no, yes", "oh no, please do", "no, please do", "no, call her"],
             "de": ["nein warte ja", "nein, ja", "nein, bitte holen Sie sie", "ach nein, doch ja"],
             "ko": ["아니 잠깐 네", "아니 네", "아니 그래 불러"]}
STILL_NO = {"en": ["no", "no thanks", "no, I'm okay", "no, I'm fine thanks", "no, of course not",
                   "no, I'll call you if I need you"],
            "de": ["nein", "nein danke", "nein, mir geht's gut"], "ko": ["아니요", "아니요 괜찮아요", "아니 괜찮아"]}


def _answer(lang: str, text: str) -> str:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    return conv.decide(text, 1.0, NOW).label


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in CORRECTED.items() for t in ts])
def test_a_no_corrected_in_the_same_breath_never_cancels_the_call(lang: str, text: str) -> None:
    assert _answer(lang, text) in ("yes", "help", "unclear")  # each calls staff


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in STILL_NO.items() for t in ts])
def test_a_plain_no_still_cancels_the_call(lang: str, text: str) -> None:
    assert _answer(lang, text) == "no"


@pytest.mark.parametrize("text", ["no, I didn't fall", "no, I never fell", "I haven't fallen",
                                  "no, I don't need the nurse", "oh no, I don't need help"])
def test_a_negation_of_the_help_words_themselves_still_turns_them_round(text: str) -> None:
    assert conversation_in(ENGINES["en"], "open").decide(text, 1.0, NOW).label != "help"


def test_oh_no_i_cannot_breathe_reaches_staff_through_the_running_robot(config: Config, broker: Broker) -> None:
    """Said to the running robot, with no question asked: a high help alert at a staff subscriber (real mosquitto)."""
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    rt = start_idle(robot_config(config, broker, heartbeat_s=1))
    try:
        rt.hear("oh no, I can't breathe")
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10), rt.behaviour.state
        assert alerts(staff, type="help_request", state="raised")[0]["priority"] == "high"
    finally:
        rt.stop()
        staff.close()
