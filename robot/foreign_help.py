"""Help said in another pack's language: residents of one home speak several, and a cry is a cry.

A German robot must not answer "help me" or "도와주세요" with its fallback. The other packs'
own `understanding.help` lists (and their help keywords) are read at start, so this grows with
the packs: an utterance that holds another language's help or distress phrase makes the robot
ask (in its own language), and a cry for help in another language ("help!", "Hilfe!",
"도와주세요") raises help at once. Words of the robot's own pack are taken out of the utterance
first, so a word both languages share is read as the robot's own: "fall" is English distress,
but German "auf jeden Fall" is no fall, while "I fell" to a German robot is still asked about. An
utterance with more words of the other language than of the robot's is read whole ("I have fallen").
Only text understanding changes: the recogniser grammar stays the robot's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from robot.dialog_lexicon import HELP_LISTS, normalise
from robot.dialogs import DialogError, Pack, load_pack
from robot.reading import Reader
from robot.understanding import HelpReader, HelpVerdict

log = logging.getLogger(__name__)


def own_words(pack: Pack) -> frozenset[str]:
    """Every word the pack itself uses, as it writes them."""
    texts: list[str] = []
    for spec in pack.intents.values():
        texts += [*spec.keywords, *spec.examples, *spec.paraphrases]
    for choice in pack.wellbeing.values():
        texts += [*choice.keywords, *choice.examples, *choice.paraphrases]
    for variants in pack.responses.values():
        texts += variants
    lex = pack.lexicon
    texts += [w for pair in (*lex.contractions, *lex.synonyms) for w in pair]
    texts += [p for k in HELP_LISTS for p in getattr(lex, k)]
    return frozenset(w for t in texts for w in normalise(t).split())


@lru_cache(maxsize=16)
def _load(path: Path, mtime: float) -> Pack | None:
    """A neighbouring pack, loaded once per version of its file; a broken one is skipped, not fatal."""
    del mtime  # part of the cache key only: an edited pack is read again
    try:
        return load_pack(path)
    except (DialogError, OSError) as exc:
        log.warning("other-language help: pack %s left out: %s", path, str(exc).splitlines()[0])
        return None


def neighbours(pack: Pack) -> list[Pack]:
    """The other languages' packs beside this one (dialogs/<lang>/pack.yaml), in name order."""
    folder = pack.source.parent.parent
    if not pack.source.name == "pack.yaml" or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*/pack.yaml")):
        if path.resolve() == pack.source.resolve():
            continue
        try:
            other = _load(path, path.stat().st_mtime)
        except OSError:
            continue
        if other is not None and other.language != pack.language:
            found.append(other)
    return found


class ForeignHelp:
    """Judges an utterance with the help lists of the other pack languages."""

    def __init__(self, pack: Pack, others: Iterable[Pack]) -> None:
        self.mine = own_words(pack)
        self.judges: list[tuple[Reader, HelpReader, frozenset[str]]] = []
        for other in others:
            reader = Reader(other.language, other.lexicon)
            self.judges.append((reader, HelpReader(reader, other.lexicon, other.intents["help"].keywords),
                                own_words(other)))

    def judge(self, text: str) -> HelpVerdict | None:
        """A cry for help in another language is help; any other help or distress there is a question.

        Complaints are left to the robot's own language: the other packs' long lists of them ("lump",
        "upset", "rash") hold too many words that another language uses for something else.
        """
        if not self.judges:
            return None
        words = normalise(text).split()
        foreign = [w for w in words if w not in self.mine]
        if not foreign:
            return None
        for reader, helper, theirs in self.judges:
            # more of its words are that language's alone than the robot's alone: read whole ("I have fallen" to a
            # German robot, though "fallen" is German too)
            whole = sum(w in theirs for w in foreign) > sum(w in self.mine and w not in theirs for w in words)
            verdict = helper.judge(reader.read(" ".join(words if whole else foreign)), complaints_ask=False)
            if verdict is not None:
                cry = verdict.level == "help" and verdict.reason == "alarm"
                return HelpVerdict("help" if cry else "ask", "foreign")
        return None
