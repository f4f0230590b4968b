"""The words on the resident's screen, from the pack's screen.yaml (dialogs/<language>/screen.yaml).

Every button label and state word must be there, short enough for a big button at 800x480:
a missing or unknown key is refused at start with its file and key, as a bad pack is.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from robot.dialogs import DialogError
from robot.errors import Problem, read_input
from robot.intents import IndicatorMode

BUTTONS = ("call_staff", "stop_listening", "start_listening", "say_again", "slower")
STATES: tuple[IndicatorMode, ...] = ("off", "idle", "listening", "privacy", "alert", "paused", "sleep", "fault")
CAPTIONS = ("none", "offline")
SECTIONS = {"buttons": (BUTTONS, 24), "states": (STATES, 32), "captions": (CAPTIONS, 120)}

Texts = dict[str, dict[str, str]]


def screen_file(dialogs: Path, language: str) -> Path:
    """Where a language's screen words live."""
    return dialogs / language / "screen.yaml"


def check_texts(path: Path) -> tuple[Texts | None, list[Problem]]:
    """The screen's words, or every problem with them (file and key)."""
    name = str(path)
    text, problems = read_input(path, "screen words")
    if text is None:
        return None, problems
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [Problem(name, "", f"not valid YAML: {exc}", show_value=False)]
    except ValueError:  # an unquoted number past int()'s 4300 digits: YAML reads it, Python refuses it
        return None, [Problem(name, "", "not valid YAML: a number too long to read", show_value=False)]
    if not isinstance(data, dict):
        return None, [Problem(name, "", "must map buttons, states and captions to their words", show_value=False)]
    out: Texts = {}
    for key in sorted(set(data) - set(SECTIONS)):
        problems.append(Problem(name, str(key), f"unknown key; allowed: {', '.join(SECTIONS)}", show_value=False))
    for section, (names, longest) in SECTIONS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            problems.append(Problem(name, section, f"missing: a mapping of {', '.join(names)}", show_value=False))
            continue
        for key in sorted(set(map(str, table)) - set(names)):
            problems.append(Problem(name, f"{section}.{key}", f"unknown key; allowed: {', '.join(names)}",
                                    show_value=False))
        words = out.setdefault(section, {})
        for key in names:
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(name, f"{section}.{key}", "missing: the screen needs words here", value))
            elif len(value) > longest:
                problems.append(Problem(name, f"{section}.{key}", f"too long for the screen (at most {longest} "
                                        "characters)", value))
            else:
                words[key] = value.strip()
    return (None if problems else out), problems


def load_texts(dialogs: Path, language: str) -> Texts:
    """The screen's words for a language; DialogError lists every problem."""
    texts, problems = check_texts(screen_file(dialogs, language))
    if texts is None:
        raise DialogError(problems)
    return texts
