"""Dates and times said in the pack's language: through the real robot on a simulated clock, read the way
espeak-ng reads them aloud, and a pack whose clock section is broken refused with its file, line and key."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from robot.clock import Clock
from robot.config import Config
from robot.dialog_help_check import load_checked_pack
from robot.dialogs import DialogError, check_pack, load_pack
from robot.runtime import Runtime

from .conftest import ROOT, planted, wait_for

ENGLISH = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
           "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
NOW = dt.datetime(2026, 9, 30, 14, 30, 5)  # a Wednesday; the simulated clock stays in this minute for 55 s
ASK = {  # (date, time, activities) in residents' words
    "en": ("what day is it today", "what time is it", "what's on today"),
    "de": ("welcher tag ist heute", "wie spät ist es", "was steht heute an"),
    "ko": ("오늘 무슨 요일이야", "지금 몇 시예요", "오늘 일정이 뭐예요"),
}
ACTIVITY = {"en": "10:00 chair exercises", "de": "10:00 Sitzgymnastik", "ko": "10:00 체조"}
EXPECTED = {  # (date, time, activity) as a native speaker says them, and as espeak-ng reads them right
    "en": ("Wednesday the 30th of September 2026", "half past two in the afternoon",
           "chair exercises at ten o'clock in the morning"),
    "de": ("Mittwoch, der dreißigste September 2026", "14 Uhr 30", "um 10 Uhr Sitzgymnastik"),
    "ko": ("2026년 구월 30일 수요일", "오후 두 시 반", "오전 열 시 정각에 체조"),
}


def foreign(text: str, language: str) -> list[str]:
    """English weekday and month names in a sentence that is not English (those the pack shares excepted)."""
    pack = load_pack(ROOT / "dialogs" / language)
    own = {*pack.clock.weekdays, *pack.clock.months}
    return [w for w in ENGLISH if w not in own and re.search(rf"\b{w}\b", text, re.IGNORECASE)]


@pytest.mark.parametrize("language", ("en", "de", "ko"))
def test_the_robot_says_the_date_and_time_in_its_own_language(config: Config, language: str) -> None:
    cfg = config.model_copy(update={
        "robot": config.robot.model_copy(update={"language": language}),
        "schedule": config.schedule.model_copy(update={"activities": (ACTIVITY[language],)})})
    rt = Runtime(cfg, simulate=True, clock=Clock.simulated(NOW))
    rt.start()
    try:
        assert wait_for(lambda: rt.behaviour.state == "idle", 10)
        rt.inject("engage")
        assert wait_for(lambda: rt.behaviour.state == "engaged", 2)
        said = []
        for words, key in zip(ASK[language], ("date", "time", "activities"), strict=True):
            before = len(rt.said)
            rt.hear(words)
            assert wait_for(lambda n=before, k=key: len(rt.said) > n and rt.said[-1].key == k, 5), (
                words, rt.said[before:])
            said.append(rt.said_text[-1])
    finally:
        rt.stop()
    for sentence, native in zip(said, EXPECTED[language], strict=True):
        assert native in sentence
        if language != "en":
            assert foreign(sentence, language) == [], sentence
        assert not re.search(r"\d:\d\d", sentence), sentence  # never "14:30" read out as digits


def every_minute() -> list[dt.time]:
    return [dt.time(m // 60, m % 60) for m in range(24 * 60)]


def every_day() -> list[dt.date]:
    return [dt.date(2028, 1, 1) + dt.timedelta(days=d) for d in range(366)]  # a leap year


def test_every_time_and_date_reads_right_aloud() -> None:
    """What espeak-ng misreads never comes out: German "eins Uhr" and "30." (read "dreißig"), Korean "2시" (read
    "이 시"), "6월" and "10월" (read "육월", "십월"), an English "1 minutes"; and every answer is the pack's own."""
    en, de, ko = (load_pack(ROOT / "dialogs" / lang).clock for lang in ("en", "de", "ko"))
    de_said = [de.time(t) for t in every_minute()] + [de.date(d) for d in every_day()]
    assert not [s for s in de_said if re.search(r"(^|\s)1 Uhr|\d\.|[A-Z][a-z]+day", s)]
    assert foreign(" ".join(de_said), "de") == []
    assert de.time(dt.time(1, 5)) == "ein Uhr 5" and de.date(dt.date(2026, 3, 1)) == "Sonntag, der erste März 2026"
    ko_said = [ko.time(t) for t in every_minute()] + [ko.date(d) for d in every_day()]
    assert not [s for s in ko_said if re.search(r"\d\s*시|\d\s*월|[A-Za-z]", s)]
    # the responses add 이에요: every date and time ends on a consonant (a final syllable with a batchim)
    assert all((ord(s[-1]) - 0xAC00) % 28 != 0 for s in ko_said)
    assert ko.date(dt.date(2026, 6, 10)) == "2026년 유월 10일 수요일" and ko.time(dt.time(0, 0)) == "밤 열두 시 정각"
    en_said = [en.time(t) for t in every_minute()]
    assert not [s for s in en_said if re.search(r"\b1 minutes|\d:\d", s)]
    assert (en.time(dt.time(11, 45)), en.time(dt.time(12, 0)), en.time(dt.time(23, 58))) == (
        "quarter to twelve in the morning", "twelve noon", "2 minutes to twelve at night")


def test_an_activity_without_a_time_is_said_as_written() -> None:
    clock = load_pack(ROOT / "dialogs" / "de").clock
    assert clock.activity("Singen im Garten") == "Singen im Garten"
    assert clock.activity("25:00 Singen") == "25:00 Singen"
    assert clock.activity("9.30 - Kaffee") == "um 9 Uhr 30 Kaffee"


BROKEN = [  # (pack, what staff wrote, what they broke it to, the key named, words of the message)
    ("de", 'date: "{weekday}, der {day} {month} {year}"', 'date: "{Wochentag}, der {day} {month} {year}"',
     "clock.date", "unknown placeholder {Wochentag}"),
    ("ko", 'date: "{year}년 {month} {day}일 {weekday}"', 'date: "{year}년 {month} {day}일 {weekday"',
     "clock.date", "is not a valid pattern"),
    ("en", 'date: "{weekday} the {day} of {month} {year}"', 'date: "{weekday} {year}"', "clock.date",
     "must say {day}, {month}"),
    ("de", "Oktober, November, Dezember]", "Oktober, November]", "clock.months", "must list exactly 12"),
    ("ko", "    - {minutes: 0-59, say:", "    - {minutes: 1-29, say:", "clock.times", "no rule says 00:31"),
    ("en", "    - {minutes: 5, say:", "    - {minutes: 5-61, say:", "clock.times.6.minutes", "from 0 to 59"),
    ("de", "  activity: \"um {time} {what}\"\n", "", "clock.activity", "required key is missing"),
    # a required key left empty (its value deleted, to be written later): the robot used to start and then fail
    # the resident's question (an empty date, or a StopIteration/IndexError where the time should have been)
    ("en", 'date: "{weekday} the {day} of {month} {year}"', "date:", "clock.date", "must not be empty"),
    ("de", "  weekdays: [Montag, Dienstag, Mittwoch, Donnerstag, Freitag, Samstag, Sonntag]", "  weekdays:",
     "clock.weekdays", "must not be empty"),
    ("ko", '  times:\n    - {minutes: 0, say: "{part} {hour} 시 정각"}\n'
     '    - {minutes: 30, say: "{part} {hour} 시 반"}\n    - {minutes: 0-59, say: "{part} {hour} 시 {minute}분"}\n',
     "  times:\n", "clock.times", "must not be empty"),
    # digits that str.isdigit() takes and int() refuses (superscripts), and a number too long for int(): a
    # ValueError traceback at the robot's start instead of the key and what is wrong
    ("en", "{hours: 12, minutes: 0,", "{hours: ¹², minutes: 0,", "clock.times.0.hours", "from 0 to 23"),
    ("en", "{hours: 12, minutes: 0,", '{hours: 12, minutes: "' + "9" * 5000 + '",', "clock.times.0.minutes",
     "from 0 to 59"),
]


@pytest.mark.parametrize(("language", "edit", "broken", "key", "message"), BROKEN,
                         ids=[f"{b[0]}-{b[3]}-{i}" for i, b in enumerate(BROKEN)])
def test_a_broken_clock_section_is_refused_naming_pack_file_and_key(
        tmp_path: Path, language: str, edit: str, broken: str, key: str, message: str) -> None:
    folder = planted(tmp_path, edit, broken, language).parent
    _, problems = check_pack(folder)
    assert [(p.path, message in p.message) for p in problems] == [(key, True)], problems
    assert problems[0].line is not None and problems[0].file == str(folder / "pack.yaml")
    with pytest.raises(DialogError):
        load_checked_pack(folder)  # as the robot's start reads it: it does not start


def test_dialogs_check_and_the_robot_refuse_a_broken_date_pattern(tmp_path: Path, config: Config) -> None:
    good, broken = 'date: "{weekday}, der {day} {month} {year}"', 'date: "{weekday}, der {day."'
    folder = planted(tmp_path, good, broken, "de").parent
    proc = subprocess.run([sys.executable, "-m", "robot.cli", "dialogs", "check", str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    line = next(n for n, text in enumerate((folder / "pack.yaml").read_text().splitlines(), 1) if "{day." in text)
    where = f"{folder / 'pack.yaml'}:{line}: clock.date = '{{weekday}}, der {{day.'"
    assert f"{where}: is not a valid pattern" in proc.stdout
    cfg = config.model_copy(update={"dialogs": config.dialogs.model_copy(update={"path": tmp_path}),
                                    "robot": config.robot.model_copy(update={"language": "de"})})
    with pytest.raises(DialogError, match="clock.date"):
        Runtime(cfg, simulate=True).start()


def test_a_number_too_long_for_python_is_refused_with_its_line(tmp_path: Path) -> None:
    """YAML reads an unquoted run of digits as an integer, which Python refuses past 4300 digits: the pack is
    refused with its line, never a ValueError traceback at the robot's start."""
    folder = planted(tmp_path, "{hours: 12, minutes: 0,", "{hours: 12, minutes: " + "9" * 5000 + ",", "en").parent
    _, problems = check_pack(folder)
    line = next(n for n, text in enumerate((folder / "pack.yaml").read_text().splitlines(), 1) if "9999" in text)
    assert [(p.line, "number" in p.message) for p in problems] == [(line, True)], problems


def test_a_number_too_long_for_python_in_the_screens_words_is_refused(tmp_path: Path) -> None:
    """The same in dialogs/<language>/screen.yaml, which [screen] enabled reads at the robot's start."""
    from robot.screen_texts import check_texts

    words = tmp_path / "screen.yaml"
    words.write_text((ROOT / "dialogs" / "en" / "screen.yaml").read_text(encoding="utf-8") + "x: " + "9" * 5000 + "\n")
    texts, problems = check_texts(words)
    assert texts is None and [p.message for p in problems] == ["not valid YAML: a number too long to read"]
