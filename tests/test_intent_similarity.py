"""Understanding unseen wordings (issue 10): weights learnt from the pack, paraphrases that teach the matcher
but stay out of the recogniser's grammar, and a calibrated `none` for talk that no intent covers.

Everything goes through the real packs and the real engine; the wordings here are our own and in no pack.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack, normalise
from robot.intent_similarity import ExampleIndex

from .conftest import ROOT

NOW = dt.datetime(2026, 3, 2, 9, 30)


def engine(lang: str) -> DialogEngine:
    return DialogEngine(load_pack(ROOT / "dialogs" / lang), seed=1)


def test_a_word_one_intent_alone_holds_outweighs_words_every_intent_holds() -> None:
    index = ExampleIndex({"joke": ["tell me a joke"], "time": ["tell me the time"]},
                         {"joke": ["tell me a joke"], "time": ["tell me the time"]}, syllables=False)
    assert index.weight["joke"] > index.weight["tell"] == pytest.approx(0.0, abs=0.5)
    near = index.similarities("well now i wonder if you might know a joke or two")
    assert near["joke"] > near["time"] + 0.2  # the rambling around the one telling word does not drown it


def test_korean_words_are_compared_by_their_stem_syllables() -> None:
    index = ExampleIndex({"thanks": ["고마워요"], "stop": ["그만해요"]}, {"thanks": ["고마워요"], "stop": ["그만해요"]},
                         syllables=True)
    near = index.similarities("정말 고마웠어")
    assert near["thanks"] > near["stop"]


@pytest.mark.parametrize(("lang", "intent"), [("en", "joke"), ("de", "goodbye"), ("ko", "louder")])
def test_paraphrases_teach_the_matcher_but_stay_out_of_the_recogniser_grammar(lang: str, intent: str) -> None:
    e = engine(lang)
    paraphrases = e.pack.intents[intent].paraphrases
    assert paraphrases, f"{lang}/{intent} has paraphrases"
    grammar = set(e.grammar("open"))
    for p in paraphrases:
        if normalise(p) in {normalise(k) for k in e.pack.intents[intent].keywords}:
            continue
        assert normalise(p) not in grammar, p
        u = e.understand(p)
        assert (u.intent, u.sure) == (intent, True), (p, u)


def test_a_paraphrase_staff_add_is_understood_at_once() -> None:
    e = engine("en")
    wording = "be a dear and spin me a yarn about the seaside"
    before = Conversation(e).decide(wording, 1.0, NOW).label
    spec = e.pack.intents["reminisce"]
    taught = dataclasses.replace(spec, paraphrases=(*spec.paraphrases, "spin me a yarn about the old days"))
    pack = dataclasses.replace(e.pack, intents={**e.pack.intents, "reminisce": taught})
    after = Conversation(DialogEngine(pack, seed=1)).decide(wording, 1.0, NOW).label
    assert (before, after) == ("none", "reminisce")


@pytest.mark.parametrize(("lang", "wording", "intent"), [
    ("en", "oh do be a love and give me the time of day", "time"),
    ("en", "that'll be all from me for today, bye bye then", "goodbye"),
    ("en", "could you manage to talk a little slower for an old lady", "slower"),
    ("de", "sagen sie, welchen tag haben wir denn heute", "date"),
    ("de", "jetzt bitte mal einen guten witz", "joke"),
    ("ko", "로빈아 고마워 정말", "thanks"),
])
def test_unseen_wordings_of_an_intent_are_understood(lang: str, wording: str, intent: str) -> None:
    assert Conversation(engine(lang)).decide(wording, 1.0, NOW).label == intent


@pytest.mark.parametrize(("lang", "wording"), [
    ("en", "the roses in the garden came out lovely this year"),
    ("de", "der kuchen gestern war ein bisschen trocken"),
    ("ko", "우리 집 강아지는 하얀색이야"),
])
def test_talk_no_intent_covers_is_not_forced_into_one(lang: str, wording: str) -> None:
    decision = Conversation(engine(lang)).decide(wording, 1.0, NOW)
    assert decision.label == "none"
    assert decision.actions[0][1]["reply"] in ("fallback", "clarify")
