"""Barge-in on the control side, and the turn timings that `carebot status` shows.

Speech in listens while the robot speaks (robot/workers/speech_in.py) with a small grammar from
the pack: its stop words and every help phrase. A stop word it hears arrives as `barge_in`: the
speech is cut at once (the speech-out queue's stop) and the robot goes back to listening. A
final result heard over the robot's voice arrives as an utterance marked `barge_in`; it goes to
the dialog thread, which lets it through only if it calls for help, so that help raises the
alert at once and anything else said during speech is ignored. Each sentence's playback start
(`playback`) is passed to speech in as the echo canceller's far-end reference.

The timings are of turns, never their words: end of speech to text (the endpoint), text to the
reply's first sentence starting, text to its first audio, and a stop word to silence.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

from robot.core.speech import SpeechChannel
from robot.dialog_engine import DialogEngine, Understanding
from robot.dialogs import Pack, normalise
from robot.messages import Message

Handler = Callable[[Message, float], None]
KEEP = 200  # turns kept for the percentiles


def barge_in_grammar(pack: Pack) -> tuple[list[str], list[str]]:
    """The phrases speech in listens for while the robot speaks: (help, stop).

    Help is the pack's help intent (keywords and examples) and its alarms ("살려", "help!"); stop
    is the stop intent's keywords and examples. Vosk makes a word loop of a grammar
    (its words in any order), and the Korean model has no "[unk]", so every sound heard over the
    robot's voice is forced onto some grammar word. Hence, measured over the echo path
    (`carebot bench bargein`, docs/barge-in.md):
    - the distress and complaint fragments that the dialog engine also reads as help ("숨이 안
      쉬어", "어지러") are left out: help was found in 76 % of trials with them, 96 % without;
    - help phrases that end on a word of a single syllable block ("누가 와", "아무나 와": Korean puts
      the verb last, so the whole request rests on it) are left out: such a word fits any syllable,
      and "그만" (enough) was heard as "누가 와" (someone come) in 28 of 40 trials, a stop raising an
      alert. Without them "누가 (좀) 와 (주세요)" is still heard as help, as "도와줘";
    - the stop intent's paraphrases stay out: their short words ("해요", "줘요") took the place of
      help words, and "도움이 필요해" was heard as nothing but a stop.
    """
    spec, stop = pack.intents["help"], pack.intents["stop"]
    helps = {normalise(p) for p in (*spec.keywords, *spec.examples, *pack.lexicon.alarms)}
    helps = {p for p in helps if not _one_syllable(p.split()[-1])}
    stops = {normalise(p) for p in (*stop.keywords, *stop.examples)}
    return sorted(helps - {""}), sorted(stops - {""})


def barge_in_help(engine: DialogEngine, text: str, alternatives: Sequence[str] = ()) -> Understanding | None:
    """The dialog engine's help verdict on what was heard over the robot's voice, or None to ignore it.

    A sure call for help always stands. An unsure one (the robot would ask) needs a reading, the best
    or an alternative, of at least two words besides stop words: over the robot's voice the
    word-loop grammar turns a short sound into a lone fragment, and "그만" (enough) came out as
    "주세요" (please) or "누구" (who) and made the robot ask about help. A stop is never a reason
    to drop a reading of help (docs/barge-in.md).
    """
    verdict = engine.help(text, alternatives)
    if verdict is None or verdict.sure:
        return verdict
    stop_words = {w for p in barge_in_grammar(engine.pack)[1] for w in p.split()}
    words = max(len([w for w in r.split() if w not in stop_words]) for r in (text, *alternatives))
    return verdict if words >= 2 else None


def _one_syllable(word: str) -> bool:
    """A word of one Hangul syllable block ("와", "좀"): over the robot's voice it matches anything."""
    return len(word) == 1 and "\uac00" <= word <= "\ud7a3"


def _summary(values: collections.deque[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"n": len(ordered), "p50": pick(0.5), "p90": pick(0.9), "max": round(ordered[-1], 1)}


class BargeIn:
    """Routes barge-in messages, feeds speech in its grammar and far end, and times the turns."""

    def __init__(self, engine: DialogEngine, speech: SpeechChannel, send: Callable[..., None],
                 dialog_post: Callable[..., None], to_perception: Handler, fire: Callable[..., bool],
                 state: Callable[[], str], record: Callable[[str, dict[str, Any]], None]) -> None:
        self.engine = engine
        self.speech = speech
        self.send = send
        self.dialog_post = dialog_post
        self.to_perception = to_perception
        self.fire = fire
        self.state = state
        self.record = record
        self.timings: dict[str, collections.deque[float]] = {
            k: collections.deque(maxlen=KEEP) for k in ("endpoint_ms", "text_to_reply_ms", "text_to_audio_ms",
                                                        "stop_to_silence_ms", "word_end_to_silence_ms")}
        self.counts = {"stop": 0, "help_heard": 0}
        self._heard_at = 0.0  # when the last utterance's text arrived, until its reply starts
        self._audio_from = 0.0  # the same, until the reply's first audio

    def on_speech_in_ready(self, msg: Message, now: float) -> None:
        """A (fresh) speech-in process: give it the barge-in grammar."""
        if msg.sender == "speech_in":
            phrases, stop = barge_in_grammar(self.engine.pack)
            self.send("speech_in", "barge_grammar", phrases=phrases, stop=stop)

    def on_utterance(self, msg: Message, now: float) -> None:
        """Time the turn; an utterance heard over the robot's voice may only call for help."""
        self.timings["endpoint_ms"].append(float(msg.data.get("endpoint_s", 0.0)) * 1000)
        self._heard_at = self._audio_from = now
        if not msg.data.get("barge_in"):
            self.to_perception(msg, now)
            return
        self.counts["help_heard"] += 1  # counted as a candidate; the dialog thread drops all but help
        self.record("barge_in", {"reason": "heard"})
        self.dialog_post("utterance", text=str(msg.data.get("text", "")),
                         confidence=float(msg.data.get("confidence", 1.0)), state=self.state(),
                         alternatives=tuple(str(a) for a in msg.data.get("alternatives") or ()), barge_in=True)

    def on_barge_in(self, msg: Message, now: float) -> None:
        """A stop word over the robot's voice: silence, then listen."""
        if msg.data.get("what") != "stop" or not self.speech.busy:
            return
        self.counts["stop"] += 1
        self.speech.stop()
        self.record("barge_in", {"reason": "stop"})
        state = self.state()
        if state == "responding":
            self.fire("reply_done")  # -> listening
        elif state in ("idle", "engaged"):  # a greeting or a reminder's words: the resident has the turn
            self.fire("speech_start")

    def on_silenced(self, msg: Message, now: float) -> None:
        """Speech in measured a stop word to silence."""
        self.timings["word_end_to_silence_ms"].append(float(msg.data.get("from_word_end_ms", 0.0)))
        self.timings["stop_to_silence_ms"].append(float(msg.data.get("latency_ms", 0.0)))

    def on_speaking_started(self, msg: Message, now: float) -> None:
        """A sentence starts: the first after an utterance times the reply."""
        if self._heard_at:
            self.timings["text_to_reply_ms"].append((now - self._heard_at) * 1000)
            self._heard_at = 0.0

    def on_playback(self, msg: Message, now: float) -> None:
        """A sentence's audio starts playing: it is speech in's far end; the first after an utterance is timed."""
        self.send("speech_in", "far_end", path=msg.data.get("path"), t0=msg.data.get("t0"))
        if self._audio_from:  # t0 is on the same monotonic clock as the loop's `now`
            self.timings["text_to_audio_ms"].append(max(0.0, float(msg.data.get("t0", now)) - self._audio_from) * 1000)
            self._audio_from = 0.0

    def metrics(self) -> dict[str, Any]:
        """Turn timings (p50, p90, max in ms) and barge-in counts, for `carebot status`."""
        return {**{k: _summary(v) for k, v in self.timings.items()}, "barge_ins": dict(self.counts)}
