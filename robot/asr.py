"""Recogniser grammars: the dialog engine's phrases, kept to what the model knows.

A grammar (a phrase list, plus "[unk]" when the model has it) is the main lever for
accuracy with small models. Words the model lacks would be dropped silently by Vosk,
so they are checked here and reported with the phrases they came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from hardware.recogniser import UNK


@dataclass(frozen=True)
class Grammar:
    """Phrases the model can recognise, and the words it could not."""

    phrases: tuple[str, ...]
    missing: dict[str, tuple[str, ...]]  # word -> phrases that needed it

    def listed(self, unk: bool) -> list[str]:
        """The grammar as the recogniser takes it, with "[unk]" for everything else when the model has it."""
        return [*self.phrases, *([UNK] if unk else [])]

    def json(self, unk: bool) -> str:
        """The grammar as Vosk's KaldiRecognizer takes it."""
        return json.dumps(self.listed(unk), ensure_ascii=False)


def build_grammar(phrases: list[str], knows: Callable[[str], bool]) -> Grammar:
    """Keep the phrases whose every word the model knows (`Recogniser.knows`); report the rest."""
    kept: list[str] = []
    missing: dict[str, list[str]] = {}
    for phrase in phrases:
        absent = [w for w in phrase.split() if not knows(w)]
        if absent:
            for w in absent:
                missing.setdefault(w, []).append(phrase)
        else:
            kept.append(phrase)
    return Grammar(tuple(dict.fromkeys(kept)), {w: tuple(p) for w, p in missing.items()})


def has_unk(knows: Callable[[str], bool]) -> bool:
    """Whether the model knows the [unk] token (some small models do not)."""
    return knows(UNK)
