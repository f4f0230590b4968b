"""The `understanding` section of a dialog pack: how residents' own words are read, checked strictly.

Contractions, synonyms, negation words, fillers, the help lists and (optional) hedges are data that care staff can
edit; every problem is reported with its key (and, through the checker, its line).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")  # soft hyphen, zero-width and direction marks
UNDERSTANDING_KEYS = {"contractions", "synonyms", "negation", "fillers", "help", "hedges"}
OPTIONAL_KEYS = {"hedges"}
HELP_LISTS = ("alarms", "calls", "asks", "distress", "unsure", "doubts", "others", "past", "present", "body", "mine",
              "well", "speaker", "acute", "pointing",
              "turns", "pauses", "whom", "wishes", "hither")
OPTIONAL_HELP = {"acute", "pointing", "turns", "pauses", "whom", "wishes", "hither"}


class Checker(Protocol):
    """What the pack checker offers (robot.dialogs)."""

    def add(self, path: str, message: str, value: Any = None, show: bool = True) -> None: ...

    def keys(self, value: dict[str, Any], path: str, allowed: set[str]) -> None: ...

    def strings(self, value: Any, path: str, required: bool = True) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Lexicon:
    """How residents' own words are read (the pack's `understanding` section)."""

    contractions: tuple[tuple[str, str], ...] = ()  # (word or -ending, written out)
    synonyms: tuple[tuple[str, str], ...] = ()  # (variant, canonical)
    negation_before: tuple[str, ...] = ()
    negation_after: tuple[str, ...] = ()
    fillers: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    asks: tuple[str, ...] = ()
    distress: tuple[str, ...] = ()
    unsure: tuple[str, ...] = ()
    doubts: tuple[str, ...] = ()  # a request that doubts itself ("should I see the nurse?") is asked about
    others: tuple[str, ...] = ()  # someone else, the past, television: distress there is asked about
    past: tuple[str, ...] = ()  # long ago or made up ("years ago", "in the film"): help words there are a story
    present: tuple[str, ...] = ()  # now, still, again, "is", "has": with a long-ago marker, still asked about
    body: tuple[str, ...] = ()  # parts of the body: the speaker's own, not said to be well, is asked about
    mine: tuple[str, ...] = ()  # the speaker's own ("my", "mein"): just before a body part
    well: tuple[str, ...] = ()  # clearly well ("better", "fine"): a body part said with it is no complaint
    speaker: tuple[str, ...] = ()  # the speaker ("I", "my"): nearest before a complaint, it is the speaker's own
    # An emergency happening in the room, whoever has it ("my husband is choking"): raised even about someone else
    acute: tuple[str, ...] = ()
    # The help just offered, pointed at ("that help", "diese Hilfe", "그런 도움"): said with a no in answer to the help
    # question, it declines the nurse and wishes something else (robot.help_answer)
    pointing: tuple[str, ...] = ()
    # Words that take back a no just said ("doch", "actually", "아니다"): a yes or a request after them answers yes
    turns: tuple[str, ...] = ()
    # The turn words that only pause ("wait", "moment", "잠깐"): after a polite no ("no thank you, wait") with
    # nothing more, the resident trails off and the no stands
    pauses: tuple[str, ...] = ()
    # Words for the staff just after a request in an answer to the help question ("ich brauche SIE"): the speaker's
    # wish for them is a request for someone. For a word that cannot be one of `others` (German "sie" is also the
    # polite "you", so a complaint said to the robot would read as someone else's)
    whom: tuple[str, ...] = ()
    # The request words that say the speaker's wish ("need", "would like", "brauche"): the speaker before one asks
    # for her ("I need her"), before any other the speaker acts ("I'll call her", "ich hole sie"). Without them
    # every request word is a wish
    wishes: tuple[str, ...] = ()
    # Words after her in a request that bring her to the speaker ("get her IN HERE", "call her FOR ME", "I'd like her
    # TO come", "holen Sie sie ZU MIR"): with request words they may follow her in a short ask after a no
    hither: tuple[str, ...] = ()
    # An answer that hedges ("I expect I did", "must have") is no yes or no to a reminder or to the help question.
    # Unlike doubts, hedges leave a call for help alone: "I think I need the nurse" is still a call.
    hedges: tuple[str, ...] = ()
    # Words through which a negation reaches past the speaker ("I don't THINK I need ...", "glaube nicht, DASS ich"),
    # and words (or "-endings" of a word) where a new clause starts, which no negation or doubt crosses
    negation_raising: tuple[str, ...] = ()
    negation_breaks: tuple[str, ...] = ()


def check_understanding(c: Checker, value: Any) -> Lexicon:
    """The checked `understanding` section; every problem goes to the checker with its key."""
    path = "understanding"
    if not isinstance(value, dict):
        c.add(path, "must hold contractions, synonyms, negation, fillers and help", value)
        return Lexicon()
    c.keys(value, path, UNDERSTANDING_KEYS)
    for k in UNDERSTANDING_KEYS - OPTIONAL_KEYS:
        if k not in value:
            c.add(f"{path}.{k}", "required key is missing", show=False)
    contractions = _pairs(c, value.get("contractions"), f"{path}.contractions", canonical_first=False)
    synonyms = _pairs(c, value.get("synonyms"), f"{path}.synonyms", canonical_first=True)
    negation = value.get("negation")
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    raising: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    if not isinstance(negation, dict):
        c.add(f"{path}.negation", "must have before (and may have after): lists of negation words", negation)
    else:
        c.keys(negation, f"{path}.negation", {"before", "after", "raising", "breaks"})
        before = _words(c, negation.get("before"), f"{path}.negation.before")
        after = _words(c, negation.get("after") or None, f"{path}.negation.after", required=False)
        raising = _words(c, negation.get("raising") or None, f"{path}.negation.raising", required=False)
        breaks = tuple(("-" if str(w).startswith("-") else "") + normalise(w) for w in c.strings(
            negation.get("breaks") or None, f"{path}.negation.breaks", required=False))
        for i, w in enumerate(breaks):
            if not w.strip("-") or " " in w:
                c.add(f"{path}.negation.breaks.{i}", "must be a single word or a -ending", w)
    fillers = _words(c, value.get("fillers"), f"{path}.fillers")
    hedges = tuple(normalise(x) for x in c.strings(value.get("hedges") or None, f"{path}.hedges", required=False))
    for i, phrase in enumerate(hedges):
        if not phrase:
            c.add(f"{path}.hedges.{i}", "has no words once punctuation is removed", show=False)
    helps = value.get("help")
    lists: dict[str, tuple[str, ...]] = {}
    if not isinstance(helps, dict):
        c.add(f"{path}.help", f"must map {', '.join(HELP_LISTS)} to lists of phrases", helps)
    else:
        c.keys(helps, f"{path}.help", set(HELP_LISTS))
        for k in HELP_LISTS:
            if k not in helps and k not in OPTIONAL_HELP:
                c.add(f"{path}.help.{k}", "required key is missing", show=False)
            lists[k] = tuple(normalise(x) for x in c.strings(helps.get(k), f"{path}.help.{k}", k not in OPTIONAL_HELP))
            for i, phrase in enumerate(lists[k]):
                if not phrase:
                    c.add(f"{path}.help.{k}.{i}", "has no words once punctuation is removed", show=False)
    _check_turns_and_pointing(c, lists, f"{path}.help")
    lexicon = Lexicon(contractions, synonyms, before, after, fillers, *(lists.get(k, ()) for k in HELP_LISTS))
    return dataclasses.replace(lexicon, hedges=hedges, negation_raising=raising, negation_breaks=breaks)


def _check_turns_and_pointing(c: Checker, lists: dict[str, tuple[str, ...]], path: str) -> None:
    """A turn word that is a help word would read "no ... help" as a taken-back no, not a cry; help pointed at with
    no pointing word ("help" alone) would read every "no, help" as a wish for something else (robot.help_answer).
    One-word help phrases only ("a person" holds no help word "a"); Korean ones take endings ("도움은"). A pause that
    is no turn word would never be found as one."""
    helps = {p for k in ("alarms", "calls") for p in lists.get(k, ()) if p and " " not in p}

    def holds(phrase: str) -> bool:
        return any(w == h or (h >= "\uac00" and w.startswith(h)) for w in phrase.split() for h in helps)

    for i, phrase in enumerate(lists.get("turns", ())):
        if holds(phrase):
            c.add(f"{path}.turns.{i}", "holds a help word: a turn word takes a no back, a help word calls", phrase)
    for i, phrase in enumerate(lists.get("pauses", ())):
        if phrase not in lists.get("turns", ()):
            c.add(f"{path}.pauses.{i}", "must also be a turn word (help.turns): a pause is a turn that only hesitates",
                  phrase)
    for i, phrase in enumerate(lists.get("pointing", ())):
        if not holds(phrase) or all(holds(w) for w in phrase.split()):
            c.add(f"{path}.pointing.{i}", "must name the help offered with a pointing word (\"that help\")", phrase)


def _pairs(c: Checker, value: Any, path: str, canonical_first: bool) -> tuple[tuple[str, str], ...]:
    """A mapping of words to words (contractions) or of a canonical word to its variants (synonyms)."""
    if not isinstance(value, dict) or (canonical_first and not value):
        c.add(path, "must be a mapping of words" + ("" if canonical_first else " ({} when there are none)"),
              value)
        return ()
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for key, item in value.items():
        here = f"{path}.{key}"
        key_text = str(key).strip().lower()
        if not key_text:
            c.add(here, "an empty word", show=False)
            continue
        if not canonical_first:
            if not isinstance(item, (str, int)) or not str(item).strip():
                c.add(here, "must be the words written out in full", item)
                continue
            out.append((key_text.replace("’", "'"), str(item).lower()))
            continue
        for variant in c.strings(item, here):
            v = normalise(variant)
            if not v:
                c.add(here, "a variant with no words once punctuation is removed", variant)
            elif v in seen and seen[v] != key_text:
                c.add(here, f"'{variant}' is already a synonym of '{seen[v]}'", variant)
            else:
                seen[v] = key_text
                out.append((v, normalise(key_text)))
    return tuple(out)


def _words(c: Checker, value: Any, path: str, required: bool = True) -> tuple[str, ...]:
    """Single words (negations, fillers)."""
    out = tuple(normalise(w) for w in c.strings(value, path, required))
    for i, w in enumerate(out):
        if not w or " " in w:
            c.add(f"{path}.{i}", "must be a single word", w)
    return out


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces (keeps letters of every script).

    Composed first (NFC): Hangul sent as separate jamo, or "ü" as "u" and a combining mark, is the pack's own
    word; zero-width characters are dropped ("he\u200blp").
    """
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).lower().replace("’", "'")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())
