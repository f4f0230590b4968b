"""Dialog packs and the engine: coverage, checking, unseen wordings, and every behaviour in three languages."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialog_help_check import help_problems
from robot.dialogs import INTENTS, RESPONSES, DialogError, check_pack, load_pack, normalise
from robot.runtime import Runtime

from .conftest import ROOT, planted, wait_for

LANGS = ("en", "de", "ko")
PARAPHRASES = yaml.safe_load((Path(__file__).parent / "paraphrases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=LANGS)
def engine(request: pytest.FixtureRequest) -> DialogEngine:
    return DialogEngine(load_pack(ROOT / "dialogs" / request.param), seed=1)


def test_every_pack_covers_the_same_intents_responses_and_flows() -> None:
    packs = [load_pack(ROOT / "dialogs" / lang) for lang in LANGS]
    for pack in packs:
        assert set(pack.intents) == set(INTENTS)
        assert set(pack.responses) == set(RESPONSES)
        assert set(pack.wellbeing) == {"fine", "tired", "in_pain", "lonely", "unwell"}
        assert len(pack.quiz) >= 3 and all(len(v) >= 2 for v in pack.responses.values())
    assert {p.language for p in packs} == set(LANGS)


def test_paraphrases_are_unseen_and_cover_key_intents() -> None:
    for lang in LANGS:
        pack = load_pack(ROOT / "dialogs" / lang)
        examples = {normalise(e) for s in pack.intents.values() for e in (*s.examples, *s.paraphrases)}
        for intent, phrases in PARAPHRASES[lang].items():
            assert len(phrases) >= 5, (lang, intent)
            for phrase in phrases:
                assert normalise(phrase) not in examples, f"{lang}/{intent}: {phrase!r} is in the pack"


@pytest.mark.parametrize("lang", LANGS)
def test_unseen_wordings_are_understood(lang: str) -> None:
    engine = DialogEngine(load_pack(ROOT / "dialogs" / lang))
    wrong = []
    for intent, phrases in PARAPHRASES[lang].items():
        among = ["yes", "no", "repeat"] if intent in ("yes", "no") else None  # answers to a reminder
        for phrase in phrases:
            u = engine.understand(phrase, among=among)
            if u.intent != intent or not u.sure:
                wrong.append((phrase, intent, u))
    assert wrong == []


def test_low_recogniser_confidence_asks_again_except_for_help(engine: DialogEngine) -> None:
    time_phrase = engine.pack.intents["time"].examples[0]
    assert engine.understand(time_phrase, confidence=0.2).sure is False
    help_phrase = engine.pack.intents["help"].examples[1]
    u = engine.understand(help_phrase, confidence=0.1)
    assert u.intent == "help" and u.sure


def test_nonsense_is_not_guessed(engine: DialogEngine) -> None:
    assert engine.understand("zzqx plorb wibble").intent is None
    assert engine.understand("").intent is None


def test_repeats_use_other_words(engine: DialogEngine) -> None:
    said = [engine.render("joke") for _ in range(6)]
    assert all(a != b for a, b in zip(said, said[1:], strict=False))


def test_grammar_has_help_in_every_context_and_only_the_wake_phrase_in_privacy(engine: DialogEngine) -> None:
    spec = engine.pack.intents["help"]
    help_phrases = set(engine.help_phrases())
    assert {normalise(h) for h in (*spec.keywords, *spec.examples)} <= help_phrases
    for context in ("open", "reminder", "wellbeing", "privacy", "confirm"):
        grammar = set(engine.grammar(context))
        assert help_phrases <= grammar, context
    privacy = set(engine.grammar("privacy")) - help_phrases
    wake = engine.pack.intents["wake"]
    assert privacy == {normalise(p) for p in (*wake.keywords, *wake.examples)}
    # the help question hears yes, no and help, the words that take a no back ("nein... ach doch" was heard
    # "nein": its "ach doch" was in no grammar) and the words for the staff after a request ("I need her")
    confirm = set(engine.grammar("confirm")) - help_phrases
    answers = [engine.pack.intents[n] for n in ("yes", "no")]
    lex = engine.pack.lexicon
    assert confirm == {normalise(p) for a in answers for p in (*a.keywords, *a.examples)} | {
        normalise(p) for p in (*lex.turns, *lex.whom)} - help_phrases


# -- checking packs ----------------------------------------------------------------------------------


def test_check_finds_a_duplicate_intent_with_its_line(tmp_path: Path) -> None:
    path = planted(tmp_path, "  joke:\n", "  time:\n    keywords: [clock]\n    examples: [clock]\n  joke:\n")
    _, problems = check_pack(path)
    dup = [p for p in problems if p.path == "intents.time"]
    assert dup and "defined twice" in dup[0].message and dup[0].line is not None


def test_check_finds_a_flow_pointing_to_a_missing_state(tmp_path: Path) -> None:
    path = planted(tmp_path, "        reply: wellbeing_tired\n        next: end",
                   "        reply: wellbeing_tired\n        next: nap_time")
    _, problems = check_pack(path)
    assert [(p.path, p.value) for p in problems] == [("flows.wellbeing.choices.tired.next", "nap_time")]
    assert "does not exist" in problems[0].message and problems[0].line is not None


def test_check_names_a_turn_word_that_is_a_help_word_and_help_pointed_at_without_pointing(tmp_path: Path) -> None:
    # a turn word that calls ("help") or help "pointed at" with no pointing word ("help": every "no, help" would
    # decline the nurse) passed the check; each now names its file, key and line
    path = planted(tmp_path, "    turns: [actually,", "    turns: [help, actually,")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    pointing: [that help,", "    pointing: [nurse, that help,"), encoding="utf-8")
    _, problems = check_pack(path)
    found = {p.path: p for p in problems}
    assert set(found) == {"understanding.help.turns.0", "understanding.help.pointing.0"}, problems
    assert "help word" in found["understanding.help.turns.0"].message
    assert "pointing" in found["understanding.help.pointing.0"].message
    assert all(p.line is not None for p in problems)


def test_check_names_a_pause_that_is_no_turn_word(tmp_path: Path) -> None:
    # a pause keeps a polite no ("no thank you, wait"); one that is no turn word would never be found as a turn
    path = planted(tmp_path, "    pauses: [actually,", "    pauses: [perhaps, actually,")
    _, problems = check_pack(path)
    assert [(p.path, p.value) for p in problems] == [("understanding.help.pauses.0", "perhaps")], problems
    assert "turn word" in problems[0].message and problems[0].line is not None


@pytest.mark.parametrize(("language", "turns", "turn"), [
    ("en", "    turns: [actually,", "    turns: [actually, Nope,"),  # "nope" reads as the no "no"
    ("de", "    turns: [doch,", "    turns: [doch, nein,"),
    ("ko", "    turns: [아니다,", "    turns: [아니다, 아니요,"),
], ids=["en", "de", "ko"])
def test_check_names_a_turn_word_that_is_a_no_word(tmp_path: Path, language: str, turns: str, turn: str) -> None:
    # a turn word takes a no back: one that is itself a no would take back the no that answers "Shall I call a
    # nurse?"; it passed the check. "아니다", a turn that begins with the no "아니", stays allowed.
    path = planted(tmp_path, turns, turn, language)
    pack, problems = check_pack(path)
    assert pack is not None and not problems, problems  # well formed: the robot's reading finds it
    found = help_problems(path, pack)
    assert [(p.path, p.value) for p in found] == [("understanding.help.turns.1",
                                                   normalise(turn.split(", ")[1].rstrip(",")))]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "no word" in found[0].message and found[0].file == str(path)
    assert found[0].line == next(n for n, line in enumerate(lines, 1) if line.startswith(turn))


@pytest.mark.parametrize(("language", "turns", "turn", "polite_no"), [
    ("en", "    turns: [actually,", "    turns: [actually, fine,", "no, fine"),
    ("ko", "    turns: [아니다,", "    turns: [아니다, 괜찮아요,", "아니요 괜찮아요"),
    # ... or is one after a no word: "아니 괜찮아", "no fine" (the polite no itself) passed the check
    ("ko", "    turns: [아니다,", "    turns: [아니다, 아니 괜찮아,", "아니요 괜찮아요"),
    ("en", "    turns: [actually,", "    turns: [actually, no fine,", "no, fine"),
], ids=["en", "ko", "ko-no-and-fine", "en-no-and-fine"])
def test_check_names_a_turn_word_that_thanks_or_says_fine(tmp_path: Path, language: str, turns: str, turn: str,
                                                         polite_no: str) -> None:
    # a turn word that thanks or says fine passed the check, and took back every polite no: "아니요 괜찮아요" (no,
    # I'm fine) to "Shall I call a nurse?" was unclear, and staff were called against it
    from robot.conversation import Conversation

    path = planted(tmp_path, turns, turn, language)
    pack, problems = check_pack(path)
    assert pack is not None and not problems, problems
    conv = Conversation(DialogEngine(pack))
    conv.set_context("confirming")
    assert conv.decide(polite_no, 1.0, dt.datetime(2026, 11, 28, 10, 0)).label == "unclear"  # what it broke
    found = help_problems(path, pack)
    assert [p.path for p in found] == ["understanding.help.turns.1"], found
    assert "thanks" in found[0].message and found[0].line is not None


def test_check_names_a_turn_word_that_reads_as_a_yes(tmp_path: Path) -> None:
    # "na gut" reads as "ja": every "ja" was a turn word, and a reminder's "ja bitte schön" just after a paused no
    # ("nein danke, moment") called staff instead of confirming the medicine
    path = planted(tmp_path, "    turns: [doch,", "    turns: [doch, na gut,", "de")
    pack, problems = check_pack(path)
    assert pack is not None and not problems, problems
    found = help_problems(path, pack)
    assert [(p.path, p.value) for p in found] == [("understanding.help.turns.1", "na gut")], found
    assert "yes word" in found[0].message and found[0].line is not None


@pytest.mark.parametrize(("language", "word", "says"), [
    ("en", "it", "I need it"),  # a filler: "I need it" (the glasses) called staff
    ("en", "me", "call me"),  # the speaker is not the staff: "call me" called staff
    ("de", "mich", "holen Sie mich"),
    ("de", "nein", None), ("en", "actually", None), ("de", "ja", None), ("de", "danke", None),  # a no, a turn, a yes,
    # thanks: no word for the staff
], ids=["en-filler", "en-speaker", "de-speaker", "de-no", "en-turn", "de-yes", "de-thanks"])
def test_check_names_a_word_for_her_that_is_no_word_for_her(tmp_path: Path, language: str, word: str,
                                                             says: str | None) -> None:
    # help.whom names the staff after a request said soon after a no ("I need her"): a word there that carries
    # nothing, names the speaker, or is a no, a turn, a yes or thanks passed the check, and some called staff
    from robot.conversation import Conversation

    edit = {"en": "    whom: [her,", "de": "    whom: [sie,"}[language]
    path = planted(tmp_path, edit, edit.replace("[", f"[{word}, "), language)
    pack, problems = check_pack(path)
    assert pack is not None and not problems, problems
    if says is not None:
        conv = Conversation(DialogEngine(pack))
        conv.set_context("confirming")
        now = dt.datetime(2026, 11, 28, 10, 0)
        assert conv.decide({"en": "no thanks", "de": "nein danke"}[language], 1.0, now).actions == [("help_no", {})]
        conv.set_context("listening")
        assert conv.decide(says, 1.0, now).actions[0][0] == "help"  # what it broke
    found = help_problems(path, pack)
    assert [(p.path, p.value) for p in found] == [("understanding.help.whom.0", word)], found
    assert found[0].line is not None


def test_check_finds_a_bad_type(tmp_path: Path) -> None:
    path = planted(tmp_path, 'joke: ["Why did', 'joke: 42\n  unused: ["Why did')
    _, problems = check_pack(path)
    paths = {p.path for p in problems}
    assert "responses.joke" in paths and "responses.unused" in paths
    assert any("non-empty list" in p.message for p in problems if p.path == "responses.joke")


def test_a_bad_pack_is_refused_whole_and_the_robot_does_not_start(tmp_path: Path, config: Config) -> None:
    planted(tmp_path, "  wellbeing_ask:", "  wellbeing_ask: {oops: 1}\n  wellbeing_ask_old:")
    with pytest.raises(DialogError) as info:
        load_pack(tmp_path / "en")
    assert any(p.path == "responses.wellbeing_ask" for p in info.value.problems)
    cfg = config.model_copy(update={"dialogs": config.dialogs.model_copy(update={"path": tmp_path})})
    with pytest.raises(DialogError):
        Runtime(cfg, simulate=True).start()


def test_dialogs_check_cli_reports_file_line_key_and_exits_non_zero(tmp_path: Path) -> None:
    path = planted(tmp_path, "  joke:\n", "  joke:\n    critical: maybe\n")
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "dialogs", "check", str(path.parent)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert f"{path}:" in proc.stdout and "intents.joke.critical = 'maybe': must be true or false" in proc.stdout
    ok = subprocess.run([sys.executable, "-m", "robot.cli", "dialogs", "check"], capture_output=True, text=True,
                        cwd=ROOT)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == 3


# -- behaviours, text in and intents out, through the real runtime in every language -------------------

WORDS = {
    "en": {"help": "I need a nurse", "yes": "yes I took it", "fine": "I'm fine", "pain": "my back hurts",
           "privacy": "stop listening", "wake": "hello robin", "repeat": "say that again", "slower": "slower please",
           "robot": "are you a robot", "nonsense": "purple elephant trombone", "time": "what time is it"},
    "de": {"help": "ich brauche eine schwester", "yes": "ja habe ich", "fine": "mir geht es gut",
           "pain": "mein rücken tut weh", "privacy": "hör auf zuzuhören", "wake": "hallo robin",
           "repeat": "sag das nochmal", "slower": "langsamer bitte", "robot": "bist du ein roboter",
           "nonsense": "lila elefant posaune", "time": "wie spät ist es"},
    "ko": {"help": "간호사 불러 주세요", "yes": "네 먹었어요", "fine": "좋아요", "pain": "허리가 아파요",
           "privacy": "듣지 마세요", "wake": "안녕 로빈", "repeat": "다시 말해 주세요", "slower": "천천히 말해 주세요",
           "robot": "너 로봇이야", "nonsense": "보라색 코끼리 트롬본", "time": "지금 몇 시예요"},
}


@pytest.fixture(params=LANGS)
def robot(request: pytest.FixtureRequest, config: Config) -> Iterator[tuple[Runtime, dict[str, str]]]:
    cfg = config.model_copy(update={"robot": config.robot.model_copy(update={"language": request.param})})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    assert wait_for(lambda: rt.behaviour.state == "idle", 10)
    rt.inject("engage")
    assert wait_for(lambda: rt.behaviour.state == "engaged", 2)
    yield rt, WORDS[request.param]
    rt.stop()


def keys(rt: Runtime) -> list[str]:
    return [s.key for s in rt.said]


def test_help_raises_an_alert_at_once_and_says_so(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    rt.hear(w["help"])
    assert wait_for(lambda: rt.behaviour.state == "alerting" and rt.alert_updates and rt.said_text, 2)
    assert [u["type"] for u in rt.alert_updates] == ["help_request"]
    assert keys(rt)[-1] == "help_called"
    pack_texts = rt.engine.pack.responses["help_called"]
    assert rt.said_text[-1] in pack_texts


def test_reminder_confirmed(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    rt.inject("disengage")
    rt.inject("remind", kind="medication")
    assert wait_for(lambda: rt.behaviour.state == "reminding" and keys(rt)[-1] == "reminder", 2)
    assert rt.engine.pack.kinds["medication"] in rt.said_text[-1]
    rt.hear(w["yes"])
    assert wait_for(lambda: rt.behaviour.state == "idle" and "reminder_thanks" in keys(rt), 10)  # (one tick)
    assert not rt.alert_updates


@pytest.mark.parametrize("lang", LANGS)
def test_reminder_ignored_until_it_becomes_an_alert(config: Config, lang: str) -> None:
    cfg = config.model_copy(update={"robot": config.robot.model_copy(update={"language": lang})})
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 10)
        rt.behaviour.timings = type(rt.behaviour.timings)(reprompt_interval_s=0.3, reprompts_before_alert=3)
        rt.inject("remind", kind="drink")
        assert wait_for(lambda: [u for u in rt.alert_updates if u["type"] == "reminder_unacked"], 5)
        assert keys(rt).count("reminder_again") == 2 and rt.behaviour.state == "idle"
        assert rt.alert_updates[0]["reminder"] == "drink"
        assert rt.engine.pack.kinds["drink"] in rt.said_text[0]  # said in the robot's language
    finally:
        rt.stop()


def test_unclear_reminder_answer_is_asked_again_not_guessed(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    rt.inject("disengage")
    rt.inject("remind", kind="medication")
    assert wait_for(lambda: rt.behaviour.state == "reminding", 2)
    rt.hear(w["nonsense"])
    assert wait_for(lambda: keys(rt)[-1] == "reminder_unclear", 2)
    assert rt.behaviour.state == "reminding"


def test_wellbeing_with_a_concerning_answer_alerts_with_the_category_only(robot: tuple[Runtime, dict[str, str]]
                                                                          ) -> None:
    rt, w = robot
    rt.inject("checkin")
    assert wait_for(lambda: keys(rt)[-1:] == ["wellbeing_ask"], 2)
    rt.hear(w["pain"])
    assert wait_for(lambda: rt.alert_updates, 2)
    alert = rt.alert_updates[0]
    assert (alert["type"], alert["concern"], alert["priority"]) == ("wellbeing_concern", "in_pain", "medium")
    assert keys(rt)[-1] == "wellbeing_concern"


def test_wellbeing_fine_raises_nothing(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    rt.inject("checkin")
    assert wait_for(lambda: keys(rt)[-1:] == ["wellbeing_ask"], 2)
    rt.hear(w["fine"])
    assert wait_for(lambda: keys(rt)[-1] == "wellbeing_fine", 2)
    assert not rt.alert_updates


def test_privacy_on_and_off_by_voice_and_by_button(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    rt.hear(w["privacy"])
    assert wait_for(lambda: rt.behaviour.state == "privacy" and rt.motion.indicator == "privacy", 2)
    rt.hear(w["time"])  # only the wake phrase counts now
    rt.hear(w["repeat"])
    time_keys = len([k for k in keys(rt) if k == "time"])
    assert rt.behaviour.state == "privacy" and time_keys == 0
    rt.hear(w["wake"])
    assert wait_for(lambda: rt.behaviour.state == "engaged" and keys(rt)[-1] == "privacy_off", 2)
    rt.press_button()
    assert wait_for(lambda: rt.behaviour.state == "privacy", 2)
    rt.press_button()
    assert wait_for(lambda: rt.behaviour.state == "engaged", 2)


def test_repeat_uses_other_words_and_slower_is_kept(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    n = len(rt.said)
    rt.hear(w["robot"])
    assert wait_for(lambda: len(rt.said) == n + 1, 2) and keys(rt)[-1] == "disclosure"
    first = rt.said_text[-1]
    rt.hear(w["repeat"])
    assert wait_for(lambda: len(rt.said) == n + 2, 2) and keys(rt)[-1] == "disclosure"
    assert rt.said_text[-1] != first  # the same thing, in other words
    rt.hear(w["slower"])
    assert wait_for(lambda: keys(rt)[-1] == "slower_ok", 2)
    assert rt.conversation.rate_step == -1 and rt.speech.rate_wpm == 135.0  # kept for the session
    rt.hear(w["slower"])
    rt.hear(w["slower"])
    assert wait_for(lambda: rt.conversation.rate_step == -3, 2)
    rt.hear(w["time"])
    assert wait_for(lambda: keys(rt)[-1] == "time", 2) and rt.speech.rate_wpm == 130.0  # never below 130
    rt.inject("disengage")  # the person walks away mid-conversation...
    rt.inject("hush")       # ...and the turn ends (as the listening timeout would end it)
    assert wait_for(lambda: rt.behaviour.state == "idle", 2)
    assert wait_for(lambda: rt.conversation.rate_step == 0, 2)  # the next person starts afresh


def test_disclosure_on_first_meeting_and_fallback_offers_a_menu(robot: tuple[Runtime, dict[str, str]]) -> None:
    rt, w = robot
    assert keys(rt)[:2] == ["greeting", "disclosure"]  # said when it first met the person
    rt.hear(w["nonsense"])
    assert wait_for(lambda: keys(rt)[-1] == "fallback", 2)


def test_understanding_runs_off_the_control_loop(robot: tuple[Runtime, dict[str, str]]) -> None:
    # Matching takes milliseconds of pure Python: it must never run in the 10 ms control tick.
    # (How long ticks take is measured by `carebot bench loop`, not here.)
    rt, w = robot
    conv = rt.conversation
    threads: list[str] = []
    hear = conv.hear

    def recording_hear(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return hear(*args, **kwargs)

    conv.hear = recording_hear  # type: ignore[method-assign]
    for _ in range(5):  # long nonsense is the engine's slowest case
        n = len(rt.said)
        rt.hear(w["nonsense"] + " " + w["nonsense"] + " " + w["nonsense"])
        assert wait_for(lambda n=n: len(rt.said) > n, 3)
    assert keys(rt)[-1] in ("fallback", "clarify")
    assert threads == ["dialog"] * 5, threads  # never the control-loop thread
