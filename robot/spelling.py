"""A recogniser's or an inflection's slip ("yess", "quizzes"), read as the known word it is nearest.

A word no pack entry holds is read as the known stem it is this near (rapidfuzz ratio, 0..100), where
one is; a short word's one slip stays unknown ("spin" is no slip of "spy"). Korean words carry endings,
so no speller is kept there (a word is compared by its first syllables instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

SPELLING = 85
SPELLING_MIN = 5  # shorter words are never respelled
CACHE = 10_000  # bounded: residents say new words all day


class Speller:
    """Known stems by first letter, and the nearest known stem of each unknown one (cached)."""

    def __init__(self, known: Iterable[str], weighted: frozenset[str]) -> None:
        self._weighted = weighted  # stems the examples' weights hold: known as they are
        self._known: dict[str, list[str]] = {}
        for stem in sorted(set(known)):
            self._known.setdefault(stem[:1], []).append(stem)
        self._spelt: dict[str, str] = {}

    def stems(self, stems: tuple[str, ...]) -> tuple[str, ...]:
        """The stems with each unknown one replaced by the known stem it is nearest."""
        out = []
        for stem in stems:
            if len(stem) >= SPELLING_MIN and stem[:1] in self._known and stem not in self._weighted:
                near = self._spelt.get(stem)
                if near is None:
                    hit = process.extractOne(stem, self._known[stem[:1]], scorer=fuzz.ratio, score_cutoff=SPELLING)
                    near = hit[0] if hit is not None else stem
                    if len(self._spelt) > CACHE:
                        self._spelt.clear()
                    self._spelt[stem] = near
                stem = near
            out.append(stem)
        return tuple(out)
