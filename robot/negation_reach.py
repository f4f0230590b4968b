"""How far back a negation reaches, and where a clause ends that no negation or doubt crosses.

An interjected no stops at the speaker's own words: "oh no, I can't breathe", "don't go, I need help", "no no I need
the nurse" negate nothing; the speaker opens a clause of its own. A negation that turns round a verb of opinion
(the pack's `negation.raising`: "think", "reckon", "glaube", "dass") reaches past the speaker into the clause that
verb governs, however long: in "I don't reckon I really need anyone to come" the "not" belongs to "reckon", whose
object is the request, so the request is negated (and the robot asks).

A clause also ends at punctuation and at the pack's `negation.breaks` ("but", "aber", "근데"; "-요" ends a Korean
sentence): "I don't need my tea, get the nurse" and "ich will keine Umstände machen, aber rufen Sie den Arzt" are
requests. A complementiser after a comma ("glaube nicht, dass ich") carries the clause on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LONG_REACH = 8  # words a negated verb of opinion reaches back over ("glaube nicht, dass ich heute noch eine ...")
MARKS = re.compile(r"[,;:!?…]|\.(?!\d)")  # punctuation that ends a clause (a typed console, a screen)


def pieces(text: str) -> list[str] | None:
    """The text cut at clause punctuation, or None when it has none (as the recogniser gives it)."""
    if not MARKS.search(text):
        return None
    return MARKS.split(text)


def clause_starts(words: tuple[str, ...], cuts: list[int], breaks: frozenset[str], endings: tuple[str, ...],
                  raising: frozenset[str]) -> tuple[int, ...]:
    """Where new clauses start: at punctuation (`cuts`), at a break word, after a word with a break ending; never
    before a complementiser ("nicht, dass ich"), which carries the clause on."""
    starts = set(cuts)
    if not breaks.isdisjoint(words):
        starts.update(i for i, w in enumerate(words) if w in breaks)
    if endings:
        starts.update(i + 1 for i, w in enumerate(words[:-1]) if w.endswith(endings) and w not in endings)
    if not starts:
        return ()
    return tuple(sorted(s for s in starts if 0 < s < len(words) and words[s] not in raising))


def clause_of(starts: tuple[int, ...], lo: int, hi: int, size: int) -> tuple[int, int]:
    """The first word of the clause holding position `lo`, and the end of the clause holding `hi - 1`."""
    return max((s for s in starts if s <= lo), default=0), min((s for s in starts if s >= hi), default=size)


def reaches(seq: tuple[str, ...], lo: int, first: int, negated: Callable[[str], bool], speaker: frozenset[str],
            raising: frozenset[str], reach: int) -> bool:
    """Whether a negation before position `lo`, in its clause (from `first`), turns round what starts there.

    A plain negation reaches `reach` words back; a negated verb of opinion reaches LONG_REACH words ("don't think
    we really need to call the nurse"). The speaker's own word stops the search unless a verb of opinion stands right
    before it ("not think I": reached; "not go, I": stopped)."""
    for i in range(lo - 1, max(first, lo - LONG_REACH) - 1, -1):
        w = seq[i]
        if negated(w):
            if lo - i <= reach:
                return True
        elif w in raising and any(negated(seq[j]) for j in range(max(first, i - 2), min(lo, i + 3)) if j != i):
            return True  # "do not really think", "never thought", "glaube eigentlich nicht"
        if w in speaker and not (i > first and seq[i - 1] in raising):
            return False
    return False
