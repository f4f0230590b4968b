"""The speech twins on their own (hardware/recogniser_text.py, hardware/tts_sim.py), their config, and
one run through the real door: words typed at the console, over the robot's simulated voice, reach
staff as a call for help. (Both twins also pass the devices' contract tests beside the real engines.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hardware.recogniser import UNK
from hardware.recogniser_text import LATE_S, TextRecogniser
from hardware.speech_devices import make_recogniser
from robot import console, sim_speech
from robot.config import Config
from robot.config_load import check_config, load_config
from robot.errors import ConfigError
from robot.runtime import Runtime

from .conftest import ROOT, wait_for


def read(rec: TextRecogniser, text: str, grammar: list[str] | None, **kw: float) -> tuple[list[str], str, float]:
    """Say `text`, feed its sound and a second of silence as speech in does; partials, text, confidence."""
    pcm = rec.hear(text, **kw) + bytes(32000)
    rec.begin(grammar)
    partials = [rec.accept(pcm[i:i + 4800]) for i in range(0, len(pcm), 4800)]
    heard = rec.end()
    return partials, heard.text, heard.confidence


def test_words_outside_the_grammar_are_unk_and_make_it_less_sure() -> None:
    rec = TextRecogniser()
    _, sure_text, sure = read(rec, "네.", ["네", "아니요", UNK])
    _, text, unsure = read(rec, "네 바나나", ["네", "아니요", UNK])
    assert sure_text == text == "네" and sure > 0.9 and unsure < 0.6


def test_without_unk_a_stray_word_is_forced_onto_the_most_alike_phrase() -> None:
    _, text, _ = read(TextRecogniser(), "간호사님", ["간호사 불러", "네"])
    assert text == "간호사 불러"  # what Vosk does too: why grammars keep [unk]


def test_a_close_rival_reading_lowers_the_confidence_and_is_offered() -> None:
    rec = TextRecogniser()
    _, _, far = read(rec, "약 먹었어요", ["약 먹었어요", "아니요"])
    rec.hear("약 먹었어요")
    rec.begin(["약 먹었어요", "약 먹었어"])
    heard = rec.end()
    assert heard.text == "약 먹었어요" and heard.alternatives == ("약 먹었어",)
    assert heard.confidence < 0.8 < far


def test_partials_grow_word_by_word_and_a_scripted_confidence_is_kept() -> None:
    partials, text, confidence = read(TextRecogniser(), "간호사 불러 주세요", None, confidence=0.3)
    grown = list(dict.fromkeys(p for p in partials if p))
    assert grown == ["간호사", "간호사 불러", "간호사 불러 주세요"] and text == grown[-1]
    assert confidence == 0.3


def test_a_grammar_of_no_words_without_unk_hears_nothing_and_does_not_crash() -> None:
    # phrases that are only punctuation, and no [unk]: there is no phrase to force a stray word onto
    # (max() of nothing raised in speech in's frame loop, and every utterance would have crashed the worker)
    assert read(TextRecogniser(), "help me", ["!!", ""])[1] == ""


def test_words_whose_voice_went_unheard_are_never_read_later() -> None:
    rec = TextRecogniser()
    rec.hear("도와 주세요", start=time.monotonic() - 5 - LATE_S)  # played while speech in was muted
    _, text, _ = read(rec, "네", None)
    assert text == "네"


def test_the_factories_refuse_an_unknown_engine_by_name() -> None:
    with pytest.raises(ValueError, match="'whisper'.*vosk, text"):
        make_recogniser("whisper", Path("/nonexistent"))


def test_config_picks_the_twins_and_says_what_is_wrong(tmp_path: Path) -> None:
    base = (ROOT / "config" / "carebot.toml").read_text().replace('state_dir = "../.state"',
                                                                   f'state_dir = "{tmp_path}"')
    good = tmp_path / "twins.toml"
    good.write_text(base + '\n[speech]\nenabled = true\nsource = "sim"\nrecogniser = "text"\nsynthesiser = "sim"\n')
    speech = load_config(good).speech
    assert (speech.recogniser, speech.synthesiser, speech.model) == ("text", "sim", None)  # no model needed
    assert load_config(ROOT / "config" / "carebot.toml").speech.recogniser == "vosk"  # the default stays real
    bad = tmp_path / "bad.toml"
    bad.write_text(base + '\n[speech]\nrecogniser = "whisper"\nsynthesiser = "festival"\n')
    problems = {p.path: p for p in check_config(bad)}
    assert "'vosk' or 'text'" in problems["speech.recogniser"].message and problems["speech.recogniser"].line
    assert "'espeak' or 'sim'" in problems["speech.synthesiser"].message
    alsa = tmp_path / "alsa.toml"
    alsa.write_text(base + '\n[speech]\nsource = "alsa"\nrecogniser = "text"\n')
    with pytest.raises(ConfigError, match="set speech.source = 'sim'"):
        load_config(alsa)


def test_typed_words_over_the_robots_simulated_voice_call_for_help(config: Config, tmp_path: Path) -> None:
    """`carebot sim --speech-twins`: the robot greets in its timed voice; during the long disclosure the
    technician types a call for help, which goes through speech in's barge-in path and reaches staff."""
    cfg = sim_speech.prepare(config, speech="ko", twins=True)
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 40)  # boot waits for both speech workers
        rt.inject("engage")
        assert wait_for(lambda: rt.speech.jobs.history, 30)  # the greeting's first sentence has been said
        assert rt.speech.busy  # and the disclosure plays
        said: list[str] = []
        time.sleep(2.5)  # the echo canceller learns the room from the robot's voice (LEARN_S)
        assert console.handle("hear 살려 주세요", rt, said.append) and said == []
        assert wait_for(lambda: [u for u in rt.alert_updates if u["type"] == "help_request"], 15), (
            rt.behaviour.history[-5:], rt.barge.metrics())
        assert list((Path(cfg.robot.state_dir) / "speech").glob("say-*.wav"))  # the timed voice's sentences
        assert "살려" not in (rt.state_dir / "audit.jsonl").read_text()  # what was heard is never recorded
    finally:
        rt.stop()


def test_a_scenario_hears_typed_words_only_with_the_twins(tmp_path: Path) -> None:
    from robot.scenario import ScenarioError, load

    def problems(speech: str, step: str) -> str:
        path = tmp_path / "s.yaml"
        path.write_text(f"name: x\nstart: 2026-11-27T10:00\nspeech: {speech}\nsteps:\n  - {step}\n")
        with pytest.raises(ScenarioError) as info:
            load(path)
        return str(info.value)

    assert "hear needs the speech twins (`speech: twins`)" in problems("ko", "hear: I need a nurse")
    assert "use `hear`, or `speech: ko`" in problems("twins", "play: help")
    assert "'ko' or 'twins'" in problems("whisper", "hear: hello")


@pytest.mark.parametrize("driver", ["maestro", "sim"])
def test_a_twin_under_carebot_run_is_a_fault_staff_see_and_status_names_it(
        config: Config, sim_board: object, capsys: pytest.CaptureFixture[str], driver: str) -> None:
    """`carebot run` with a twin configured (a simulator's config copied to a robot) hears no resident and
    says nothing aloud: staff get a robot_fault, and `carebot status` says so. On a real servo board here;
    `servo.driver = "sim"` does not hide it either (only `carebot sim` simulates unseen)."""
    import argparse
    import json

    from robot.status_cli import cmd_status

    cfg = sim_speech.prepare(config, twins=True)
    if driver == "maestro":
        cfg = cfg.model_copy(update={"servo": cfg.servo.model_copy(
            update={"driver": "maestro", "port": sim_board.port, "protocol": "pololu"})})  # type: ignore[attr-defined]
    rt = Runtime(cfg)  # as `carebot run` builds it: no simulation asked for
    rt.start()
    try:
        assert wait_for(lambda: [u for u in rt.alert_updates
                                 if u["type"] == "robot_fault" and u.get("fault") == "speech_simulated"], 10)
        status = rt.state_dir / "status.json"
        assert wait_for(lambda: status.exists() and json.loads(status.read_text())["speech"]["simulated"], 10)
    finally:
        rt.stop()
    toml = rt.state_dir / "carebot.toml"
    toml.write_text(f'[robot]\nstate_dir = "{rt.state_dir}"\n')
    assert cmd_status(argparse.Namespace(config=str(toml), json=False)) == 0
    out = capsys.readouterr().out
    assert "SIMULATED: microphone, recogniser, voice, loudspeaker" in out, out


def test_a_huge_typed_text_is_cut_to_what_one_utterance_holds() -> None:
    """A paste of thousands of words made minutes of sound (14 s and 0.9 GB for 3000 words) in speech in,
    which then missed its heartbeats and heard nothing meanwhile: a resident says at most MAX_WORDS at once."""
    from hardware.recogniser_text import MAX_WORDS, WORD_S

    rec = TextRecogniser()
    t0 = time.process_time()
    sound = rec.hear("도와 주세요 " * 50_000)
    assert time.process_time() - t0 < 2.0  # a bound, not a benchmark: it was a minute and gigabytes
    assert len(sound) / 2 / 16000 < MAX_WORDS * WORD_S + 4
    rec.begin(None)
    assert len(rec.end().text.split()) == MAX_WORDS


def test_a_call_for_help_typed_right_after_other_words_is_heard(config: Config) -> None:
    """Two `hear`s in a row play one after the other on the simulated microphone; the second's words were
    timed from when they were typed, so by the time their sound played they counted as long unheard, and a
    call for help after a greeting never reached staff. The console read the words as shell syntax: "I can't
    get up" was refused as an unclosed quotation."""
    cfg = sim_speech.prepare(config, speech="en", twins=True)
    rt = Runtime(cfg, simulate=True)
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 40)
        said: list[str] = []
        assert console.handle("hear good morning", rt, said.append)
        # a resident's words are no shell syntax: an apostrophe is no unclosed quotation
        assert console.handle("hear I can't get up", rt, said.append) and said == []
        assert wait_for(lambda: [u for u in rt.alert_updates if u["type"] == "help_request"], 20), (
            rt.behaviour.history[-6:])
    finally:
        rt.stop()


def test_words_typed_in_another_unicode_form_are_heard_as_said() -> None:
    """Vosk hears the sound, not how it was typed: decomposed Hangul (a Mac's paste) or full-width letters
    read as [unk] and a call for help typed that way was never heard."""
    import unicodedata

    for typed in (unicodedata.normalize("NFD", "살려 주세요"), "ＨＥＬＰ ｍｅ"):
        _, text, _ = read(TextRecogniser(), typed, ["살려 주세요", "help me", UNK])
        assert text == unicodedata.normalize("NFKC", typed).lower(), typed
