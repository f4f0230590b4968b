"""Help in residents' own words, attacked with wordings no pack, corpus or other test holds.

Each was dropped before (read as nothing, as "no", as the wake phrase, as the name question, or as a
"fine" in answer to "how are you feeling?"). Help recall stays whole: in every context each is raised
or at least asked about ("Shall I call a nurse?"); in answer to the wellbeing question a complaint may
also be a concerning category, which reaches staff as a wellbeing concern. The words go through the
dialog engine and the conversation as the dialog thread hands them on; one goes the whole way, through
the running robot to a staff subscriber on a real mosquitto.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from robot.bench.understanding import conversation_in
from robot.config import Config
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack
from robot.runtime import Runtime

from .broker import SITE, STAFF, Broker, Client, alerts, robot_config
from .conftest import planted, start_idle, wait_for

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
CONTEXTS = ("open", "reminder", "wellbeing", "quiz", "privacy", "speaking", "booting")
MISSED = {
    "en": ["I'm not alright", "no, I'm not alright at all", "I'm not ok", "I don't know where I am",
           "where am I", "please come", "come quick", "I've wet myself", "I can't swallow",
           "I don't want to die", "I'm not very good", "nobody's come", "where is everybody"],
    "de": ["ich komm nicht mehr hoch", "ich kann nicht schlucken", "ich weiß nicht wo ich bin",
           "ich will nicht sterben", "kommen Sie schnell", "bitte kommen Sie", "ich hab mich eingenässt",
           "ich seh nichts mehr", "mir ist ganz komisch", "mir geht's gar nicht gut",
           "es ist nicht in Ordnung mit mir", "i krieg ka Luft", "ich kann nimmer aufstehn"],
    "ko": ["누구 없어요", "여기 누구 있어요", "빨리 와 주세요", "빨리 와줘", "119 불러줘", "토했어요",
           "여기가 어디예요", "삼킬 수가 없어", "앞이 안 보여", "괜찮지 않아", "안 괜찮아요",
           # "X 수 없" (cannot X), and distress whose own words say no: the 없 negated the distress itself
           "숨을 쉴 수가 없어", "움직일 수 없어요", "몸을 움직일 수가 없어", "다리에 감각이 없어요",
           "말을 할 수가 없어", "사람 좀 와 봐", "아이고 나 죽네"],
}
ENGINES = {lang: DialogEngine(load_pack(ROOT / "dialogs" / lang)) for lang in MISSED}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in MISSED.items() for t in ts])
def test_a_call_in_own_words_is_raised_or_asked_in_every_context(lang: str, text: str) -> None:
    assert_reaches_staff(ENGINES[lang], lang, text)


def assert_reaches_staff(engine: DialogEngine, lang: str, text: str) -> None:
    """Raised or asked about in every context; in answer to "how are you feeling?", a concerning answer (a
    wellbeing alert) reaches staff too."""
    for context in CONTEXTS:
        label = conversation_in(engine, context).decide(text, 1.0, NOW).label
        reaches = label in ("help", "ask") or (context == "wellbeing" and label in engine.pack.concerning)
        assert reaches, f"{lang} {context}: {text!r} was taken as {label!r}"


@pytest.mark.parametrize(("lang", "text"), [("en", "I'm not alright"), ("en", "I'm not fine, love"),
                                            ("de", "gar nicht gut"), ("ko", "괜찮지 않아요")])
def test_a_negated_fine_is_never_fine(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "wellbeing")
    assert conv.decide(text, 1.0, NOW).label in ENGINES[lang].pack.concerning


@pytest.mark.parametrize(("lang", "text"), [("en", "no, I'm fine thanks"), ("en", "not bad at all"),
                                            ("de", "nein, mir geht's gut"), ("ko", "괜찮아요")])
def test_fine_is_still_fine(lang: str, text: str) -> None:
    assert conversation_in(ENGINES[lang], "wellbeing").decide(text, 1.0, NOW).label == "fine"


def robot_and_staff(config: Config, broker: Broker, language: str = "en") -> tuple[Runtime, Client]:
    """A running robot speaking `language` whose help question waits a minute (so only an answer can call staff
    within a test), and a staff subscriber on the same broker."""
    cfg = robot_config(config, broker, heartbeat_s=1)
    cfg = cfg.model_copy(update={"robot": cfg.robot.model_copy(update={"language": language}),
                                 "behaviour": cfg.behaviour.model_copy(update={"help_confirm_timeout_s": 60.0})})
    staff = Client(broker, STAFF)
    assert staff.connect() == 0 and staff.subscribe(f"carebot/v1/{SITE}/#") == [1]
    return start_idle(cfg), staff


def answering_the_help_question_reaches_staff(config: Config, broker: Broker, unsure: str, answer: str,
                                              language: str = "en", priority: str | None = "high") -> list[str]:
    """Through the running robot: `unsure` makes it ask "Shall I call a nurse for you?", and `answer` must raise a
    help alert (of `priority`, unless None) at a staff subscriber. The question's timeout is long, so only the
    answer can call staff. What the robot said, by key."""
    rt, staff = robot_and_staff(config, broker, language)
    try:
        rt.hear(unsure)
        assert wait_for(lambda: rt.said and rt.said[-1].key == "help_confirm", 5), rt.behaviour.state
        rt.hear(answer)
        assert wait_for(lambda: alerts(staff, type="help_request", state="raised"), 10), rt.said[-1]
        if priority is not None:
            assert alerts(staff, type="help_request", state="raised")[0]["priority"] == priority
        assert rt.behaviour.state == "alerting"
        return [s.key for s in rt.said]
    finally:
        rt.stop()
        staff.close()


def test_come_quick_then_no_i_cannot_breathe_reaches_staff_through_the_running_robot(config: Config,
                                                                                   broker: Broker) -> None:
    answering_the_help_question_reaches_staff(config, broker, "come quick", "no, I can't breathe")  # was a "no"


# Answers to "Shall I call a nurse for you?" that began with "no" and were taken as no, cancelling the call.
NO_BUT = {"en": ["no, I can't breathe", "no no, get someone", "nope, I need the doctor not the nurse",
                 "no, it's my chest"],
          "de": ["nein, mir geht's gar nicht gut", "nein, mir ist so komisch"],
          "ko": ["아니 괜찮지 않아"]}


@pytest.mark.parametrize(("lang", "text"), [(lang, t) for lang, ts in NO_BUT.items() for t in ts])
def test_a_no_that_goes_on_to_ask_for_help_never_cancels_the_call(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    decision = conv.decide(text, 1.0, NOW)
    assert decision.label in ("help", "unclear"), decision  # both call staff; only "no" cancels
    assert ("help_no", {}) not in decision.actions


@pytest.mark.parametrize(("lang", "text"), [("en", "I don't know"), ("de", "weiß nicht"), ("ko", "모르겠어")])
def test_not_knowing_is_no_no_to_the_help_question(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    assert conv.decide(text, 1.0, NOW).label != "no"


@pytest.mark.parametrize(("lang", "text"), [("en", "no thanks, I'm fine"), ("en", "no"), ("de", "nein danke"),
                                            ("ko", "아니요 괜찮아요")])
def test_a_plain_no_still_cancels(lang: str, text: str) -> None:
    conv = conversation_in(ENGINES[lang], "open")
    conv.set_context("confirming")
    assert conv.decide(text, 1.0, NOW).label == "no"


@pytest.mark.parametrize("lang", sorted(ENGINES))
def test_every_distress_phrase_of_a_pack_calls_for_help_on_its_own(lang: str) -> None:
    engine = ENGINES[lang]
    for phrase in engine.pack.lexicon.distress:
        verdict = engine.help(phrase)
        assert verdict is not None and verdict.sure, f"{lang}: distress {phrase!r} is read as {verdict}"


def test_dialogs_check_refuses_a_staff_edit_that_makes_a_call_word_another_intent(tmp_path: Path) -> None:
    # Well formed, so the form check passed it; yet "nurse!" then asked the robot's name and called no one.
    pack = planted(tmp_path, 'examples: ["what\'s your name"', 'examples: ["nurse", "what\'s your name"')
    edited = pack.read_text(encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "dialogs", "check", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    line = 1 + edited[:edited.index('examples: ["nurse"')].count("\n")
    assert proc.returncode == 1, proc.stdout
    assert f"{pack}:{line}: intents.name.examples.0 = 'nurse': is the call for help 'nurse'" in proc.stdout


def test_the_robot_refuses_at_start_a_pack_that_no_longer_hears_a_call(tmp_path: Path, config: Config,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # The same well-formed edit as above: `dialogs check` refused it, but the robot started with it and
    # "nurse!" asked its name. Now the start refuses it too, as any bad pack, naming file, line and key.
    from robot.cli import main
    from robot.dialogs import DialogError
    from robot.runtime import Runtime

    pack = planted(tmp_path / "dialogs", 'examples: ["what\'s your name"', 'examples: ["nurse", "what\'s your name"')
    edited = pack.read_text(encoding="utf-8")
    cfg = config.model_copy(update={"dialogs": config.dialogs.model_copy(update={"path": tmp_path / "dialogs"})})
    with pytest.raises(DialogError):  # raised, so nothing was started (a start that passed would be running)
        Runtime(cfg, simulate=True).start()
    toml = tmp_path / "robot.toml"  # the command a service runs: a clear message and exit 2, never a traceback
    toml.write_text(f'[robot]\nlanguage = "en"\nstate_dir = "{tmp_path / "state"}"\n'
                    f'[dialogs]\npath = "{tmp_path / "dialogs"}"\n', encoding="utf-8")
    assert main(["run", "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    line = 1 + edited[:edited.index('examples: ["nurse"')].count("\n")
    assert f"{pack}:{line}: intents.name.examples.0 = 'nurse': is the call for help 'nurse'" in err
    assert "the dialog pack was refused" in err and "Traceback" not in err
