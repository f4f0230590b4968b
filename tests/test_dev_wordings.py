"""Our own resident wordings (tests/dev_wordings.yaml) are taken as a care worker would take them.

They were written for the last pass of issue 10, apart from the evaluation corpus, to find where the
matcher failed to generalise (a hedged answer to a reminder read as a yes, "which tablets?" read as
nothing, a one-syllable Korean yes inside "예쁘게"), and stay here so the fixes keep working. Each goes
through the dialog engine and a fresh conversation in its context, as the dialog thread hands it on.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pytest
import yaml

from robot.bench.understanding import conversation_in, correct
from robot.dialog_engine import DialogEngine
from robot.dialogs import load_pack

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 27, 10, 0)
WORDINGS: dict[str, list[list[str]]] = yaml.safe_load((Path(__file__).parent / "dev_wordings.yaml").read_text(
    encoding="utf-8"))


@cache
def engine(lang: str) -> DialogEngine:
    return DialogEngine(load_pack(ROOT / "dialogs" / lang), seed=1)


@pytest.mark.parametrize("lang", sorted(WORDINGS))
def test_our_own_wordings_are_understood(lang: str) -> None:
    wrong = []
    for text, context, expect in WORDINGS[lang]:
        label = conversation_in(engine(lang), context).decide(text, 1.0, NOW).label
        if not correct(expect, label):
            wrong.append(f"{text!r} in {context}: {label}, expected {expect}")
    assert wrong == []


def test_the_file_is_well_formed_and_covers_every_context_in_every_language() -> None:
    for lang, items in WORDINGS.items():
        assert all(len(item) == 3 and all(isinstance(x, str) for x in item) for item in items), lang
        assert {c for _, c, _ in items} >= {"open", "reminder", "wellbeing", "privacy"}, lang
