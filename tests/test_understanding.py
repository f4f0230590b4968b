"""Help first, in every context and state, in three languages; ask, never drop (issue 10).

Engine-level tests go through Conversation.decide, as the dialog thread does; the runtime tests go in
through the real door (words into Runtime.hear, through the dialog engine and the state machine) and out
through the alert manager, one of them to a real staff subscriber over a real mosquitto.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.bench.understanding import conversation_in, correct, evaluate, load_corpus, pack_wordings, unseen
from robot.config import Config
from robot.conversation import Conversation
from robot.dialog_engine import DialogEngine
from robot.dialogs import check_pack, load_pack
from robot.messages import Message
from robot.runtime import Runtime
from robot.supervisor import WorkerSpec

from .broker import ROBOTS, SITE, STAFF, Broker, Client
from .conftest import ROOT, planted, wait_for

LANGS = ("en", "de", "ko")
NOW = dt.datetime(2026, 3, 2, 9, 30)
CONTEXTS = ("open", "reminder", "wellbeing", "quiz", "privacy", "speaking", "booting")

# Calls for help in wordings of our own: a request for a person, distress, a cry.
HELP = {
    "en": ["would you fetch a carer for me please", "I have gone and fallen by the wardrobe",
           "there's a terrible pain in my chest", "I cannot get my breath at all", "help"],
    "de": ["holen sie mir bitte eine pflegerin", "ich bin im bad hingefallen", "meine brust schmerzt furchtbar",
           "ich bekomme fast keine luft mehr", "hilfe"],
    "ko": ["간호사 좀 불러 줄래요", "화장실에서 넘어졌어요", "가슴이 너무 아파요", "숨을 못 쉬겠어", "살려 줘요"],
}
NEGATED = {"en": "I really don't need the carer now", "de": "ich brauche jetzt keine pflegerin",
           "ko": "간호사는 안 불러도 돼요"}
COMPLAINT = {"en": "my knee has been aching", "de": "mein knie tut seit gestern weh", "ko": "무릎이 좀 아파요"}
NOT_HELP = {"en": ["I helped my grandson with his homework", "the carer brought me biscuits earlier"],
            "de": ["ich habe meinem enkel bei den hausaufgaben geholfen", "die pflegerin war heute sehr nett"],
            "ko": ["손자 숙제를 도와줬어요", "간호사 선생님이 오늘 친절했어요"]}


@pytest.fixture(scope="module", params=LANGS)
def engine(request: pytest.FixtureRequest) -> DialogEngine:
    return DialogEngine(load_pack(ROOT / "dialogs" / request.param), seed=1)


def decide(engine: DialogEngine, context: str, text: str, alternatives: tuple[str, ...] = ()) -> str:
    return conversation_in(engine, context).decide(text, 1.0, NOW, alternatives).label


@pytest.mark.parametrize("context", CONTEXTS)
def test_help_is_raised_at_once_in_every_context(engine: DialogEngine, context: str) -> None:
    for text in HELP[engine.pack.language]:
        assert decide(engine, context, text) == "help", (context, text)


def test_help_outranks_every_other_intent_however_the_words_are_mixed(engine: DialogEngine) -> None:
    conv = Conversation(engine)
    for other in ("time", "joke", "quiz", "stop", "privacy_on"):
        phrase = engine.pack.intents[other].examples[0]
        for help_text in HELP[engine.pack.language][:3]:
            assert conv.decide(f"{phrase} {help_text}", 1.0, NOW).label == "help", (phrase, help_text)
            assert conv.decide(f"{help_text} {phrase}", 0.1, NOW).label == "help", (phrase, help_text)


def test_negated_request_is_asked_about_and_a_complaint_too_outside_the_check_in(engine: DialogEngine) -> None:
    lang = engine.pack.language
    for context in ("open", "reminder", "speaking", "booting"):
        assert decide(engine, context, NEGATED[lang]) == "ask", context
        assert decide(engine, context, COMPLAINT[lang]) == "ask", context
    assert decide(engine, "wellbeing", COMPLAINT[lang]) == "in_pain"  # there it answers the question


def test_help_words_in_other_senses_neither_raise_nor_ask(engine: DialogEngine) -> None:
    for text in NOT_HELP[engine.pack.language]:
        assert decide(engine, "open", text) not in ("help", "ask"), text


def test_a_recogniser_alternative_that_calls_for_help_is_asked_about(engine: DialogEngine) -> None:
    time_phrase = engine.pack.intents["time"].examples[0]
    assert decide(engine, "open", time_phrase) == "time"
    assert decide(engine, "open", time_phrase, alternatives=(HELP[engine.pack.language][0],)) == "ask"


# -- the two bugs of issue 10 -------------------------------------------------------------------------

QUIZ_HELP = {"en": ["help", "I need a nurse"], "de": ["ich brauche hilfe", "hilfe"],
             "ko": ["도와 주세요", "간호사 불러 주세요"]}
WELLBEING_HELP = {"en": ["help my chest hurts", "I fell and my back hurts"],
                  "de": ["hilfe meine brust tut weh", "ich bin gestürzt und mein rücken tut weh"],
                  "ko": ["도와줘 가슴이 아파", "넘어져서 허리가 아파요"]}


def test_help_during_a_quiz_is_help_not_a_wrong_answer(engine: DialogEngine) -> None:
    for text in QUIZ_HELP[engine.pack.language]:
        conv = Conversation(engine)
        conv.decide(engine.pack.intents["quiz"].examples[0], 1.0, NOW)
        assert conv.context == "quiz"
        assert conv.decide(text, 1.0, NOW).actions == [("help", {})], text


def test_the_quiz_context_ends_with_every_state_change_that_ends_the_turn(engine: DialogEngine) -> None:
    for state in ("idle", "engaged", "alerting", "confirming", "reminding", "privacy", "paused", "fault"):
        conv = Conversation(engine)
        conv.decide(engine.pack.intents["quiz"].examples[0], 1.0, NOW)
        conv.set_context("responding")
        conv.set_context("listening")
        assert conv.context == "quiz"  # the question was asked in this turn
        conv.set_context(state)
        assert conv.context != "quiz" and conv.quiz_answer == (), state


def test_help_in_the_wellbeing_check_in_is_help_not_a_concern(engine: DialogEngine) -> None:
    for text in WELLBEING_HELP[engine.pack.language]:
        assert decide(engine, "wellbeing", text) == "help", text


# -- the help question --------------------------------------------------------------------------------

ANSWERS = {"en": {"yes": "yes do that", "no": "no I'm alright thanks", "unclear": "the tulips need water"},
           "de": {"yes": "ja bitte machen sie das", "no": "nein danke es geht schon",
                  "unclear": "die tulpen brauchen wasser"},
           "ko": {"yes": "네 불러 주세요", "no": "아니요 괜찮아요", "unclear": "튤립에 물을 줘야 해"}}


def test_the_help_question_takes_yes_no_and_anything_else_as_a_call(engine: DialogEngine) -> None:
    conv = Conversation(engine)
    conv.set_context("confirming")
    words = ANSWERS[engine.pack.language]
    assert conv.decide(words["yes"], 1.0, NOW).actions == [("help_yes", {})]
    assert conv.decide(words["no"], 1.0, NOW).actions == [("help_no", {})]
    assert conv.decide(NEGATED[engine.pack.language], 1.0, NOW).actions == [("help_no", {})]
    assert conv.decide(words["unclear"], 1.0, NOW).actions == [("help_unclear", {})]
    assert conv.decide(HELP[engine.pack.language][1], 1.0, NOW).actions == [("help", {})]


# -- packs: the understanding section is checked as strictly as the rest -------------------------------


@pytest.mark.parametrize(("edit", "replacement", "where", "message"), [
    ("  negation:\n    before: [", "  negation:\n    during: [x]\n    before: [",
     "understanding.negation.during", "unknown key"),
    ("    distress: [", "    distress: 7\n    old_distress: [", "understanding.help.distress", "non-empty list"),
    ("    unwell: [the runs,", "    unwell: [giddy, the runs,", "understanding.synonyms.dizzy", "already a synonym"),
    ("  fillers: [please,", "  fillers: [two words, please,", "understanding.fillers.0", "single word"),
    ("  help_confirm:", "  help_confirm: []\n  help_confirm_old:", "responses.help_confirm", "non-empty list"),
    ("  joke:\n", "  joke:\n    answers: [a good one]\n", "intents.joke.answers", "only yes, no and repeat"),
    ("  hedges: [", '  hedges: ["?!", ', "understanding.hedges.0", "no words once punctuation"),
    ("  hedges: [", "  hedges: 3\n  old_hedges: [", "understanding.hedges", "non-empty list"),
])
def test_check_reports_problems_in_the_understanding_section_with_line_and_key(
        tmp_path: Path, edit: str, replacement: str, where: str, message: str) -> None:
    _, problems = check_pack(planted(tmp_path, edit, replacement))
    hits = [p for p in problems if p.path == where]
    assert hits and message in hits[0].message and hits[0].line is not None, problems


def test_a_pack_without_understanding_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "dialogs" / "en" / "pack.yaml").read_text(encoding="utf-8")
    start, end = text.index("\nunderstanding:"), text.index("\nintents:")
    path = tmp_path / "pack.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    _, problems = check_pack(path)
    assert [p.path for p in problems] == ["understanding"]


# -- the bench reads the corpus format ---------------------------------------------------------------


def test_bench_scores_a_corpus_file_by_context(tmp_path: Path) -> None:
    corpus = tmp_path / "en.yaml"
    corpus.write_text("language: en\nitems:\n"
                      '  - {text: "could a carer pop in and see me", context: quiz, expect: help}\n'
                      '  - {text: "my ankle is sore", context: open, expect: ask}\n'
                      '  - {text: "my son helped me move house", context: booting, expect: not_help}\n'
                      '  - {text: "what is the hour", context: open, expect: time}\n', encoding="utf-8")
    items = load_corpus(corpus)
    result = evaluate(DialogEngine(load_pack(ROOT / "dialogs" / "en")), items, rounds=1)
    assert result["items"] == 4 and result["help_recall"] == 1.0 and result["false_help_rate"] == 0.0
    assert result["contexts"]["quiz"]["right"] == 1 and result["intent_accuracy"] == 1.0
    assert 0 < result["cpu_p50_ms"] <= result["cpu_p99_ms"] and result["p99_ms"] > 0  # both clocks reported
    assert correct("not_help", "time") and not correct("not_help", "ask") and not correct("help", "ask")
    bad = tmp_path / "bad.yaml"
    bad.write_text("language: en\nitems:\n  - {text: hi, context: garden, expect: none}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="item 0: unknown context 'garden'"):
        load_corpus(bad)


def test_the_bench_leaves_out_items_a_pack_already_holds(tmp_path: Path) -> None:
    """A corpus item that equals any pack wording (here an English idiom, in another case and with
    punctuation) measures nothing about generalisation, so the bench leaves it out and says how many."""
    seen = pack_wordings(ROOT / "dialogs" / "en")
    items = [{"text": "Alive and KICKING!", "context": "wellbeing", "expect": "fine"},
             {"text": "could a carer pop in and see me", "context": "quiz", "expect": "help"}]
    assert "alive and kicking" in seen
    kept, left_out = unseen(items, seen)
    assert left_out == 1 and [item["text"] for item in kept] == ["could a carer pop in and see me"]


# -- through the real door: words in, a staff alert out ------------------------------------------------


def started(config: Config, lang: str, **behaviour: float) -> Runtime:
    cfg = config.model_copy(update={
        "robot": config.robot.model_copy(update={"language": lang}),
        "behaviour": config.behaviour.model_copy(update=behaviour)})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle", 10)
    return rt


def helps(rt: Runtime) -> list[dict[str, object]]:
    return [u for u in rt.alert_updates if u["type"] == "help_request" and u["state"] == "raised"]


def resolve(rt: Runtime) -> None:
    alert_id = rt.help_alert
    assert alert_id is not None
    rt.inject_command("resolve", {"alert_id": alert_id})
    assert wait_for(lambda: rt.behaviour.state != "alerting", 2)


@pytest.fixture(params=LANGS)
def lang_robot(request: pytest.FixtureRequest, config: Config) -> Iterator[tuple[Runtime, str]]:
    rt = started(config, request.param, help_confirm_timeout_s=2.0)
    yield rt, request.param
    rt.stop()


def test_help_in_every_context_and_state_raises_a_high_alert(lang_robot: tuple[Runtime, str]) -> None:
    rt, lang = lang_robot
    quiz = rt.engine.pack.intents["quiz"].examples[0]
    time_phrase = rt.engine.pack.intents["time"].examples[0]

    def reach(context: str) -> None:
        if context == "open":
            rt.inject("engage")
            assert wait_for(lambda: rt.behaviour.state == "engaged", 10)
        elif context == "reminder":
            rt.inject("remind", kind="medication")
            assert wait_for(lambda: rt.behaviour.state == "reminding", 10)
        elif context == "wellbeing":
            rt.inject("checkin")
            assert wait_for(lambda: rt.conversation.context == "wellbeing", 10)
        elif context == "quiz":
            rt.hear(quiz)
            assert wait_for(lambda: rt.conversation.context == "quiz", 10)
        elif context == "speaking":
            rt.hear(time_phrase)
            assert wait_for(lambda: rt.behaviour.state == "responding", 10)
        elif context in ("privacy", "paused", "sleeping", "fault"):
            trigger = {"privacy": "privacy_on", "paused": "pause", "sleeping": "quiet_start", "fault": "fault"}
            rt.inject(trigger[context], reason="test")
            assert wait_for(lambda: rt.behaviour.state == context, 10)

    def leave(context: str) -> None:
        if context == "reminder":  # the reminder that help cut short is asked again: answer it
            assert wait_for(lambda: rt.behaviour.state == "reminding", 10)
            rt.hear(rt.engine.pack.intents["yes"].examples[0])
            assert wait_for(lambda: rt.behaviour.state in ("idle", "engaged"), 10)
        undo = {"privacy": "privacy_off", "paused": "resume", "sleeping": "quiet_end", "fault": "recover"}
        if context in undo:
            rt.inject(undo[context], reason="test")
            assert wait_for(lambda: rt.behaviour.state in ("idle", "engaged"), 10)

    contexts = ("open", "reminder", "wellbeing", "quiz", "speaking", "privacy", "paused", "sleeping", "fault")
    for i, context in enumerate(contexts):
        reach(context)
        text = HELP[lang][i % len(HELP[lang])]
        rt.hear(text, confidence=0.3, typed=False)  # as recognised, unsure, mid-reply
        assert wait_for(lambda i=i: len(helps(rt)) == i + 1 and rt.behaviour.state == "alerting", 10), (context, text)
        assert helps(rt)[-1]["priority"] == "high"
        resolve(rt)
        leave(context)
    assert "help_called" in [s.key for s in rt.said]


@pytest.mark.parametrize("lang", LANGS)
def test_help_while_booting_raises_a_high_alert(config: Config, lang: str) -> None:
    # A worker that never starts keeps the robot booting (for boot_timeout_s).
    cfg = config.model_copy(update={"robot": config.robot.model_copy(update={"language": lang})})
    rt = Runtime(cfg, simulate=True, workers=[WorkerSpec("late", "robot.workers.no_such_module:Nothing")])
    rt.start()
    try:
        assert rt.behaviour.state == "booting"
        rt.hear(HELP[lang][2], typed=False)
        assert wait_for(lambda: helps(rt), 3)
        assert helps(rt)[0]["priority"] == "high" and rt.behaviour.state == "alerting"
        assert ("help", "booting", "alerting") in rt.behaviour.history
    finally:
        rt.stop()


def test_ask_never_drop_yes_no_unclear_and_silence(lang_robot: tuple[Runtime, str]) -> None:
    rt, lang = lang_robot
    rt.inject("engage")
    words = ANSWERS[lang]
    outcomes = []
    for answer in ("yes", "no", "unclear", None):
        n = len(helps(rt))
        rt.hear(COMPLAINT[lang])
        assert wait_for(lambda: rt.behaviour.state == "confirming" and rt.said[-1].key == "help_confirm", 2)
        if answer is not None:
            rt.hear(words[answer])
        # silence: nothing is said, and the question's timeout (2 s here, after it is said) decides
        assert wait_for(lambda: rt.behaviour.state != "confirming", 10), answer
        if answer == "no":
            assert wait_for(lambda: rt.said[-1].key == "help_cancelled", 2)
            assert len(helps(rt)) == n and rt.behaviour.state == "engaged"
            outcomes.append(None)
            continue
        assert wait_for(lambda n=n: len(helps(rt)) == n + 1, 2), answer
        outcomes.append(helps(rt)[-1]["priority"])
        resolve(rt)
    assert outcomes == ["high", None, "medium", "medium"]
    audit = rt.state_dir / "audit.jsonl"
    assert wait_for(lambda: '"help_silence"' in audit.read_text(), 2)
    log = audit.read_text()
    paths = [json.loads(line)["data"].get("trigger") for line in log.splitlines()]
    for trigger in ("ask_help", "help_yes", "help_no", "help_unclear", "help_silence"):
        assert trigger in paths, trigger
    assert '"reason": "unsure"' in log  # why it asked, as a word of the code's own
    for text in (COMPLAINT[lang], *words.values()):
        assert text not in log  # never the resident's words


def test_a_help_request_during_a_quiz_reaches_a_real_staff_subscriber(config: Config, broker: Broker) -> None:
    data = config.model_dump(exclude={"source"})
    data["robot"].update(id=ROBOTS[0], site=SITE, room="lounge", language="de")
    data["mqtt"] = broker.robot_mqtt(heartbeat_s=1)
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    rt = Runtime(Config.model_validate(data), simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.link is not None and rt.link.connected and rt.behaviour.state == "idle", 10)
        rt.hear(rt.engine.pack.intents["quiz"].examples[1])
        assert wait_for(lambda: rt.conversation.context == "quiz", 2)
        rt.hear(QUIZ_HELP["de"][0], typed=False)
        assert wait_for(lambda: [m for m in staff.of("/alert") if m.json()["type"] == "help_request"], 5)
        alert = [m.json() for m in staff.of("/alert") if m.json()["type"] == "help_request"][0]
        assert alert["priority"] == "high" and alert["state"] == "raised"
        assert "quiz_wrong" not in [s.key for s in rt.said]
    finally:
        rt.stop()
        staff.close()


def test_a_recogniser_alternative_from_speech_in_makes_the_robot_ask(config: Config) -> None:
    # The message speech_in sends (robot/workers/speech_in.py): the best reading and up to three others.
    rt = started(config, "en")
    try:
        time_phrase = rt.engine.pack.intents["time"].examples[0]
        msg = Message("utterance", "speech_in", data={"text": time_phrase, "confidence": 0.4,
                                                      "alternatives": ["what time is it now", HELP["en"][0]]})
        rt.workers.handlers["utterance"](msg, 0.0)  # as the tick hands it over (it only queues an input)
        # (the question is said later in the tick that changed the state: under CPU throttling the test read
        # the state between the two, and said was still empty)
        assert wait_for(lambda: rt.behaviour.state == "confirming"
                        and [s.key for s in rt.said][-1:] == ["help_confirm"], 30), \
            (rt.behaviour.history[-3:], [s.key for s in rt.said][-3:])
    finally:
        rt.stop()


def test_an_utterance_that_breaks_the_engine_is_asked_about_and_the_next_one_still_heard(config: Config) -> None:
    rt = started(config, "en")
    try:
        decide = rt.conversation.decide

        def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("injected fault in understanding")

        rt.conversation.decide = broken  # type: ignore[method-assign]
        rt.hear(COMPLAINT["en"])
        assert wait_for(lambda: rt.behaviour.state == "confirming", 3)  # it might have been a call: ask
        rt.conversation.decide = decide  # type: ignore[method-assign]
        rt.hear(ANSWERS["en"]["yes"])
        assert wait_for(lambda: helps(rt), 3)
        assert helps(rt)[0]["priority"] == "high"
    finally:
        rt.stop()
