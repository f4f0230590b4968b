"""The dialog engine: understand an utterance, pick a reply, render it, build recogniser grammars.

Help comes first and nothing outranks it (robot.understanding): acute distress, a cry for
help or a request for a person is help at once, whatever the recogniser's confidence; a
negated request, a complaint, a near wording or a recogniser alternative that holds a call
for help only make the robot ask; so does help in another pack's language (robot.foreign_help),
where a cry is help at once. Every other intent is read from the same normalised words:
a keyword or phrase settles it (its words close together in any order; a match inside a
longer match does not count, so "not good" beats "good"), otherwise word-order-tolerant
similarity against the pack's examples decides. Anything uncertain is asked again in other
words, never guessed. `Conversation` (robot.conversation) turns this into state-machine triggers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from robot.addressing import addressed
from robot.conversation import Conversation
from robot.dialogs import Pack, normalise
from robot.foreign_help import ForeignHelp, neighbours
from robot.help_answer import answer_phrases
from robot.help_slips import HelpSlips
from robot.intent_similarity import ExampleIndex, character_similarity
from robot.reading import INSIDE, Phrase, Reader, Reading
from robot.sentence_mood import REQUESTS, remark, reported
from robot.spelling import Speller
from robot.understanding import HelpReader

__all__ = ["CLEAR_LEAD", "Conversation", "DialogEngine", "Understanding"]

SIMILARITY_WEIGHT = 0.9  # a near example counts for less than a keyword
# Of several intents whose keywords are said, the one whose examples the sentence is nearest to is
# favoured ("erzähl mir einen witz": "erzähl" is a story, "witz" a joke); tuned on bench/dev.
KEYWORD_AND_NEAR = 0.3
SPECIFIC = 2.0  # characters a keyword's most specific word adds per unit of its weight (log inverse frequency)
ANSWERS = ("yes", "no")
MID_SENTENCE = 4  # from this many words (fillers aside), a bare yes or no between the first and the last is none
LEADING = 6  # characters a one-word yes or no that opens the utterance (after fillers) adds to its weight
CLEAR_LEAD = 0.04  # a winner must lead the runner-up by this much to be sure
# A near example (no keyword said) is sure from this score when it leads the runner-up by SIMILAR_LEAD;
# tuned on bench/dev (the corpus stays unseen): wrong readings there stayed below it or close to a rival.
SIMILAR_ACCEPT = 0.45
SIMILAR_LEAD = 0.08
HELP_SIMILAR = 0.8  # this near a help example (before weighting), the robot asks


@dataclass(frozen=True)
class Understanding:
    """The engine's reading of one utterance."""

    intent: str | None
    score: float  # exact when an intent was found; with none, at most the best candidate's score
    sure: bool
    via: str  # help, ask, keyword, similarity, or none
    reason: str = ""  # for help and ask: why (distress, request, negated, unsure, alternative...)

    @property
    def ask(self) -> bool:
        """Help is plausible but unsure: the robot should ask before calling staff."""
        return self.intent == "help" and self.via == "ask"


@dataclass(frozen=True)
class _Candidate:
    name: str
    keywords: tuple[Phrase, ...]
    examples: tuple[str, ...]  # stem texts


class DialogEngine:
    """Intent matching and response rendering for one pack."""

    def __init__(self, pack: Pack, *, accept: float = 0.72, ask_again: float = 0.5,
                 min_confidence: float = 0.45, seed: int | None = None, others: Iterable[Pack] | None = None
                 ) -> None:
        self.pack = pack
        self.accept, self.ask_again, self.min_confidence = accept, ask_again, min_confidence
        self.reader = Reader(pack.language, pack.lexicon)
        self.helper = HelpReader(self.reader, pack.lexicon, pack.intents["help"].keywords)
        # help in the other languages of the home (by default the packs beside this one)
        self.foreign = ForeignHelp(pack, neighbours(pack) if others is None else others)
        self.slips = HelpSlips(pack.language, (*pack.lexicon.alarms, *pack.lexicon.calls), self.reader.inside)
        self._rng = random.Random(seed)
        # One-word "no"s ("no", "nope", "nein", "아니요"): one that begins an answer (after fillers such as "oh", never
        # "I" or a help word: "I no longer need help") answers it, and negates nothing after it ("oh no, I fell")
        self.no_words = frozenset(w for k in pack.intents["no"].keywords if len(ws := self.reader.read(k).words) == 1
                                  for w in ws)
        self._interjections = self.reader.filler_words - self.helper.call_words - self.reader.speaker - {
            w for p in (*self.helper.asks, *self.helper.alarms, *self.helper.keywords) for w in p.parts}
        self._last_variant: dict[str, str] = {}
        self._hedges = [self.reader.phrase(x) for x in pack.lexicon.hedges]
        self._name = normalise(pack.robot_name)
        self._one_word = {n: {ws for k in pack.intents[n].keywords if len(ws := self.reader.read(k).words) == 1}
                          for n in ANSWERS}
        self._bare = {tuple(self.reader.stem(w) for w in ws) for n in ANSWERS for ws in self._one_word[n]}
        syllables = pack.language in INSIDE
        # Paraphrases teach the matcher only: in the recogniser grammar, a long list makes a small model
        # hear phrases that were never said ("간호사" came back as three words of other examples).
        self.intents = {n: self._candidate(n, s.keywords, s.examples) for n, s in pack.intents.items()}
        # Answering a reminder, yes and no have more keywords ("had it with my porridge", "still in the pot")
        # that would mislead anywhere else ("I had fish for dinner" is no yes).
        self.answering = {**self.intents, **{n: self._candidate(n, (*s.keywords, *s.answers), s.examples)
                                             for n, s in pack.intents.items() if s.answers}}
        self.choices = {n: self._candidate(n, c.keywords, c.examples) for n, c in pack.wellbeing.items()}
        self._specific: dict[str, float] = {}  # set with the indexes below
        self.indexes = {
            "intents": self._index({n: (s.keywords, (*s.examples, *s.paraphrases)) for n, s in pack.intents.items()
                                    if n != "help"}, syllables),
            "choices": self._index({n: (c.keywords, (*c.examples, *c.paraphrases))
                                    for n, c in pack.wellbeing.items()}, syllables)}
        # How much a keyword's word says about one intent (the examples' inverse intent frequency): of two
        # intents whose keywords are said, "joke" outweighs "go on", "bingo" outweighs "later".
        self._specific = {**self.indexes["choices"].weight, **self.indexes["intents"].weight}
        self._remark = remark if pack.language == "de" else None  # a German statement asks for nothing
        self._speller: Speller | None = None  # every stem the packs' entries hold (robot.spelling)
        if not syllables:  # Korean words carry endings: there a word is compared by its first syllables
            self._speller = Speller({p for pool in (self.answering, self.choices) for c in pool.values()
                                     for k in c.keywords for p in k.parts} | set(self._specific),
                                    frozenset(self._specific))

    def _index(self, specs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]], syllables: bool) -> ExampleIndex:
        def stems(texts: Iterable[str]) -> list[str]:
            return [self.reader.read(t).stem_text for t in texts]

        return ExampleIndex({n: stems(ex) for n, (_, ex) in specs.items()},
                            {n: stems((*kw, *ex)) for n, (kw, ex) in specs.items()}, syllables,
                            frozenset(self.reader.stem(w) for w in self.pack.lexicon.negation_before))

    def _candidate(self, name: str, keywords: Iterable[str], examples: Iterable[str]) -> _Candidate:
        phrases: dict[tuple[str, ...], Phrase] = {}  # synonyms may make two keywords one: count it once
        for k in keywords:
            phrase = self.reader.phrase(k, stems=True)
            phrases.setdefault(phrase.parts, phrase)
        return _Candidate(name, tuple(phrases.values()), tuple(self.reader.read(e).stem_text for e in examples))

    # -- understanding ----------------------------------------------------------------------------

    def _keyword_scores(self, r: Reading, pool: dict[str, _Candidate], names: list[str], leading: str | None = None
                        ) -> dict[str, float]:
        """Keyword evidence per candidate. A match inside a longer one does not count ("not good" beats
        "good"); of two that overlap, the one with more words wins, then the longer, then the earlier. Longer
        matches, and phrases of several words, weigh more."""
        found: list[tuple[int, int, int, int, str]] = []
        said = [i for i, stem in enumerate(r.stems) if stem not in self.reader.filler_stems] or [0]
        first, last = said[0], said[-1]
        mid_sentence = pool is self.intents and len(said) >= (2 if self.reader.inside else MID_SENTENCE)
        ends = (first,) if self.reader.inside else (first, last)  # Korean answers open: "날씨가 좋아", "찍는 거 아니지"
        for n in names:
            for k in pool[n].keywords:
                span = self.reader.find(k, r, stems=True)
                # a bare yes or no inside a longer sentence is no answer: "du bist ja lieb", "there's no tea left"
                if span is not None and mid_sentence and k.parts in self._bare and span[0] not in ends:
                    continue
                if span is not None:
                    # a phrase of several words says more than one long word ("the time", "happening")
                    weight = len(" ".join(k.parts)) + 4 * (len(k.parts) - 1)
                    specific = max(self._specific.get(p, 0.0) for p in k.parts)
                    # an answer said first is the answer: "yes, I'd like that, thank you", "no love, you're alright"
                    lead = LEADING if span[0] == first and n == leading and len(k.parts) == 1 else 0
                    found.append((span[0], span[1], len(k.parts), weight + lead + round(SPECIFIC * specific), n))

        def beaten(m: tuple[int, int, int, int, str]) -> bool:
            for o in found:
                if o is m or o[4] == m[4] or o[1] <= m[0] or m[1] <= o[0]:
                    continue
                inside = o[0] <= m[0] and m[1] <= o[1]
                if (inside and (o[3], o[2]) > (m[3], m[2])) or (
                        not inside and (o[2], o[3], -o[0]) > (m[2], m[3], -m[0])):
                    return True
            return False

        chars: dict[str, int] = {}
        for m in found:
            if not beaten(m):
                chars[m[4]] = chars.get(m[4], 0) + m[3]
        return {n: 0.85 + 0.012 * min(c, 15) for n, c in chars.items()}

    @staticmethod
    def _weighted(similarity: float) -> float:
        """A near example counts for less than a keyword; an example said word for word counts fully."""
        return 1.0 if similarity >= 1.0 else similarity * SIMILARITY_WEIGHT

    def help(self, text: str, alternatives: Iterable[str] = (), complaints_ask: bool = True
             ) -> Understanding | None:
        """Help at once, a reason to ask, or None: decided before any other intent is considered."""
        r = self.reader.read(text)
        verdict = self.helper.judge(r, complaints_ask)
        if verdict is not None and verdict.reason == "call" and r.stem_text in self.indexes["intents"].exact:
            verdict = None  # a short "call" that staff wrote, word for word, as another intent: "wer bist du?"
        rest = self.after_no(text) if verdict is None or verdict.level != "help" else None
        if rest is not None and len(rest.split()) > 1:
            # a leading no answers the robot and turns nothing round: "no, call the nurse", "no, I fell" (a bare
            # call or word stays as it was: "no nurse", "no bleeding")
            after = self.helper.judge(self.reader.read(rest), complaints_ask)
            if after is not None and after.level == "help" and after.reason != "call":
                verdict = after
        if verdict is not None and verdict.reason == "doubt" and self._remark is not None and (self._remark(
                r.words, "help") or reported(r.words, self.helper.call_words)) and not self.helper.spans_of(
                self.helper.asks, r):
            verdict = None  # a visit announced ("morgen kommt der arzt zur visite"), staff's words reported
        verdict = verdict or self.foreign.judge(text)  # help in another pack's language
        if verdict is not None:
            sure = verdict.level == "help"
            return Understanding("help", 1.0 if sure else 0.6, sure, "help" if sure else "ask", verdict.reason)
        if self.slips.asks(self.helper, self.reader, r.words):  # "hepl me", "nurce", "살 려 주세요"
            return Understanding("help", 0.5, False, "ask", "slip")
        for alt in alternatives:  # another reading of the same sound calls for help: ask
            other = self.helper.judge(self.reader.read(alt), complaints_ask=False)
            if other is not None and other.level == "help":
                return Understanding("help", 0.5, False, "ask", "alternative")
        if r.words and character_similarity(r.stem_text, self.intents["help"].examples) >= HELP_SIMILAR:
            return Understanding("help", 0.5, False, "ask", "similar")
        return None

    def after_no(self, text: str) -> str | None:
        """The words after a leading "no" ("oh no, I can't breathe": "i can not breathe"), or None if there are none."""
        words = self.reader.read(text).words
        start = next((n for n, w in enumerate(words) if w not in self._interjections), len(words))
        i = next((n for n, w in enumerate(words) if n >= start and w not in self.no_words), len(words))
        return " ".join(words[i:]) if start < i < len(words) else None

    def understand(self, text: str, confidence: float = 1.0, among: Iterable[str] | None = None,
                   choices: bool = False, alternatives: Iterable[str] = ()) -> Understanding:
        """The intent (or wellbeing choice) an utterance most likely means, and whether that is sure.

        Help is judged first (robot.understanding): the result is then intent "help", sure when
        staff should be called at once, and `ask` when the robot should ask first.
        """
        first = self.help(text, alternatives, complaints_ask=not choices)
        if first is not None:
            return first
        return self.classify(text, confidence, among, choices)

    def classify(self, text: str, confidence: float = 1.0, among: Iterable[str] | None = None,
                 choices: bool = False, answering: bool = False) -> Understanding:
        """The best non-help reading among the candidates (help is never one of them); `answering` when
        the utterance answers a reminder."""
        r = self._spelled(self.reader.read(text))
        if not r.words:
            return Understanding(None, 0.0, False, "none")
        pool = self.choices if choices else self.answering if answering else self.intents
        names = [n for n in (among if among is not None else pool) if n in pool and n != "help" and not (
            pool is self.intents and n in REQUESTS and self._remark is not None and self._remark(r.words, n))]
        if any(map(self._is_name, r.words)) and not self.addressed(r.words):  # "a robin in the garden" calls no one
            names = [n for n in names if n != "wake"]
        if among is None and not choices and not answering and self._name_only(r):
            return Understanding("wake", 1.0, confidence >= self.min_confidence, "keyword")  # "Robin?", "로빈아"
        # the robot's name with nothing else understood is the resident turning to it: "로빈 잘 잤니", "Robin, there?"
        called = among is None and not choices and not answering and self.addressed(r.words)
        keyword = self._keyword_scores(r, pool, names, self._leading_answer(text))
        near = self.indexes["choices" if choices else "intents"].similarities(r.stem_text)
        exact = [n for n in names if near.get(n, 0.0) >= 1.0]
        if len(exact) == 1:  # staff wrote this very sentence for this intent: no keyword of another outranks it
            return Understanding(exact[0], 1.0, confidence >= self.min_confidence, "similarity")
        scored = sorted(((keyword[n] + KEYWORD_AND_NEAR * near.get(n, 0.0), "keyword", n) if n in keyword
                         else (self._weighted(near.get(n, 0.0)), "similarity", n) for n in names), reverse=True)
        if not scored:
            return Understanding(None, 0.0, False, "none")
        (best, via, name), runner_up = scored[0], (scored[1][0] if len(scored) > 1 else 0.0)
        if via == "similarity":
            sure = best >= SIMILAR_ACCEPT and best - runner_up >= SIMILAR_LEAD
        else:
            sure = best >= self.accept and best - runner_up >= CLEAR_LEAD
        if called and via != "keyword" and (not sure or best < self.ask_again):
            return Understanding("wake", round(best, 3), confidence >= self.min_confidence, "similarity")
        if best < self.ask_again:
            return Understanding(None, round(best, 3), False, "none")
        sure = sure and confidence >= self.min_confidence
        return Understanding(name, round(best, 3), sure, via)

    def _is_name(self, w: str) -> bool:
        """The robot's name, in Korean with a vocative or particle ("로빈아", "로빈이")."""
        return w == self._name or (self.reader.inside and w.startswith(self._name) and len(w) <= len(self._name) + 1)

    def _name_only(self, r: Reading) -> bool:
        """Only the robot's name, with fillers at most ("Robin?", "로빈아"): it is called (privacy checks apart)."""
        return self.addressed(r.words) and all(map(self._is_name, set(r.words) - self.reader.filler_words))

    def addressed(self, words: tuple[str, ...]) -> bool:
        """The robot's name said to it, not "a robin on the bird table" (robot.addressing)."""
        return addressed(words, self._is_name, self.pack.language)

    def _leading_answer(self, text: str) -> str | None:
        """Yes or no, when the utterance opens with a one-word yes or no of its own ("yeah", "nope"; not
        "go on", which may lead into a request: "go on, tell me a joke")."""
        for word in normalise(text).split():
            words = self.reader.read(word).words
            if words and all(w in self.reader.filler_words for w in words):
                continue
            return next((n for n in ANSWERS if len(words) == 1 and words in self._one_word[n]), None)
        return None

    def _spelled(self, r: Reading) -> Reading:
        """The reading with each unknown stem replaced by the known stem it is nearest (robot.spelling)."""
        stems = r.stems if self._speller is None else self._speller.stems(r.stems)
        return r if stems == r.stems else Reading(r.words, stems, r.text, " ".join(stems), r.starts)

    def mentions(self, text: str, answers: Iterable[str]) -> bool:
        """Whether any of the answers is said (a quiz answer, in any inflection: "greeny" holds green)."""
        r = self.reader.read(text)
        for answer in answers:
            phrase = self.reader.phrase(answer, stems=True)
            if self.reader.find(phrase, r, stems=True) or (
                    len(phrase.parts) == 1 and len(phrase.parts[0]) >= 4
                    and any(w.startswith(phrase.parts[0]) for w in r.words)):
                return True
        return False

    def loosely(self, text: str, intent: str) -> bool:
        """Whether one of the intent's keywords is said with its words in any order, spread out
        ("robin, I want you back" for the wake phrase while the robot is not listening)."""
        r = self.reader.read(text)
        return any(self.reader.find(self.reader.phrase(k), r) for k in self.pack.intents[intent].keywords)

    def denies(self, text: str) -> bool:
        """Whether a negation stands against a help word itself: inside a request ("ich brauche keine Hilfe"),
        the word before one ("I do not need", "안 불러도") or the word after ("die Schwester nicht", "필요 없어").
        Only that is a no to "Shall I call a nurse?"; a negation of another clause ("ich kann nicht mehr, ich
        brauche Hilfe") is not, nor one from afar ("I don't think anyone's coming help me": the far reach asks)."""
        r, h = self.reader.read(text), self.helper
        for lo, hi in h.spans_of([*h.calls, *h.asks, *h.alarms, *h.keywords], r):
            if any(w in h.before for w in r.words[lo:hi]) or self.reader.any_near(h.before, r, lo, hi, 1, 0, False) or (
                    bool(h.after) and self.reader.any_near(h.after, r, lo, hi, 0, 1)):
                return True
        return False

    def sore(self, text: str) -> bool:
        """Whether the speaker names a body part of their own, not said to be well ("my knees won't
        have it today"): in answer to "how are you feeling?" that is pain, whatever words come with it."""
        return self.helper.own_body(self.reader.read(text))

    def doubtful(self, text: str, answer: str | None = None) -> bool:
        """Whether the resident is unsure ("I might have", "I can't remember", a hedge such as "I expect I
        did"): never a yes or a no.

        A doubt word that one of the `answer` intent's own keywords holds answers, and doubts nothing: "later,
        love" to a reminder is its no (not done yet), "I'm not sure, later" is unclear; "먹었" holds no "먹었던가".
        """
        r, h = self.reader.read(text), self.helper
        doubts = [(s, len(" ".join(p.parts))) for p in (*h.doubts, *self._hedges) for s in self.reader.spans(p, r)]
        if not doubts or answer is None or answer not in self.answering:
            return bool(doubts)
        own = [(span, k.parts) for k in self.answering[answer].keywords if (span := self.reader.find(k, r, stems=True))]
        def answers(d_lo: int, d_hi: int, size: int) -> bool:  # only a keyword's own words answer: "i (may) have"
            # doubts; in Korean, where a keyword starts a word, only one as long as the doubt ("먹었" in "먹었던가")
            return any(lo <= d_lo and d_hi <= hi and all(any(w.startswith(p) for p in ps) for w in r.stems[d_lo:d_hi])
                       and (len(" ".join(ps)) >= size or not self.reader.inside) for (lo, hi), ps in own)
        return any(not answers(d_lo, d_hi, size) for (d_lo, d_hi), size in doubts)

    def hedged(self, text: str) -> bool:
        """Whether the answer hedges ("I expect so", "무슨 약인지 모르겠어"): then a question word asks nothing back."""
        return bool(self.helper.spans_of(self._hedges, self.reader.read(text)))

    # -- speaking ---------------------------------------------------------------------------------

    def render(self, key: str, params: dict[str, str] | None = None) -> str:
        """A variant of a response, never the same words twice in a row, with placeholders filled."""
        variants = list(self.pack.responses.get(key, ()))
        if not variants:
            variants = list(self.pack.responses.get("fallback", ("…",)))
        last = self._last_variant.get(key)
        fresh = [v for v in variants if v != last] or variants
        choice = self._rng.choice(fresh)
        self._last_variant[key] = choice
        try:
            return choice.format(**(params or {}))
        except (KeyError, IndexError, ValueError):
            return choice

    # -- recogniser grammars -----------------------------------------------------------------------

    def help_phrases(self) -> list[str]:
        """Everything that calls for help, as the recogniser should hear it in every context."""
        spec, lex = self.pack.intents["help"], self.pack.lexicon
        return [normalise(p) for p in (*spec.keywords, *spec.examples, *lex.alarms, *lex.distress)]

    def grammar(self, context: str) -> list[str]:
        """Phrases the recogniser should listen for in a dialog context (plus help, always; and a no's turn words)."""
        def phrases(specs: Iterable[tuple[tuple[str, ...], tuple[str, ...]]]) -> list[str]:
            return [normalise(p) for keywords, examples in specs for p in (*keywords, *examples)]

        intents = {n: (s.keywords, s.examples) for n, s in self.pack.intents.items()}
        if context == "privacy":
            words = phrases([intents["wake"]])
        elif context == "reminder":
            words = phrases(((*intents[n][0], *self.pack.intents[n].answers), intents[n][1])
                            for n in ("yes", "no", "repeat"))
        elif context == "confirm":
            words = phrases(intents[n] for n in ("yes", "no"))
        elif context == "wellbeing":
            words = phrases((c.keywords, c.examples) for c in self.pack.wellbeing.values())
        elif context == "quiz":  # the answers (a free-form recogniser, or a long list, misses help)
            words = phrases([*(intents[n] for n in ("yes", "no", "repeat", "stop")),
                             *(((), answers) for _, answers in self.pack.quiz)])
        else:
            words = phrases(intents.values())
        return sorted(set(words + self.help_phrases() + answer_phrases(self.pack.lexicon, context)) - {""})
