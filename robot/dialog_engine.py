"""The dialog engine: understand an utterance, pick a reply, render it, build recogniser grammars.

Matching tolerates other wordings: a keyword or phrase settles an intent at once (the
longest match wins, so "not good" beats "good"), otherwise whole-sentence similarity
against the pack's examples decides. Help is critical: any help keyword is acted on,
whatever else was said and however unsure the recogniser was. Everything else that is
uncertain is asked again in other words, never guessed.

`Conversation` turns understanding into actions for the state machine (triggers with
reply keys), keeping the context of a pending question: a reminder's yes or no, the
wellbeing check-in, a quiz answer, or privacy (where only the wake phrase counts).
It does no I/O.
"""

from __future__ import annotations

import datetime as dt
import difflib
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from robot.dialogs import Pack, normalise

Action = tuple[str, dict[str, Any]]  # (trigger, kwargs) for Behaviour.fire
SIMILARITY_WEIGHT = 0.9  # a near example counts for less than a keyword
CLEAR_LEAD = 0.04  # a winner must lead the runner-up by this much to be sure


@dataclass(frozen=True)
class Understanding:
    """The engine's reading of one utterance."""

    intent: str | None
    score: float  # exact when an intent was found; with none, at most the best candidate's score
    sure: bool
    via: str  # keyword, similarity, or none


@dataclass(frozen=True)
class _Candidate:
    name: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]


class DialogEngine:
    """Intent matching and response rendering for one pack."""

    def __init__(self, pack: Pack, *, accept: float = 0.72, ask_again: float = 0.5,
                 min_confidence: float = 0.45, seed: int | None = None) -> None:
        self.pack = pack
        self.accept, self.ask_again, self.min_confidence = accept, ask_again, min_confidence
        self.substring = pack.language in ("ko", "ja", "zh")  # words carry endings: match inside them
        self._rng = random.Random(seed)
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._last_variant: dict[str, str] = {}
        self.intents = {n: _Candidate(n, tuple(normalise(k) for k in s.keywords),
                                      tuple(normalise(e) for e in s.examples)) for n, s in pack.intents.items()}
        self.choices = {n: _Candidate(n, tuple(normalise(k) for k in c.keywords),
                                      tuple(normalise(e) for e in c.examples)) for n, c in pack.wellbeing.items()}

    # -- understanding ----------------------------------------------------------------------------

    def _spans(self, text: str, keyword: str) -> list[tuple[int, int]]:
        if not keyword:
            return []
        pattern = self._patterns.get(keyword)
        if pattern is None:
            if self.substring and len(keyword) > 1:  # Korean: words carry endings, match inside them
                pattern = re.compile(re.escape(keyword))
            else:  # whole words (and one-syllable words)
                pattern = re.compile(rf"(?<![\w']){re.escape(keyword)}(?![\w'])")
            self._patterns[keyword] = pattern
        return [(m.start(), m.end()) for m in pattern.finditer(text)]

    def _keyword_scores(self, text: str, pool: dict[str, _Candidate], names: list[str]) -> dict[str, float]:
        """Keyword evidence per candidate; a match inside a longer match of any candidate does not count,
        so "not good" beats "good" and "안 먹었" beats "먹었"."""
        matches = [(s, e, n) for n in names for k in pool[n].keywords for s, e in self._spans(text, k)]
        kept = [m for m in matches
                if not any(o[0] <= m[0] and m[1] <= o[1] and (o[1] - o[0]) > (m[1] - m[0]) for o in matches)]
        chars: dict[str, int] = {}
        for s, e, n in set(kept):
            chars[n] = chars.get(n, 0) + (e - s)
        return {n: 0.85 + 0.012 * min(c, 15) for n, c in chars.items()}

    @staticmethod
    def _similarity(text: str, cand: _Candidate, floor: float = 0.0) -> float:
        """How near the text is to the candidate's closest example (0..0.9).

        Exact when the result is above `floor`; below it, a lower bound (it then decides nothing).
        """
        words = set(text.split())
        best = 0.0
        matcher = difflib.SequenceMatcher(None, text)
        for ex in cand.examples:
            if text == ex:
                return 1.0
            ex_words = set(ex.split())
            jaccard = len(words & ex_words) / len(words | ex_words) if words | ex_words else 0.0
            best = max(best, jaccard)
            matcher.set_seq2(ex)
            # ratio() costs milliseconds on long utterances; its cheap upper bounds skip examples
            # that cannot beat the best so far or reach the floor
            bar = max(best, floor / SIMILARITY_WEIGHT)
            if matcher.real_quick_ratio() > bar and matcher.quick_ratio() > bar:
                best = max(best, matcher.ratio())
        return best * SIMILARITY_WEIGHT  # a near example counts for less than a keyword

    def _has_keyword(self, text: str, cand: _Candidate) -> float | None:
        """The keyword score of one candidate, or None if none of its keywords is in the text."""
        return self._keyword_scores(text, {cand.name: cand}, [cand.name]).get(cand.name)

    def understand(self, text: str, confidence: float = 1.0, among: Iterable[str] | None = None,
                   choices: bool = False) -> Understanding:
        """The intent (or wellbeing choice) an utterance most likely means, and whether that is sure."""
        norm = normalise(text)
        if not norm:
            return Understanding(None, 0.0, False, "none")
        pool = self.choices if choices else self.intents
        names = list(among) if among is not None else list(pool)
        if not choices and "help" in self.intents:
            help_score = self._has_keyword(norm, self.intents["help"])
            if help_score is not None:  # help is never missed, whatever the recogniser's confidence
                return Understanding("help", help_score, True, "keyword")
        names = [n for n in names if n in pool]
        keyword = self._keyword_scores(norm, pool, names)
        # Below this a similarity changes no decision: it is under ask_again, and too far behind
        # any sure winner to spoil its lead.
        floor = min(self.ask_again, self.accept - CLEAR_LEAD)
        scored = sorted(((keyword[n], "keyword", n) if n in keyword
                         else (self._similarity(norm, pool[n], floor), "similarity", n) for n in names), reverse=True)
        if not scored:
            return Understanding(None, 0.0, False, "none")
        (best, via, name), runner_up = scored[0], (scored[1][0] if len(scored) > 1 else 0.0)
        if best < self.ask_again:
            return Understanding(None, best, False, "none")
        clear_lead = best - runner_up >= CLEAR_LEAD
        sure = best >= self.accept and clear_lead and confidence >= self.min_confidence
        return Understanding(name, round(best, 3), sure, via)

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

    def grammar(self, context: str) -> list[str]:
        """Phrases the recogniser should listen for in a dialog context (plus help, always)."""
        def phrases(cands: Iterable[_Candidate]) -> list[str]:
            out: list[str] = []
            for c in cands:
                out += [*c.keywords, *c.examples]
            return out

        help_phrases = phrases([self.intents["help"]])
        if context == "privacy":
            return sorted(set(phrases([self.intents["wake"]]) + help_phrases))
        if context == "reminder":
            return sorted(set(phrases([self.intents[n] for n in ("yes", "no", "repeat")]) + help_phrases))
        if context == "wellbeing":
            return sorted(set(phrases(self.choices.values()) + help_phrases))
        return sorted(set(phrases(self.intents.values())))


@dataclass
class Conversation:
    """Context between turns; turns utterances into state-machine triggers."""

    engine: DialogEngine
    activities: tuple[str, ...] = ()
    context: str = "open"
    quiz_answer: tuple[str, ...] = ()
    last_reply: tuple[str, tuple[tuple[str, str], ...]] = ("greeting", ())
    rate_step: int = 0
    volume_step: int = 0
    _quiz_i: int = 0

    def set_context(self, state: str) -> None:
        """Follow the state machine: reminders and privacy change what an answer means."""
        if state == "reminding":
            self.context = "reminder"
        elif state == "privacy":
            self.context = "privacy"
        elif self.context in ("reminder", "privacy"):
            self.context = "open"

    def end_session(self) -> None:
        """The person left: forget speech settings and pending questions."""
        self.context, self.rate_step, self.volume_step, self.quiz_answer = "open", 0, 0, ()

    def hear(self, text: str, confidence: float, now: dt.datetime) -> list[Action]:
        """Triggers for one utterance (the text is used here and then dropped)."""
        e = self.engine
        if self.context == "privacy":
            u = e.understand(text, confidence, among=["wake"])
            if u.intent == "help" and u.sure:
                return [("help", {})]
            return [("privacy_off", {})] if u.intent == "wake" and u.sure else []
        if self.context == "reminder":
            u = e.understand(text, confidence, among=["yes", "no", "repeat"])
            if u.intent == "help":
                return [("help", {})]
            if u.sure and u.intent in ("yes", "no"):
                self.context = "open"
                return [("confirm" if u.intent == "yes" else "decline", {})]
            return [("say", {"key": "reminder_unclear"})]  # never guess on medication
        if self.context == "wellbeing":
            first = e.understand(text, confidence)
            u = e.understand(text, confidence, choices=True)
            # "my back hurts" answers the question; "I fell and my back hurts" is a call for help
            if first.intent == "help" and first.via == "keyword" and first.score > u.score:
                return [("help", {})]
            if u.sure and u.intent is not None:
                self.context = "open"
                choice = e.pack.wellbeing[u.intent]
                concern = u.intent in e.pack.concerning
                return [("wellbeing", {"category": u.intent, "concern": concern, "reply": choice.reply})]
            return self._reply("wellbeing_unclear")
        if self.context == "quiz":
            self.context = "open"
            norm = normalise(text)
            right = any(normalise(a) in norm for a in self.quiz_answer)
            return self._reply("quiz_right" if right else "quiz_wrong", answer=self.quiz_answer[0])
        u = e.understand(text, confidence)
        if u.intent is None:
            return self._reply("fallback")
        if not u.sure:
            return self._reply("clarify")  # ask again in other words
        return self._act(u.intent, now)

    def _reply(self, key: str, **params: str) -> list[Action]:
        packed = tuple(sorted(params.items()))
        if key not in ("clarify", "fallback", "wellbeing_unclear"):
            self.last_reply = (key, packed)
        return [("heard", {"reply": key, "params": packed})]

    def _act(self, intent: str, now: dt.datetime) -> list[Action]:
        simple = {"help": "help", "privacy_on": "privacy_on", "goodbye": "goodbye", "stop": "hush"}
        if intent in simple:
            return [(simple[intent], {})]
        if intent in ("yes", "no", "wake"):
            return self._reply("clarify")
        if intent == "repeat":
            key, params = self.last_reply
            return [("heard", {"reply": key, "params": params})]  # render() picks other words
        if intent == "slower":
            self.rate_step -= 1
            return self._reply("slower_ok")
        if intent == "louder":
            self.volume_step += 1
            return self._reply("louder_ok")
        if intent == "time":
            return self._reply("time", time=now.strftime("%H:%M"))
        if intent == "date":
            return self._reply("date", date=now.strftime("%A %d %B %Y"))
        if intent == "activities":
            if not self.activities:
                return self._reply("no_activities")
            return self._reply("activities", activities=", ".join(self.activities))
        if intent == "quiz":
            questions = self.engine.pack.quiz
            ask, answers = questions[self._quiz_i % len(questions)]
            self._quiz_i += 1
            self.context, self.quiz_answer = "quiz", answers
            return [("heard", {"reply": "quiz_question", "params": (("text", ask),)})]
        if intent == "thanks":
            return self._reply("thanks_reply")
        return self._reply(intent)  # name, disclosure, joke, reminisce
