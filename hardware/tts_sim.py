"""Speech synthesis's simulated twin: the timing of a sentence, without espeak-ng or a sound card.

For a board without espeak-ng or a sound card, or a quick scenario run. A sentence lasts as long
as its syllables take at the asked rate (a word being 1.6 syllables on average), plus a pause at
each sentence end and a short lead, as espeak-ng's do: within 15 % of espeak-ng's length for the
English and Korean test sentences at 130 and 150 wpm, single words excepted (measured). Its audio
is a voice-like sound with no words in it (hardware.audio.voice_like), written as a WAV where the
real engine writes one: speech out then times, plays and reports it exactly as it does a real
sentence (started, playback, finished), and the echo canceller behind barge-in has a far end to
learn from. Without a file it blocks for the sentence's length, as espeak-ng does on the sound card.
"""

from __future__ import annotations

import re
import tempfile
import time
import wave
from pathlib import Path

from hardware.audio import RATE, voice_like
from hardware.device import Probe
from hardware.tts import SpeechError, SpeechTimeout

SYLLABLES_PER_WORD = 1.6
SENTENCE_PAUSE_S = 0.15  # after each full stop, question or exclamation mark
LEAD_S = 0.2
VOICE = "sim"


def syllables(text: str) -> int:
    """Hangul blocks are a syllable each; other words count their vowel groups (at least one)."""
    count = 0
    for word in text.split():
        hangul = sum(1 for ch in word if "\uac00" <= ch <= "\ud7a3")
        latin = len(re.findall(r"[aeiouyäöüàâéèêëîïôûùæøå]+", word.lower()))
        count += hangul + latin or 1
    return count


def seconds_of(text: str, rate: float) -> float:
    """How long `text` takes to say at `rate` words a minute."""
    if not text.split():
        return 0.0
    ends = max(1, len(re.findall(r"[.!?]+(\s|$)", text)))
    return LEAD_S + syllables(text) * 60.0 / (max(rate, 60.0) * SYLLABLES_PER_WORD) + ends * SENTENCE_PAUSE_S


class SimSpeaker:
    """A voice with timing but no words (a Synthesiser)."""

    voice: str | None = VOICE

    def say(self, text: str, rate: float, volume: float = 1.0, path: Path | None = None,
            timeout_s: float = 60.0) -> float:
        """The sentence's audio to `path` (a WAV), or its length waited out; the audio's seconds (0.0 waited)."""
        seconds = seconds_of(text, rate)
        if path is None:
            if seconds > timeout_s:
                time.sleep(timeout_s)
                raise SpeechTimeout(f"the simulated voice did not finish a {len(text.split())}-word sentence "
                                    f"in {timeout_s:.0f} s")
            time.sleep(seconds)
            return 0.0
        try:
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(RATE)
                w.writeframes(voice_like(seconds, volume))
        except OSError as exc:
            raise SpeechError(f"the simulated voice could not write {path}: {exc}") from exc
        return seconds

    def idle(self) -> bool:
        """Always: nothing runs on once `say` returns."""
        return True

    def probe(self, sentence: str, rate: float = 150) -> Probe:
        """Make `sentence` into a WAV in a temporary directory (deleted at once)."""
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="carebot-probe-") as tmp:
            seconds = self.say(sentence, rate, path=Path(tmp) / "say.wav")
        return Probe(f"voice {VOICE} (simulated: timing, no words), {rate:.0f} wpm: {seconds:.1f} s of speech made "
                     f"in {time.monotonic() - t0:.2f} s")
