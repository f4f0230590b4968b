"""A negation turns round only the words it belongs to, never a call for help said next to it.

Korean puts its negation right against the verb it denies: 안 just before it ("안 아파"), 않/없 just after
("아프지 않아", "필요 없어"). Read with the English reach of two or three words, the negation of a
neighbouring clause swallowed the call: "안 좋아요, 숨을 못 쉬겠어" (not good, I can't breathe) and
"피가 나, 멈추지 않아" (I'm bleeding, it won't stop) were nothing in every context, and "넘어졌는데
아무도 없어" (I fell and nobody is here) or "도와줘, 아무도 없어" cancelled the call in answer to
"Shall I call a nurse?". A hedged fall ("넘어진 것 같아", I think I fell) and "다쳤어" (I'm hurt) were
nothing too. The words go through the dialog engine and the conversation; one goes the whole way,
through the running robot to a staff subscriber on a real mosquitto.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

from .broker import Broker
from .conftest import planted
from .test_help_words_attack import answering_the_help_question_reaches_staff

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
CONTEXTS = ("open", "reminder", "wellbeing", "quiz", "privacy", "speaking", "booting")
KO = DialogEngine(load_pack(ROOT / "dialogs" / "ko"))

# Help said next to another clause's negation: help at once, in every context and as the question's answer
BESIDE_A_NEGATION = ["안 좋아요 숨을 못 쉬겠어", "피가 나 멈추지 않아", "넘어졌는데 아무도 없어", "도와줘 아무도 없어",
                     "간호사 불러줘 아무도 없어", "안 좋아 넘어졌어", "안 돼 도와줘", "넘어진 것 같아",
                     "쓰러진 거 같아요",
                     # hedged, with the verb in the form "것 같아" takes: these were nothing, or only asked
                     "숨이 찬 것 같아", "못 일어날 것 같아", "가슴이 아픈 것 같아", "다리가 부러진 것 같아"]
# Still turned round by their own negation: asked about, and a no to the question
DENIED = ["간호사 부르지 마세요", "안 넘어졌어", "도와주지 않아도 돼"]


def decide(context: str, text: str) -> str:
    if context == "confirm":
        conv = conversation_in(KO, "open")
        conv.set_context("confirming")
    else:
        conv = conversation_in(KO, context)
    return conv.decide(text, 1.0, NOW).label


@pytest.mark.parametrize("text", BESIDE_A_NEGATION)
def test_help_beside_another_clauses_negation_is_help_in_every_context(text: str) -> None:
    labels = {context: decide(context, text) for context in (*CONTEXTS, "confirm")}
    assert set(labels.values()) == {"help"}, labels


@pytest.mark.parametrize("text", ["다쳤어", "다친 것 같아요", "넘어질 뻔했어"])
def test_being_hurt_is_asked_about(text: str) -> None:
    labels = {context: decide(context, text) for context in CONTEXTS if context != "wellbeing"}
    assert set(labels.values()) == {"ask"}, labels
    assert decide("confirm", text) != "no"


@pytest.mark.parametrize("text", DENIED)
def test_a_call_turned_round_by_its_own_negation_is_still_asked_about(text: str) -> None:
    assert decide("open", text) == "ask"
    assert decide("confirm", text) == "no"


def test_i_fell_and_nobody_is_here_reaches_staff_through_the_running_robot(config: Config, broker: Broker) -> None:
    # "어디 아파", a complaint: the robot asks "간호사를 불러 드릴까요?"; the answer was taken as "no"
    answering_the_help_question_reaches_staff(config, broker, "어디 아파", "넘어졌는데 아무도 없어", "ko")


# In answer to "Shall I call a nurse?" a negation of another clause ("I can't go on", "it won't work") was
# read as a no to the nurse, and cancelled the call; now only a negation against the help words is a no.
OTHER_CLAUSE = {"de": ["ich kann nicht mehr, ich brauche Hilfe", "es geht nicht, ich brauche die Schwester"]}
DENIED_TO_THE_QUESTION = {"en": ["I do not need help", "don't call the nurse"],
                          "de": ["ich brauche keine Hilfe", "nein, ich brauche keine Hilfe",
                                 "ich brauche die Schwester nicht"]}
ENGINES = {lang: DialogEngine(load_pack(ROOT / "dialogs" / lang)) for lang in ("en", "de")}


def answer(lang: str, text: str) -> list[tuple[str, dict[str, object]]]:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    return conv.decide(text, 1.0, NOW).actions


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in OTHER_CLAUSE.items() for t in ts])
def test_another_clauses_negation_never_cancels_the_help_question(lang: str, text: str) -> None:
    actions = answer(lang, text)
    assert ("help_no", {}) not in actions and actions, actions  # help or help_unclear: both call staff


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in DENIED_TO_THE_QUESTION.items() for t in ts])
def test_a_negation_against_the_help_words_still_cancels(lang: str, text: str) -> None:
    assert answer(lang, text) == [("help_no", {})]


def test_dialogs_check_refuses_a_synonym_that_cuts_a_help_words_variants_off(tmp_path: Path) -> None:
    # A careless edit written the wrong way round ("stumbled" as the word, "fallen" as its variant): 'gestürzt'
    # then read as 'gestolpert', while 'hingefallen', a variant of 'gestürzt', still read as 'gestürzt', which
    # no distress phrase held any more. The form and help checks passed, the robot started, and "ich bin
    # hingefallen" was no fall; "prima: [gestürzt]" made it nothing at all.
    from robot.dialog_help_check import help_problems

    pack = planted(tmp_path, "  synonyms:\n", "  synonyms:\n    prima: [gestürzt]\n", "de")
    edited = pack.read_text(encoding="utf-8")
    problems = help_problems(pack, load_pack(pack.parent))
    assert any(p.path == "understanding.synonyms.gestürzt.0" and "'hingefallen'" in p.message
               and p.line == 1 + edited[:edited.index("    gestürzt: [")].count("\n") for p in problems), problems


# A leading "no" answers what the robot said; it does not turn round the request after it (English has "no"
# among its negation words, so "no, call the nurse" was only asked about, in every context).
@pytest.mark.parametrize("text", ["no, call the nurse", "no no I need the nurse", "nope, get me the doctor",
                                  "no, help me", "no, I fell", "no no I fell"])
def test_a_leading_no_does_not_turn_round_the_request_after_it(text: str) -> None:
    for context in CONTEXTS:
        assert conversation_in(ENGINES["en"], context).decide(text, 1.0, NOW).label == "help", context


@pytest.mark.parametrize("text", ["no, don't call the nurse", "no nurse", "no, I do not need help"])
def test_a_leading_no_before_a_denied_or_bare_call_is_still_only_asked_about(text: str) -> None:
    assert conversation_in(ENGINES["en"], "open").decide(text, 1.0, NOW).label == "ask"


@pytest.mark.parametrize("text", ["i don't think i need the nurse really", "i do not think i need a doctor, love",
                                  "i don't reckon i need the doctor"])
def test_a_negation_that_turns_round_a_clause_holding_the_request_reaches_past_the_speaker(text: str) -> None:
    # the "not" belongs to "think", whose object is the request: asked about (raised at once after 1790573);
    # an interjected no still stops at the speaker ("oh no, I can't breathe" is help: tests above and in
    # test_help_fresh_attack)
    for context in ("open", "reminder", "quiz"):
        assert conversation_in(ENGINES["en"], context).decide(text, 1.0, NOW).label == "ask", context


# Synonyms that read "help" in its other senses as 'helpful' ("can't help it", "help out", "no help", "help with
# the") also swallowed a cry for help that was followed by those words: "I need help with the stairs" and "help,
# out here in the corridor" were nothing in every context, "help, it hurts" was only asked about; in Korean
# "도와줄 거예요?" (will you help me?), "도와줘요, 걷는 게 안 돼요" (help, I can't walk) and "도와 달라는 거예요"
# (I am asking for help!) were nothing.
SWALLOWED = {"en": ["help, it hurts", "I need help with the stairs", "help, out here in the corridor",
                    "help to me please", "no, help me"],
             "ko": ["도와줄 거예요", "누가 도와줄 거야", "도와줘요 걷는 게 안 돼요", "도와줘요 걷는 게 힘들어요",
                    "도와 달라는 거예요"]}
OTHER_SENSES = {"en": ["I can't help it", "she helps out in the kitchen", "I help with the flowers",
                       "my daughter helped out at the fete"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in SWALLOWED.items() for t in ts])
def test_a_cry_for_help_is_not_read_as_another_sense_of_help(lang: str, text: str) -> None:
    engine = ENGINES[lang] if lang in ENGINES else KO
    labels = {context: conversation_in(engine, context).decide(text, 1.0, NOW).label for context in CONTEXTS}
    expected = {"ask", "help"} if text == "누가 도와줄 거야" else {"help"}  # a question, not a cry: asked at least
    assert set(labels.values()) <= expected, labels


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in OTHER_SENSES.items() for t in ts])
def test_help_in_its_other_senses_still_calls_no_one(lang: str, text: str) -> None:
    assert conversation_in(ENGINES[lang], "open").decide(text, 1.0, NOW).label not in ("help", "ask")


@pytest.mark.parametrize("text", ["no, I didn't fall", "no bleeding"])
def test_a_leading_no_before_denied_or_bare_distress_raises_nothing(text: str) -> None:
    assert conversation_in(ENGINES["en"], "open").decide(text, 1.0, NOW).label != "help"


# Hedged or plain, a suspected broken bone and breathlessness are distress: "I think I am short of breath" and
# "ich glaube, ich hab mir was gebrochen" were nothing in every context, a broken hip only asked about.
BROKEN_OR_BREATHLESS = {"en": ["I think I am short of breath", "I'm short of breath", "I think I have broken my hip",
                               "my leg is broken I think"],
                        "de": ["ich glaube ich hab mir was gebrochen", "ich glaube mein Bein ist gebrochen"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in BROKEN_OR_BREATHLESS.items() for t in ts])
def test_a_broken_bone_or_breathlessness_is_help_in_every_context(lang: str, text: str) -> None:
    labels = {context: conversation_in(ENGINES[lang], context).decide(text, 1.0, NOW).label for context in CONTEXTS}
    assert set(labels.values()) == {"help"}, labels


# A negated verb of opinion reaches the request however far it stands ("I don't reckon I really need anyone to
# come" was raised at once); a negation with a real request in the next clause ("don't go, I need help") does not.
KO_AND = {**ENGINES, "ko": KO}
FAR_NEGATED = {"en": ["i don't reckon i really need anyone to come", "i don't think we'll be needing the doctor",
                      "no i don't suppose i need you to fetch anyone"],
               "de": ["ich glaube nicht, dass ich die Schwester brauche",
                      "ich denke eigentlich nicht dass wir heute den arzt rufen müssen"],
               "ko": ["굳이 간호사 안 불러도 될 것 같아요"]}
NEXT_CLAUSE = {"en": ["I don't know what's wrong, I need a nurse", "I can't get up, get someone",
                      "don't go, I need help", "don't go i need the nurse", "no no I need the nurse",
                      "I don't want to fuss but please get the doctor", "I don't think I can manage, get someone"],
               "de": ["ich weiß nicht was los ist, hilf mir", "nicht weggehen, ich brauche Hilfe",
                      "nicht weggehen ich brauche die schwester", "ich will nicht stören, aber holen sie den arzt"],
               "ko": ["뭐가 잘못됐는지 모르겠어요 간호사 불러 주세요", "가지 마세요 도와 주세요"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in FAR_NEGATED.items() for t in ts])
def test_a_request_negated_from_afar_is_asked_about(lang: str, text: str) -> None:
    labels = {context: conversation_in(KO_AND[lang], context).decide(text, 1.0, NOW).label
              for context in ("open", "reminder", "quiz", "speaking")}
    assert set(labels.values()) == {"ask"}, labels


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in NEXT_CLAUSE.items() for t in ts])
def test_a_negation_never_reaches_a_request_in_the_next_clause(lang: str, text: str) -> None:
    labels = {context: conversation_in(KO_AND[lang], context).decide(text, 1.0, NOW).label for context in CONTEXTS}
    assert set(labels.values()) == {"help"}, labels


# Said without a comma (as Vosk gives it), a negated verb of opinion in one clause and a call in the next: the far
# reach of "think"/"suppose"/"feel" made the call a NO to "Shall I call a nurse?" and cancelled it (before the far
# reach these raised the alert, or at least called staff as an unclear answer). A no is a negation against the help
# words themselves; a negation reaching from afar may make the robot ask, never cancel.
FAR_BUT_NOT_A_NO = {"en": ["i don't think anyone's coming help me", "i don't imagine anyone's coming call the nurse",
                           "i didn't think it would hurt this much get the nurse", "i don't believe it help me",
                           "i don't suppose you could get the nurse", "i don't feel right get the nurse",
                           "don't think i can stand call the nurse", "i don't think i can manage get the nurse"],
                    "de": ["ich glaube nicht dass jemand kommt hilfe",
                           "ich glaube nicht dass das gut ist hol die schwester"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in FAR_BUT_NOT_A_NO.items() for t in ts])
def test_a_negation_from_afar_never_cancels_the_help_question(lang: str, text: str) -> None:
    actions = answer(lang, text)
    assert ("help_no", {}) not in actions and actions, actions


# A cry for help said last, after a clause with its own negation and no comma (as Vosk gives it): "I can't find my
# glasses help", "es geht nicht hilfe" (German ends a clause with its "nicht"). The negation is not against the cry,
# yet it was a NO to "Shall I call a nurse?" and cancelled the call. A cry said after a request word or a negation
# of its own ("I don't need help", "keine Hilfe", "don't help me") still cancels (DENIED_TO_THE_QUESTION above).
CRY_AFTER_A_NEGATED_CLAUSE = {"en": ["i can't find my glasses help", "i can't get my breath help"],
                              "de": ["es geht nicht hilfe", "ich schaffe es nicht hilfe",
                                     "ich finde meine brille nicht hilfe", "ich komme nicht mehr hoch hilfe"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in CRY_AFTER_A_NEGATED_CLAUSE.items() for t in ts])
def test_a_cry_after_a_negated_clause_answers_yes_to_the_help_question(lang: str, text: str) -> None:
    assert answer(lang, text) == [("help", {})]


def test_a_cry_after_a_negated_clause_reaches_staff_through_the_running_robot(config: Config, broker: Broker) -> None:
    # "Shall I call a nurse?" (after "mir tut das Knie weh"), answered "es geht nicht hilfe": it was a no
    answering_the_help_question_reaches_staff(config, broker, "mir tut das knie weh", "es geht nicht hilfe", "de")


@pytest.mark.parametrize("text", ["i don't want help", "don't help me", "i do not need any help"])
def test_a_cry_turned_round_by_its_own_negation_still_cancels(text: str) -> None:
    assert answer("en", text) == [("help_no", {})]
