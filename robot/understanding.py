"""Help before anything else: whether an utterance calls for help, from the pack's help words alone.

Utterances are read by robot.reading. A help request's verb may be inflected ("getting the nurse"): then the robot asks.
`HelpReader` decides from the pack's help words alone, so no other intent, keyword length or dialog context can
outrank it: acute distress, a cry for help, or a request for a person raise help at once; a negated request (robot.
negation_reach), a complaint, a lone help word inside a ramble, the speaker's own body part not said to be well, or
someone else's distress that is no story of long ago only make the robot ask. All of it is data in the pack's
`understanding` section.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from robot.dialog_lexicon import Lexicon
from robot.help_time import long_over
from robot.negation_reach import clause_of
from robot.reading import Phrase, Reader, Reading

SHORT_CALL = 3  # an utterance this short that names a call ("oh nurse quick") is one
REQUEST_GAP = 4  # words allowed between a call ("nurse") and its ask ("need"): "holen sie mir bitte eine schwester"
NEGATION_SPAN = 3  # how far before a request a negation still turns it round
OWN_BEFORE = 2  # words between "my" (or "got") and the body part: "my poor old knee", "got a gammy leg"
OWN_AFTER = 1  # words between the body part and "mine": "this knee of mine"
WELL_NEAR = 4  # words from a body part to the word saying it is well: "my knee is so much better"
CRY_REACH = 3  # words before a cry said last in which a negation is its own: "I do not need any help"
DISTRESS_NEGATION_SPAN = 2  # "I have not fallen"; "I don't know, I can't breathe" stays distress

CALLED = frozenset(("", "님", "요", "님요", "아", "야", "씨", "을", "를", "좀"))  # endings of a Korean call word

Level = Literal["help", "ask"]


@dataclass(frozen=True)
class HelpVerdict:
    """Whether an utterance calls for help: `help` at once, or `ask` the resident first."""

    level: Level
    reason: str  # distress, alarm, request, call, keyword, negated, alone, unsure, body (no words, ever)


class HelpReader:
    """Finds help in an utterance before any other intent is considered."""

    def __init__(self, reader: Reader, lexicon: Lexicon, keywords: tuple[str, ...]) -> None:
        self.reader, p = reader, reader.phrase
        self.distress = [p(x) for x in lexicon.distress]
        self.alarms = [p(x) for x in lexicon.alarms]
        self.calls = [p(x) for x in lexicon.calls]
        self.asks = [p(x) for x in lexicon.asks]
        self.ask_stems = [p(x, stems=True) for x in lexicon.asks]
        self.unsure, self.doubts = [p(x) for x in lexicon.unsure], [p(x) for x in lexicon.doubts]
        self.others, self.past = [p(x) for x in lexicon.others], [p(x) for x in lexicon.past]
        self.present, self.body = [p(x) for x in lexicon.present], [p(x) for x in lexicon.body]
        self.mine, self.well = [p(x) for x in lexicon.mine], [p(x) for x in lexicon.well]
        self.speaker, self.acute = [p(x) for x in lexicon.speaker], [p(x) for x in lexicon.acute]
        self.pointing, self.turns = [p(x) for x in lexicon.pointing], [p(x) for x in lexicon.turns]
        self.pauses, self.whom = [p(x) for x in lexicon.pauses], [p(x) for x in lexicon.whom]
        self.wishes, self.hither = [p(x) for x in lexicon.wishes], [p(x) for x in lexicon.hither]
        self.keywords = [p(x) for x in keywords]
        self.before, self.after = frozenset(lexicon.negation_before), frozenset(lexicon.negation_after)
        self.call_words = frozenset(w for c in self.calls for w in c.parts)
        self.fillers = frozenset(lexicon.fillers) | self.call_words

    def _negated(self, reading: Reading, span: tuple[int, int], reach: int, parts: tuple[str, ...] | None = None,
                 own: tuple[str, ...] = ()) -> bool:
        """A negation just before or after the span, or (given the phrase's own words) inside it. A phrase that says
        no itself (`own`: "감각이 없", "can not breathe") is turned round only by a negation before it: the 없
        ending its own last word is the distress, not a denial of it."""
        if parts is not None and any(w in self.before and w not in parts for w in reading.words[span[0]:span[1]]):
            return True
        if own and any(n in p for p in own for n in (*self.before, *self.after)):
            return self.reader.any_near(self.before, reading, span[0], span[1], reach, 0)
        return self.reader.any_near(self.before, reading, span[0], span[1], reach, 0) or (
            bool(self.after) and self.reader.any_near(self.after, reading, span[0], span[1], 0, reach))

    def cries_last(self, reading: Reading) -> bool:
        """Whether the utterance ends with a cry for help ("... help", "... hilfe mir") with no negation of its own in
        the CRY_REACH words before it (nor a negated verb of opinion): "I can't find my glasses help" and "es geht
        nicht hilfe" cry after a clause negated in itself (German ends a clause with its "nicht", a word that also
        negates after: it is not counted), where "I do not need any help", "keine Hilfe" and "don't help me" turn
        the cry round. Korean negates against the verb and is read as it is."""
        if self.reader.inside:
            return False
        own = self.before - self.after  # "I don't think I need help" is turned round through "think"
        return any(all(w in self.fillers for w in reading.words[hi:])
                   and not self.reader.any_near(own, reading, lo, hi, CRY_REACH, 0)
                   for lo, hi in self.spans_of(self.alarms, reading))

    def spans_of(self, phrases: list[Phrase], reading: Reading) -> list[tuple[int, int]]:
        """Where any of the phrases stands in the utterance."""
        return [span for ph in phrases for span in self.reader.spans(ph, reading)]

    def judge(self, reading: Reading, complaints_ask: bool = True) -> HelpVerdict | None:
        """Help, ask, or None. `complaints_ask` is False where a complaint answers a question.

        A cry for help is always help. Distress or a request about someone else, the past or television ("my grandson
        fell over", "I had a fall last winter") or doubting itself ("should I see the nurse?") is asked about.
        """
        if not reading.words:
            return None
        verdict = self._judge(reading, complaints_ask)
        doubt = self._in_help_clause(self.spans_of(self.doubts, reading), reading)
        others = bool(self.spans_of(self.others, reading))
        if verdict is not None and verdict.reason in ("unsure", "body") and others and (
                self.reader.inside or self._story(reading)
                or not (self._own_parts(reading) or self._said_of_self(reading))):
            verdict = None  # "my knees used to hurt years ago", "my grandson's cold"; not "my hip, since christmas"
        if verdict is None:
            if doubt and self.spans_of(self.calls, reading):
                return HelpVerdict("ask", "doubt")  # "should I see the doctor?"
            return None
        if verdict.level == "help" and verdict.reason != "alarm":
            # someone else or the telly in a clause before a request is no request for them: "not the telly, call
            # the nurse"; distress is asked about wherever they are named ("my husband fell, he's on the floor")
            if others and (verdict.reason == "distress"
                           or self._in_help_clause(self.spans_of(self.others, reading), reading)):
                return self._about_others(reading, verdict)
            if verdict.reason == "distress" and long_over(self, reading):
                return HelpVerdict("ask", "past")  # "I had a fall last winter": over, but worth a word
            if doubt and verdict.reason != "distress":
                return HelpVerdict("ask", "doubt")
        return verdict

    def _in_help_clause(self, spans: list[tuple[int, int]], reading: Reading) -> bool:
        """Whether one of the spans (a doubt, someone else) stands in the clause of the first help word or after it:
        "should I see the nurse?", "I don't know if I need the nurse"; not in a clause before it: "I don't know what's
        wrong, I need a nurse"."""
        if not spans or not reading.starts:
            return bool(spans)
        helpish = [lo for lo, _ in self.spans_of([*self.calls, *self.alarms, *self.asks, *self.keywords], reading)]
        first = clause_of(reading.starts, min(helpish), min(helpish) + 1, len(reading.words))[0] if helpish else 0
        return any(lo >= first for lo, _ in spans)

    def _about_others(self, reading: Reading, verdict: HelpVerdict) -> HelpVerdict | None:
        """Help words in talk about someone else, the past or television.

        Long ago or made up ("my neighbour fell last winter", "in the film he fell") is a story, unless something is
        happening now as well. Naming a doctor or nurse about someone else ("my son's a doctor") asks for no one.
        An emergency in the room (the pack's `acute`: "my husband is choking", "I'm choking on one of them") is help
        whoever has it. Anything else is asked about: in a care home "my husband fell" may have happened a minute ago,
        as "I fell" does, and a request for a person may be for the other person.
        """
        if self._story(reading):
            return None
        if verdict.reason == "call":
            return None
        return verdict if self.spans_of(self.acute, reading) else HelpVerdict("ask", "others")

    def asks_for_staff(self, reading: Reading) -> bool:
        """Whether the words ask for staff or cry for help, whatever doubt or talk of someone else comes with them
        ("later call the nurse" asks, and doubts itself): in answer to the help question that is no no."""
        verdict = self._judge(reading, complaints_ask=False)
        return verdict is not None and verdict.level == "help"

    def _judge(self, reading: Reading, complaints_ask: bool) -> HelpVerdict | None:
        negated = False
        for ph in self.distress:
            for span in self.reader.spans(ph, reading):
                if not self._negated(reading, span, DISTRESS_NEGATION_SPAN, own=ph.parts):
                    return HelpVerdict("help", "distress")
        words = reading.words
        alone = False  # a cry for help inside a ramble ("and then I said, well, help, and..."): ask
        for span in self.spans_of(self.alarms, reading):
            if span[0] == 0 or (span[1] == len(words) and words[span[0] - 1] in self.fillers):
                if not self._negated(reading, span, NEGATION_SPAN):
                    return HelpVerdict("help", "alarm")
                negated = True
            alone = True
        calls = self.spans_of(self.calls, reading)
        if calls:
            # an inflected ask before the call is asked about ("would you mind getting the nurse"); after it, it
            # tells what the person does: "the nurse is coming", "die Schwester kommt gleich"
            stems = Reading(reading.stems, reading.stems, reading.stem_text, reading.stem_text)
            asks = [(a, True) for a in self.spans_of(self.asks, reading)] + [
                (a, False) for a in self.spans_of(self.ask_stems, stems) if a[1] <= calls[0][0]]
            for c, (a, exact) in itertools.product(calls, asks):
                if c == a or max(c[0], a[0]) - min(c[1], a[1]) > REQUEST_GAP:
                    continue
                # "ich brauche keine schwester": a negation between the two counts too
                held = not self._negated(reading, (min(c[0], a[0]), max(c[1], a[1])), NEGATION_SPAN, ())
                if held and exact:
                    return HelpVerdict("help", "request")
                alone, negated = alone or held, negated or not held
            short = len(words) <= SHORT_CALL or all(w in self.fillers for w in words)
            if self.reader.inside:  # a Korean call stands bare, or asks for the person ("간호사님", "의사를 좀"), never
                # as the subject of a remark: "간호사는 노래를 잘 해", "의사가 친절해"
                short = short and any(words[lo][len(p):] in CALLED for lo, _ in calls for p in self.call_words
                                      if words[lo].startswith(p))
            if short and not negated and not any(self._negated(reading, c, NEGATION_SPAN) for c in calls):
                return HelpVerdict("help", "call")  # "nurse!", "oh nurse, quick", "somebody, please"
        for ph in self.keywords:
            for span in self.reader.spans(ph, reading):
                if not self._negated(reading, span, NEGATION_SPAN, ph.parts):
                    return HelpVerdict("help", "keyword")
                negated = True
        if negated or any(self._negated(reading, s, NEGATION_SPAN) for s in calls):
            return HelpVerdict("ask", "negated")
        if alone:
            return HelpVerdict("ask", "alone")
        near, inside = self.reader.any_near, self.reader.inside  # Korean negates after: "아프지 않아"
        complaints = [s for ph in self.unsure for s in self.reader.spans(ph, reading) if not near(self.before, reading,
                      *s, DISTRESS_NEGATION_SPAN, 0) and not (inside and self._negated(reading, s, 1, own=ph.parts))]
        if complaints_ask and self._not_well(reading, complaints):  # not "the pain is gone", "감기는 다 나았어"
            return HelpVerdict("ask", "unsure")  # "my hip hurts"; "I'm not in pain" is not
        if complaints_ask and self.own_body(reading):
            return HelpVerdict("ask", "body")
        return None

    def _story(self, reading: Reading) -> bool:
        """Long ago or made up ("years ago", "in the film"), with nothing said to happen now."""
        return bool(self.spans_of(self.past, reading)) and not self.spans_of(self.present, reading)

    def _own_parts(self, reading: Reading) -> list[tuple[int, int]]:
        """Body parts of the speaker's own: "my knee", "I've got a gammy leg", "this knee of mine"; in
        Korean any body part, since "my" is seldom said there (talk of someone else is left out by the caller)."""
        parts = self.spans_of(self.body, reading)
        if self.reader.inside or not parts:
            return parts
        mine = self.spans_of(self.mine, reading)
        between = {o for o, _ in self.spans_of(self.others, reading)}  # "my husband's knee", "das Knie meiner Frau"
        return [(lo, hi) for lo, hi in parts if any(
            (0 <= lo - m_hi <= OWN_BEFORE and not between & set(range(m_hi, lo)))
            or (0 <= m_lo - hi <= OWN_AFTER and not between & set(range(hi, m_lo + 2))) for m_lo, m_hi in mine)]

    def _said_of_self(self, reading: Reading) -> bool:
        """A complaint whose nearest person word before it (after it, if none comes before) is the speaker:
        "I've felt off colour since my daughter came", not "my daughter has been off colour"."""
        others = self.spans_of(self.others, reading)
        followed = {lo - 1 for lo, _ in others} | {lo - 2 for lo, _ in others}
        people = sorted([(lo, hi, False) for lo, hi in others]
                        + [(lo, hi, True) for lo, hi in self.spans_of(self.speaker, reading)
                           if hi - 1 not in followed])  # "my daughter" speaks of the daughter
        for lo, hi in self.spans_of(self.unsure, reading):
            before, after = [p for p in people if p[1] <= lo], [p for p in people if p[0] >= hi]
            nearest = before[-1] if before else (after[0] if after else None)
            if nearest is not None and nearest[2]:
                return True
        return False

    def own_body(self, reading: Reading) -> bool:
        """The speaker's own body part, not said to be well ("my knee has been acting up", "무릎이 좀").

        A complaint may come in words no list holds; only a clear "better" or "fine" (not negated) just after
        it makes it none ("my knee is much better"; not "the weather is fine, but my knee...")."""
        return bool(self._not_well(reading, self._own_parts(reading)))

    def _not_well(self, reading: Reading, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        well = [s for s in self.spans_of(self.well, reading) if not self._negated(reading, s, NEGATION_SPAN)]
        return [(lo, hi) for lo, hi in spans if not any(lo <= w_lo <= hi + WELL_NEAR for w_lo, _ in well)]
