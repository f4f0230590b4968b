"""How near an utterance is to each intent's examples, in words it may never have been written with.

Two measures, averaged (each alone is fooled: characters by a long sentence that shares little
words, overlap by a short one that shares one):
- character similarity whatever the word order (rapidfuzz's token sort ratio), which forgives
  spelling and inflection the stemmer missed;
- weighted word overlap: a word that only one intent's examples hold says a lot, a word that
  every intent holds ("i", "you", "please") says nothing. Weights are learnt from the pack itself
  (an inverse document frequency over intents), so staff who add examples also teach the weights,
  and no stop-word list has to be kept. The overlap is an F-measure: how much of the example the
  utterance covers, and how much of the utterance the example explains; words the pack never uses
  (a name, "the garden") weigh little, so a rambling sentence around a known request still
  matches, but one known word in a sentence about something else does not.
Korean words carry their endings, so there a word is compared by its first two syllables
("고마워요" and "고마웠어" share "고마").

All examples of a pool sit in one index, so an utterance costs two C calls and a walk over the
examples that share a word with it (about 0.3 ms for 350 examples on the 2-core machine; the
token set ratio, which the overlap replaces, cost three times the rest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from rapidfuzz import fuzz, process

PREFIX = 2  # syllables that stand for a Korean word
UNKNOWN = 0.5  # a word no example holds weighs this much against a match (a known word: about 1 to 3)
MIX = 0.5  # the overlap's share of the similarity (the rest is the character measure)
POLARITY = 0.85  # how much an example that says no counts for an utterance that does not, and the other way round


class ExampleIndex:
    """Every example of a pool of candidates (intents, or wellbeing choices), ready to compare."""

    def __init__(self, examples: Mapping[str, Sequence[str]], vocabulary: Mapping[str, Sequence[str]],
                 syllables: bool, negation: frozenset[str] = frozenset()) -> None:
        """`examples` and `vocabulary` (examples and keywords, to learn weights from) are stem texts;
        `negation` the stems that say no ("not", "nicht", "안")."""
        self.syllables = syllables
        self.negation = negation
        holders: dict[str, set[str]] = {}
        for name, texts in vocabulary.items():
            for text in texts:
                for w in self.words(text):
                    holders.setdefault(w, set()).add(name)
        n = max(len(vocabulary), 1)
        self.weight = {w: math.log((n + 1) / len(names)) for w, names in holders.items()}
        self.texts: list[str] = []
        self.owner: list[str] = []
        self.total: list[float] = []
        self.holding: dict[str, list[int]] = {}  # word -> the examples that hold it
        self.exact: dict[str, str] = {}
        self.names: list[str] = []
        starts: list[int] = []  # each candidate's examples stand together, from here
        for name, texts in examples.items():
            if not texts:
                continue
            self.names.append(name)
            starts.append(len(self.texts))
            for text in dict.fromkeys(texts):
                i = len(self.texts)
                self.texts.append(text)
                self.owner.append(name)
                self.exact.setdefault(text, name)
                words = self.words(text)
                self.total.append(sum(self.weight.get(w, 0.0) for w in words))
                for w in words:
                    self.holding.setdefault(w, []).append(i)
        self.starts = np.array(starts, dtype=np.intp)
        self.negated = np.array([self._says_no(t) for t in self.texts], dtype=bool)

    def _says_no(self, stem_text: str) -> bool:
        return not self.negation.isdisjoint(stem_text.split())

    def words(self, stem_text: str) -> frozenset[str]:
        """The comparable words of a stem text."""
        if self.syllables:
            return frozenset(w[:PREFIX] for w in stem_text.split())
        return frozenset(stem_text.split())

    def similarities(self, text: str) -> dict[str, float]:
        """Per candidate, how near its nearest example is (0..1; 1.0 only for an example word for word)."""
        if not self.texts:
            return {}
        ratios = process.cdist([text], self.texts, scorer=fuzz.token_sort_ratio)[0]
        # An example that says no where the utterance does not (or the other way round) means the opposite:
        # "right as rain" is no "not right as rain"
        other = self.negated != self._says_no(text)
        ratios = np.where(other, ratios * POLARITY, ratios)
        per_name = np.minimum(np.maximum.reduceat(ratios, self.starts) / 100, 0.99).tolist()
        chars = dict(zip(self.names, per_name, strict=True))
        best: dict[str, float] = {}
        words = self.words(text)
        spoken = sum(self.weight.get(w, UNKNOWN) for w in words)
        shared: dict[int, float] = {}
        for w in words:
            weight = self.weight.get(w, 0.0)
            if weight > 0.0:
                for i in self.holding.get(w, ()):
                    shared[i] = shared.get(i, 0.0) + weight
        for i, common in shared.items():
            recall, precision = common / self.total[i], common / spoken
            f1 = min(2 * recall * precision / (recall + precision), 0.99) * (POLARITY if other[i] else 1.0)
            name = self.owner[i]
            if f1 > best.get(name, 0.0):
                best[name] = f1
        best = {n: MIX * best.get(n, 0.0) + (1 - MIX) * c for n, c in chars.items()}
        if text in self.exact:
            best[self.exact[text]] = 1.0
        return best


def character_similarity(text: str, examples: Sequence[str]) -> float:
    """The best mean of token sort and token set ratio against the examples (0..1)."""
    if not examples:
        return 0.0
    if text in examples:
        return 1.0
    both = (process.cdist([text], examples, scorer=fuzz.token_sort_ratio)
            + process.cdist([text], examples, scorer=fuzz.token_set_ratio))
    return float(both.max()) / 200
