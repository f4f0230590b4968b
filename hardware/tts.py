"""Text to speech: pyttsx3 with its espeak-ng driver, one sentence at a time (the twin: hardware/tts_sim.py).

Two traps in pyttsx3 2.9x's espeak driver decide how this is written:
- Settings made with `engine.setProperty` are queued and reach espeak's own command queue just
  before the driver's end-of-loop `stop()`, which cancels whatever espeak still has queued if it
  looks busy: the new rate is dropped, the sentence is not. Sentences then came at the previous
  rate or at the driver's default of 200 wpm (measured: 4.3 s of audio where 6.8 s was asked for,
  in about 1 sentence in 10). So `Speaker._apply` sets them on the driver directly and waits
  until espeak has taken them; 0 wrong in 300 sentences afterwards.
- `runAndWait` returns as soon as espeak has *started*: the audio is made on espeak's thread and
  the WAV is written when its last buffer arrives. Completion is therefore the driver's own
  `finished-utterance`, sent after the file is written or the sound card has played it.
Each sentence also gets a fresh `pyttsx3.Engine`, so no driver state carries over from the last.
espeak itself is initialised once per process by the driver and is shared: its synthesis callback
belongs to the newest engine. So one sentence at a time, never two at once (two overlapping
sentences left the first unfinished, or crashed espeak: issue 20), and none after a sentence that
timed out while espeak is still busy with it (`idle()` says when it is safe to go on).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any, Protocol

from hardware.device import Probe
from hardware.errors import HardwareError


class SpeechError(HardwareError):
    """The speech engine failed or did not finish a sentence."""


class SpeechTimeout(SpeechError):
    """The speech engine did not finish a sentence in the time it was given (it may still be busy)."""


_CONTROL = "".join(map(chr, range(32)))


def _languages(voice: Any) -> list[str]:
    # Some espeak builds give languages as bytes with a leading priority byte: b"\x05en-gb".
    out = []
    for lang in voice.languages or []:
        text = lang.decode("utf-8", "replace") if isinstance(lang, bytes) else str(lang)
        out.append(text.lstrip(_CONTROL).lower())
    return out


def pick_voice(voices: list[Any], wanted: str) -> str | None:
    """The espeak voice id for a language tag or voice name such as 'en-gb', 'de' or 'ko'.

    An exact language tag wins ('en-gb' is espeak's 'gmw/en', not 'gmw/en-gb-scotland'), then an
    exact voice id, then the first voice whose language is a regional form of it ('pt' finds 'pt-br').
    """
    wanted = wanted.strip().lower()
    tests = (lambda v: wanted in _languages(v),
             lambda v: v.id.lower() == wanted or v.id.lower().endswith("/" + wanted),
             lambda v: any(lang.startswith(wanted + "-") for lang in _languages(v)))
    for test in tests:
        for v in voices:
            if test(v):
                return str(v.id)
    return None


class Synthesiser(Protocol):
    """The speech-synthesis device: one sentence at a time, to the sound card or a WAV file."""

    voice: str | None

    def say(self, text: str, rate: float, volume: float = 1.0, path: Path | None = None,
            timeout_s: float = 60.0) -> float:
        """Speak `text` and block until done; the audio's seconds (0.0 on the sound card)."""
        ...

    def idle(self) -> bool:
        """True unless the engine is still busy with a sentence that failed or timed out."""
        ...

    def probe(self, sentence: str, rate: float = 150) -> Probe:
        """Make `sentence` into audio and drop it; SpeechError says what is wrong."""
        ...


class Speaker:
    """Says sentences with espeak-ng through pyttsx3, to the sound card or to WAV files (a Synthesiser)."""

    def __init__(self, voice: str = "en", pitch: int = 50) -> None:
        import pyttsx3  # imported here so that only the speech process loads espeak

        self._pyttsx3 = pyttsx3
        self.wanted = voice
        self.pitch = max(0, min(100, int(pitch)))
        self._engine: Any = None
        self.voice = pick_voice(self._new_engine().getProperty("voices"), voice)

    def _new_engine(self) -> Any:
        # Drop the old engine first: a driver that tears down clears espeak's shared callback.
        self._engine = None
        self._engine = self._pyttsx3.Engine("espeak")
        return self._engine

    def _apply(self, engine: Any, settings: list[tuple[str, Any]]) -> None:
        """Give espeak the sentence's settings and wait until it has taken them.

        Queued through pyttsx3, settings reach espeak's command queue just before the driver's
        end-of-loop `stop()`, which cancels whatever espeak still has queued when it sees it
        busy: the settings, but not the sentence. Roughly 1 sentence in 10 then came at the
        driver's default 200 wpm. Applied here, on the driver, and waited for, nothing is left
        queued to cancel.
        """
        driver = getattr(getattr(engine, "proxy", None), "_driver", None)
        if driver is None or not hasattr(driver, "setProperty"):  # another pyttsx3: its own way
            for name, value in settings:
                engine.setProperty(name, value)
            return
        for name, value in settings:
            driver.setProperty(name, value)
        from pyttsx3.drivers import _espeak

        deadline = time.monotonic() + 2.0
        while _espeak.IsPlaying() and time.monotonic() < deadline:
            time.sleep(0.001)

    def idle(self) -> bool:
        """True unless espeak is still working on a sentence (one that failed or timed out).

        A new sentence must not start then: espeak's callback is shared, so it would receive
        the old sentence's audio, and `espeak_Cancel` can block until the old one is done
        (40 s measured behind a long synthesis).
        """
        driver = getattr(getattr(self._engine, "proxy", None), "_driver", None)
        if driver is None or not hasattr(driver, "setProperty"):
            return True
        from pyttsx3.drivers import _espeak

        return not _espeak.IsPlaying()

    def say(self, text: str, rate: float, volume: float = 1.0, path: Path | None = None,
            timeout_s: float = 60.0) -> float:
        """Speak `text` (to `path` as a WAV if given) and block until done; the audio's seconds.

        On the sound card the duration is not known and 0.0 is returned.
        """
        engine = self._new_engine()
        done = threading.Event()
        failure: list[BaseException] = []

        def on_error(name: Any, exception: BaseException) -> None:
            failure.append(exception)
            done.set()

        engine.connect("finished-utterance", lambda name, completed: done.set())
        engine.connect("error", on_error)
        settings: list[tuple[str, Any]] = [("voice", self.voice)] if self.voice else []
        settings += [("rate", int(rate)), ("pitch", self.pitch), ("volume", max(0.0, min(1.0, float(volume))))]
        self._apply(engine, settings)
        # The driver prints "Audio saved to ..." from espeak's thread once the file is written.
        with contextlib.redirect_stdout(io.StringIO()):
            if path is None:
                engine.say(text)
            else:
                engine.save_to_file(text, str(path))
            engine.runAndWait()
            finished = done.wait(timeout_s)
        if failure:
            raise SpeechError(f"espeak-ng failed: {type(failure[0]).__name__}: {failure[0]}")
        if not finished:
            raise SpeechTimeout(f"espeak-ng did not finish a {len(text.split())}-word sentence in {timeout_s:.0f} s")
        if path is None:
            return 0.0
        try:
            with wave.open(str(path)) as w:
                return w.getnframes() / w.getframerate()
        except (OSError, EOFError, wave.Error) as exc:
            raise SpeechError(f"espeak-ng wrote no usable audio to {path}: {exc}") from exc

    def probe(self, sentence: str, rate: float = 150) -> Probe:
        """Make `sentence` into a WAV in a temporary directory (deleted at once); how long it took."""
        if self.voice is None:
            raise SpeechError(f"espeak-ng has no voice for {self.wanted!r}; `espeak-ng --voices` lists them")
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="carebot-probe-") as tmp:
            seconds = self.say(sentence, rate, path=Path(tmp) / "say.wav")
        return Probe(f"voice {self.voice}, {rate:.0f} wpm: {seconds:.1f} s of speech made in "
                     f"{time.monotonic() - t0:.2f} s")
