"""Reading residents' own words: made comparable, and phrases found in them.

A `Reader` turns an utterance into words (lower case, contractions written out, synonyms replaced by one canonical
word, the longest phrase first) and stems (inflections removed where a Snowball stemmer knows the language), and notes
where its clauses start (robot.negation_reach). A phrase matches when all its words stand close together in any
order, so "chest pain" matches "pain in my chest". In Korean a phrase word may start a longer word, since endings
attach to it ("아파" in "아파요"); in German a long one may sit inside a compound ("schmerz" in "brustschmerzen").
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import snowballstemmer

from robot.dialog_lexicon import Lexicon, normalise
from robot.negation_reach import clause_of, clause_starts, pieces, reaches

STEMMERS = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "nl": "dutch"}
INSIDE = ("ko", "ja", "zh")  # scripts whose words carry endings: phrase words match inside words
NEAR = 3  # a help phrase's words may come in any order, spread over this many extra words
NEAR_INTENT = 1  # other phrases keep their order, with at most this many extra words (none in Korean)

# Endings a one-syllable intent word may take in Korean (a longer word merely begins with the syllable)
PARTICLES = frozenset(("", "요", "야", "나", "지", "죠", "에", "가", "는", "은", "이", "도", "만", "네", "예요", "이야",
                       "이지", "에요", "쯤"))


#: Stems per language, shared by every reader in the process: a word's stem never changes, and each
#: dialog engine reads its own pack and its neighbours' (thousands of words, pure-Python Snowball).
_STEMS: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class Reading:
    """One utterance, made comparable: its words, their stems, and both joined."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    text: str
    stem_text: str
    starts: tuple[int, ...] = ()  # where clauses after the first start (robot.negation_reach)


@dataclass(frozen=True)
class Phrase:
    """A pack phrase as words (or stems) to find near each other."""

    source: str
    parts: tuple[str, ...]


class Reader:
    """Normalises utterances and finds phrases in them, for one language."""

    def __init__(self, language: str, lexicon: Lexicon) -> None:
        self.inside = language in INSIDE
        self.compound = language == "de"
        name = STEMMERS.get(language)
        self._stemmer = snowballstemmer.stemmer(name) if name else None
        self._stems = _STEMS.setdefault(language, {})
        self._negation = frozenset(lexicon.negation_before)
        self._negation_stems = frozenset(self.stem(w) for w in lexicon.negation_before)
        self.filler_words = frozenset(lexicon.fillers)
        self.filler_stems = frozenset(self.stem(w) for w in lexicon.fillers)
        self.speaker = frozenset(w for w in lexicon.speaker if " " not in w)  # "i", "my", "ich", "내가"
        self.raising = frozenset(lexicon.negation_raising)
        self._breaks = frozenset(w for w in lexicon.negation_breaks if not w.startswith("-"))
        self._break_endings = tuple(w[1:] for w in lexicon.negation_breaks if w.startswith("-"))
        self._whole = {k: v for k, v in lexicon.contractions if not k.startswith("-")}
        self._endings = sorted(((k[1:], v) for k, v in lexicon.contractions if k.startswith("-")),
                               key=lambda kv: -len(kv[0]))
        table: dict[str, str] = {}
        for variant, canonical in lexicon.synonyms:
            table.setdefault(" ".join(self._expand(normalise(variant))), canonical)
        self._synonyms = table
        alternatives = "|".join(re.escape(v) for v in sorted(table, key=len, reverse=True))
        if not alternatives:
            self._synonym_re: re.Pattern[str] | None = None
        elif self.inside:  # at the start of a word, endings may follow
            self._synonym_re = re.compile(rf"(?<!\S)(?:{alternatives})")
        else:
            self._synonym_re = re.compile(rf"(?<!\S)(?:{alternatives})(?!\S)")

    def _expand(self, norm: str) -> list[str]:
        words: list[str] = []
        for w in norm.split():
            if w in self._whole:
                words += self._whole[w].split()
                continue
            for ending, full in self._endings:
                if w.endswith(ending) and len(w) > len(ending):
                    words += (w[: -len(ending)] + full).split()
                    break
            else:
                words.append(w.replace("'", ""))
        return words

    def stem(self, word: str) -> str:
        """The word without its inflection (cached; the word itself where no stemmer applies)."""
        stem = self._stems.get(word)
        if stem is None:
            stem = self._stemmer.stemWord(word) if self._stemmer is not None else word
            self._stems[word] = stem
        return stem

    def read(self, text: str) -> Reading:
        """The utterance as canonical words and stems, and where its clauses start."""
        parts = [p for p in (" ".join(self._expand(normalise(c))) for c in pieces(text) or (text,)) if p]
        joined = " ".join(parts)
        marks = list(itertools.accumulate((len(p) + 1 for p in parts[:-1]), initial=0)) if len(parts) > 1 else []
        if self._synonym_re is not None and marks:
            joined, marks = self._synonymised(joined, marks)
        elif self._synonym_re is not None:
            joined = self._synonym_re.sub(lambda m: self._synonyms[m.group(0)], joined)
        words = tuple(joined.split())
        stems = tuple(self.stem(w) for w in words)
        cuts = [joined[:m].count(" ") for m in marks]
        starts = clause_starts(words, cuts, self._breaks, self._break_endings, self.raising)
        return Reading(words, stems, " ".join(words), " ".join(stems), starts)

    def _synonymised(self, joined: str, marks: list[int]) -> tuple[str, list[int]]:
        """Synonyms replaced, and where each clause (a character offset) now starts; a synonym said over a comma
        joins the two clauses."""
        assert self._synonym_re is not None
        out, last, moved = [], 0, []
        for m in self._synonym_re.finditer(joined):
            canonical = self._synonyms[m.group(0)]
            out += [joined[last:m.start()], canonical]
            moved.append((m.start(), m.end(), len(canonical) - (m.end() - m.start())))
            last = m.end()
        out.append(joined[last:])
        kept = [c + sum(d for _, e, d in moved if e <= c) for c in marks if not any(s < c < e for s, e, _ in moved)]
        return "".join(out), kept

    def phrase(self, text: str, stems: bool = False) -> Phrase:
        """A pack phrase read the way utterances are, so staff may write it naturally."""
        r = self.read(text)
        return Phrase(text, r.stems if stems else r.words)

    def _at(self, part: str, seq: tuple[str, ...], whole_short: bool = False) -> list[int]:
        if self.inside and whole_short and len(part) == 1:  # an intent's one syllable takes a particle at most:
            return [i for i, t in enumerate(seq)  # "예요", "시나", "응응", never "예쁘게" (pretty) for "예" (yes)
                    if t.startswith(part) and (t[1:] in PARTICLES or set(t) == {part})]
        if self.inside:  # endings and particles follow the stem: "아파요", never "커피가" for "피가"
            return [i for i, t in enumerate(seq) if t.startswith(part)]
        if self.compound and len(part) >= 5:  # "brustschmerzen" holds "schmerzen", "zuzuhören" "zuhören"; a word
            # that puts one letter before one is no compound of it: "keiner", "meiner" and "seiner" are not "einer"
            return [i for i, t in enumerate(seq) if t.startswith(part) or part in t[2:]]
        return [i for i, t in enumerate(seq) if t == part]

    def find(self, phrase: Phrase, reading: Reading, stems: bool = False) -> tuple[int, int] | None:
        """The narrowest span holding every word of the phrase close together, or None.

        Help phrases (words) match in any order ("pain in my chest"); intent phrases (stems) keep
        their order. No match reaches over a negation that is not the phrase's own ("i have had"
        is not in "i have not had").
        """
        seq, joined = (reading.stems, reading.stem_text) if stems else (reading.words, reading.text)
        if not phrase.parts or not all(p in joined for p in phrase.parts):  # C-speed rejection first
            return None
        positions = [self._at(p, seq, stems) for p in phrase.parts]
        if not all(positions):
            return None
        negation = self._negation_stems if stems else self._negation
        if len(positions) == 1:
            for i in positions[0]:  # "certainly" is not in "certainly not", "genommen" not in "nicht genommen",
                # "great" not in "not feeling great" (one word may stand between a negation and what it turns round;
                # in Korean the negation stands right before its verb: "안 아프고 좋아" is good)
                if not (stems and any(0 <= j < len(seq) and seq[j] in negation and seq[j] not in phrase.parts
                                      for j in ((i - 1, i + 1) if self.inside else (i - 1, i + 1, i - 2)))):
                    return i, i + 1
            return None
        near = (0 if self.inside else NEAR_INTENT) if stems else NEAR
        best: tuple[int, int] | None = None
        for combo in itertools.islice(itertools.product(*positions), 256):
            if stems and any(a > b for a, b in itertools.pairwise(combo)):
                continue
            if not (self.inside or self.compound) and len(set(combo)) < len(combo):
                continue
            lo, hi = min(combo), max(combo) + 1
            width = hi - lo
            if stems and width > len(combo) + near:  # fillers in between do not count: "hör doch bitte auf"
                width -= sum(1 for i in range(lo, hi) if i not in combo and seq[i] in self.filler_stems)
            if width > len(combo) + near or (best is not None and hi - lo >= best[1] - best[0]):
                continue
            if any(seq[i] in negation and seq[i] not in phrase.parts for i in range(lo, hi) if i not in combo):
                continue
            if stems and hi < len(seq) and seq[hi] in negation and seq[hi] not in phrase.parts:
                continue  # "i did" is not in "i did not"
            best = (lo, hi)
        return best

    def spans(self, phrase: Phrase, reading: Reading) -> list[tuple[int, int]]:
        """Every place a one-word phrase stands, or the narrowest span of a longer one."""
        if len(phrase.parts) == 1:
            word = phrase.parts[0]
            return [(i, i + 1) for i in self._at(word, reading.words)] if word in reading.text else []
        span = self.find(phrase, reading)
        return [] if span is None else [span]

    def any_near(self, words: frozenset[str], reading: Reading, lo: int, hi: int, before: int,
                 after: int, far: bool = True) -> bool:
        """Whether one of `words` stands just before a span, in its clause (an interjected no stops at the speaker: "oh
        no, I fell"; a negated "think" reaches past it: robot.negation_reach), or after it. In Korean a negation stands
        against the word it turns round (안 right before it, 않/없 right after it), so the reach is one word there: "안
        좋아요 숨을 못 쉬겠어" is not good, and cannot breathe; "넘어졌는데 아무도 없어" is a fall with nobody there.
        Without `far` a negated verb of opinion reaches no further than a plain negation (a no to the help question).
        """
        if self.inside:
            before, after = min(before, 1), min(after, 1)
        seq = reading.words
        first = clause_of(reading.starts, lo, hi, len(seq))[0]  # a negation after may answer across a comma:
        raising = self.raising if far else frozenset()
        if before and reaches(seq, lo, first, words.__contains__, self.speaker, raising, before):  # "jetzt nicht"
            return True
        behind = seq[max(lo, hi - 1) if self.inside else hi:hi + after]
        if self.inside:  # endings: "아프지 않아요", "필요 없어요"
            return any(w in t for t in behind for w in words)
        return any(t in words for t in behind)
