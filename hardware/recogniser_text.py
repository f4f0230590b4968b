"""The recogniser's simulated twin: it hears the words a technician types or a scenario scripts.

For a board without a Vosk model, or a quick scenario run, the whole speech-in path still runs:
`hear(text)` queues what the resident says and returns a voice-like sound (no words in it) that
lasts as long as a resident takes to say them. Played to the simulated microphone it passes voice
activity detection, starts an utterance and is endpointed after the same trailing silence as a
real voice; muted or closed, the words are never heard. The twin then reads the words the way
Vosk does with the same grammar: grammar phrases and their words are heard as they are, other
words are "[unk]" (dropped) when the grammar has it, and without it are forced onto the most
alike phrase, which is why grammars keep "[unk]". Partial results grow word by word with the
audio fed; the n-best readings are the grammar's phrases most like what was said, and the
confidence is the best reading's share among them, as with Vosk: "sure" means no close rival.
"""

from __future__ import annotations

import collections
import difflib
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hardware.audio import voice_like
from hardware.recogniser import RATE, UNK, Heard, Recogniser

WORD_S = 0.45  # a resident's pace: about 130 words a minute
LEAD_S = 0.25
TAIL_S = 3.0  # the simulated microphone hears only what is played to it: silence to end on (endpoint_s <= 3)
LATE_S = 1.0  # a queued voice that no utterance took up within this of its end was never heard
MAX_WORDS = 40  # a resident's longest utterance (18 s; speech in cuts one at 15 s): a paste's rest is never said
SHARPNESS = 8.0  # how fast a rival's share falls with its distance (a rival 0.1 less alike: about a third)


@dataclass
class _Said:
    """Words queued with the time their voice starts and stops."""

    words: tuple[str, ...]
    start: float
    end: float
    confidence: float | None


def words_of(text: str) -> tuple[str, ...]:
    """Lower case words without punctuation, as a recogniser writes them (NFKC: as typed is no matter)."""
    return tuple(re.sub(r"[^\w\s'-]", " ", unicodedata.normalize("NFKC", text).lower()).split())


def _alike(a: Sequence[str], b: Sequence[str]) -> float:
    return difflib.SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()


class TextRecogniser(Recogniser):
    """Reads typed words through the grammar; fed audio only paces them (a Recogniser)."""

    where = "the text-fed recogniser"

    def __init__(self, alternatives: int = 3, vocabulary: Iterable[str] | None = None) -> None:
        """`vocabulary`, if given, is the only words it knows (as a model's); otherwise it knows every word."""
        self.alternatives = alternatives
        self.vocabulary = None if vocabulary is None else frozenset(vocabulary) | {UNK}
        self.queue: collections.deque[_Said] = collections.deque()
        self._grammar: list[tuple[str, ...]] | None = None
        self._unk = False
        self._words: set[str] = set()
        self._said: _Said | None = None
        self._heard: tuple[tuple[str, ...], float, tuple[str, ...]] = ((), 0.0, ())
        self._fed_s = 0.0

    def open(self) -> None:
        """Nothing to load."""

    def knows(self, word: str) -> bool:
        return self.vocabulary is None or word in self.vocabulary

    def hear(self, text: str, confidence: float | None = None, start: float | None = None) -> bytes:
        """Queue what the resident says; the sound to play to the microphone for it.

        The sound is the voice between a short lead and enough silence for any endpoint to end the
        utterance. `confidence` pins the reading's confidence (a scripted doubtful hearing); `start`
        is when the sound starts playing on the monotonic clock (now by default). Words past MAX_WORDS
        are dropped: their sound, minutes long, took speech in away from listening while it was made.
        """
        words = words_of(text)[:MAX_WORDS]
        seconds = WORD_S * len(words)
        t0 = (time.monotonic() if start is None else start) + LEAD_S
        self.queue.append(_Said(words, t0, t0 + seconds, confidence))
        return bytes(int(LEAD_S * RATE) * 2) + voice_like(seconds) + bytes(int(TAIL_S * RATE) * 2)

    def begin(self, grammar: Sequence[str] | None) -> None:
        self._grammar = None if not grammar else [words_of(p) for p in grammar if p != UNK]
        self._unk = bool(grammar) and UNK in (grammar or ())
        self._words = {w for p in self._grammar or () for w in p}
        now = time.monotonic()
        while self.queue and self.queue[0].end + LATE_S < now:  # its voice went unheard (muted, closed)
            self.queue.popleft()
        self._said = self.queue.popleft() if self.queue and self.queue[0].start <= now + LATE_S else None
        self._fed_s = 0.0
        self._heard = self._reading()

    def accept(self, pcm: bytes) -> str:
        if self._said is None and self.queue and self.queue[0].start <= time.monotonic():
            # the voice began within an utterance already going (a noise, the robot's echo): heard in it
            self._said, self._fed_s = self.queue.popleft(), 0.0
            self._heard = self._reading()
        self._fed_s += len(pcm) / 2 / RATE
        reading = self._heard[0]
        return " ".join(reading[:int(self._fed_s / WORD_S)])

    def end(self, pcm: bytes = b"") -> Heard:
        reading, confidence, rivals = self._heard
        said, self._said, self._heard = self._said, None, ((), 0.0, ())
        if said is not None and said.confidence is not None:
            confidence = said.confidence
        return Heard(" ".join(reading), confidence if reading else 0.0, rivals)

    def _reading(self) -> tuple[tuple[str, ...], float, tuple[str, ...]]:
        """What was said as this recogniser hears it: the words, the confidence, the rival readings."""
        said = self._said.words if self._said is not None else ()
        known = tuple(w for w in said if self.knows(w))
        if not said:
            return (), 0.0, ()
        if self._grammar is None:  # free-form: the words it knows
            return known, len(known) / len(said), ()
        out: list[str] = []
        i, covered = 0, 0
        while i < len(known):
            fits = [p for p in self._grammar if p and known[i:i + len(p)] == p]
            if fits:
                best = max(fits, key=len)
                out += best
                i += len(best)
                covered += len(best)
                continue
            if known[i] in self._words:  # a grammar word outside its phrases, as Vosk hears them too
                out.append(known[i])
                covered += 1
            elif not self._unk:  # forced onto the most alike phrase (if the grammar has one with words)
                alike = [(_alike(p, known[i:i + 1]), p) for p in self._grammar if p]
                out += max(alike)[1] if alike else ()
            i += 1
        reading = tuple(out)
        score = covered / len(said)
        rivals = sorted(((_alike(p, said), p) for p in self._grammar if p and p != reading), reverse=True)
        rivals = rivals[:max(0, self.alternatives - 1)]
        confidence = score / (1.0 + sum(math.exp(SHARPNESS * (s - score)) for s, _ in rivals))
        return reading, confidence, tuple(" ".join(p) for _, p in rivals[:3])
