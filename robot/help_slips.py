"""A help word slipped by one letter ("hepl", "nurce", "ambulence", "Krankenwagn") or, in Korean, broken by stray
spaces ("살 려 주세요", "간 호 사 불러 주세요"), or typed with a letter held ("heeeelp", "nurseee"), read as the help
word where no ordinary word is meant: the robot asks.

Vosk with a grammar seldom gives such words, but the typed console, the screen and other recognisers do. An ordinary
word one letter from a help word is what it says: "held", "hell" and "purse" are common words of the language (its
word list, pyspellchecker's, read once on the first word that comes this near a help word, and only that word's
neighbours kept). A rare one ("yelp", "kelp") is read as the help word only inside a help phrase of several words
("yelp me": "help me"), never alone ("the dog gave a yelp"). Korean keeps no word list: there a one-syllable piece
joined to its neighbour must make a help word that neither piece began with.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from rapidfuzz.distance import OSA

from robot.reading import Reader
from robot.understanding import HelpReader

log = logging.getLogger(__name__)

SHORTEST = 4  # help words shorter than this ("sos", "arzt" aside) have too many ordinary neighbours
COMMON = 0.01  # a word this frequent, against the help word it is near, is meant as itself ("held" to "help")
LETTERS = "abcdefghijklmnopqrstuvwxyzäöüß"
CACHE = 10_000
JOINED = 4  # pieces a Korean help word may be split into by stray spaces ("구 급 차", "간 호 사님")
HELD = re.compile(r"(.)\1{2,}")  # a letter held, three times or more ("heeeelp", "nurseee"): no word has that

#: Per language, the ordinary words one edit from a help word, with their frequency against the help word's
_NEIGHBOURS: dict[tuple[str, frozenset[str]], dict[str, float]] = {}


@dataclass(frozen=True)
class Slip:
    """The utterance with its slipped words replaced, where they were, and whether one is a rare real word."""

    words: tuple[str, ...]
    at: tuple[int, ...]
    rare: bool


def _edits(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away (Norvig's edits1)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deleted = {a + b[1:] for a, b in splits if b}
    swapped = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaced = {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    return deleted | swapped | replaced | {a + c + b for a, b in splits for c in LETTERS}


def _neighbours(language: str, targets: frozenset[str]) -> dict[str, float]:
    """The language's ordinary words one edit from a help word, each with its frequency against the help word's
    (none where no word list is shipped): read once per process, and only these kept."""
    key = (language, targets)
    found = _NEIGHBOURS.get(key)
    if found is None:
        found = {}
        try:
            source = resources.files("spellchecker").joinpath("resources", f"{language}.json.gz")
            counts: dict[str, int] = {}
            if source.is_file():
                with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
                    counts = json.load(text)
            for t in targets:
                for w in _edits(t) & counts.keys() - targets:
                    found[w] = max(found.get(w, 0.0), counts[w] / max(1, counts.get(t, 0)))
        except (OSError, ValueError, EOFError, TypeError, AttributeError) as exc:  # a damaged install
            # Without the list every near word is read as the help word: the robot asks more, never misses.
            log.error("the %s word list cannot be read (%s: %s): words near a help word are all asked about",
                      language, type(exc).__name__, exc)
            found = {}
        _NEIGHBOURS[key] = found
    return found


class HelpSlips:
    """Finds help words slipped by one letter (or, in Korean, by a space) in an utterance."""

    def __init__(self, language: str, help_words: Iterable[str], inside: bool) -> None:
        self.language, self.inside = language, inside
        self.targets = frozenset(w for w in help_words if " " not in w and len(w) >= (2 if inside else SHORTEST))
        self._near: dict[str, str | None] = {}

    def warm(self) -> None:
        """Read the word list now (0.25-0.6 s here, seconds on a Pi), at start, not on the first near word: an
        utterance, perhaps a call for help, would wait for it."""
        if not self.inside:
            _neighbours(self.language, self.targets)

    def slip(self, words: tuple[str, ...]) -> Slip | None:
        """The utterance read with its slipped help words put right, or None when it holds none."""
        if self.inside:
            return self._joined(words)
        out, at, rare = list(words), [], False
        for i, w in enumerate(words):
            target = self._target(w)
            if target is None:
                continue
            seen = _neighbours(self.language, self.targets).get(w)
            if seen is not None and seen >= COMMON:
                continue  # "held", "hell", "purse": a word of the language, meant as itself
            out[i], rare = target, rare or seen is not None
            at.append(i)
        return Slip(tuple(out), tuple(at), rare) if at else None

    def _target(self, word: str) -> str | None:
        if len(word) < SHORTEST - 1 or word in self.targets or not word.isalpha():
            return None
        if word not in self._near:
            if len(self._near) > CACHE:
                self._near.clear()
            short = HELD.sub(r"\1\1", word)  # typed as it is cried: read with the letter twice ("heelp")
            once = HELD.sub(r"\1", word)  # ... or once ("heeeelp" is "help")
            self._near[word] = once if once in self.targets else next(
                (t for t in sorted(self.targets) if abs(len(t) - len(short)) <= 1
                 and OSA.distance(short, t, score_cutoff=1) <= 1), None)
        return self._near[word]

    def _joined(self, words: tuple[str, ...]) -> Slip | None:
        """Korean: one-syllable pieces joined to their neighbours make a help word that no piece began with ("살 려",
        "간 호 사님"). A run holds at most one longer piece, at its start or its end: the recogniser splits a word
        into syllables, it does not glue a word between two of them."""
        for i in range(len(words) - 1):
            for j in range(i + 2, min(len(words), i + JOINED) + 1):
                run = words[i:j]
                if sum(len(w) > 1 for w in run) > 1 or any(len(w) > 1 for w in run[1:-1]):
                    break
                joined = "".join(run)
                if any(joined.startswith(t) and not any(w.startswith(t) for w in run) and len(t) > len(run[0])
                       and len("".join(run[:-1])) < len(t) for t in self.targets):
                    return Slip((*words[:i], joined, *words[j:]), (i,), False)
        return None

    def asks(self, helper: HelpReader, reader: Reader, words: tuple[str, ...]) -> bool:
        """Whether the utterance, its slips put right, calls for help (a rare word's slip only inside a phrase of
        several help words: "yelp me")."""
        slip = self.slip(words)
        if slip is None:
            return False
        r = reader.read(" ".join(slip.words))
        verdict = helper.judge(r, complaints_ask=False)
        if verdict is None or verdict.level != "help":
            return False
        return not slip.rare or any(lo <= i < hi for ph in (*helper.keywords, *helper.asks) if len(ph.parts) > 1
                                    for lo, hi in reader.spans(ph, r) for i in slip.at)
