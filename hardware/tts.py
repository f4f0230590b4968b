"""Text to speech: pyttsx3 with its espeak-ng driver, one sentence at a time.

pyttsx3 2.9x's espeak driver is not safe to reuse across `runAndWait` calls: property changes
queued while the driver is busy are applied late or dropped, so a second sentence can come out
at the previous sentence's rate (measured: 4.8 s of audio where 6.8 s was asked for). And
`runAndWait` returns as soon as espeak has *started*: the audio is produced on espeak's own
thread and the WAV is written when its last buffer arrives.

So each sentence gets a fresh `pyttsx3.Engine` whose settings are applied, in order, before
synthesis starts (the path the driver gets right every time), and completion is the driver's
own `finished-utterance` notification, sent after the file is written or the sound card has
played it. espeak itself is initialised once per process by the driver and is shared.
"""

from __future__ import annotations

import contextlib
import io
import threading
import wave
from pathlib import Path
from typing import Any

from hardware.errors import HardwareError


class SpeechError(HardwareError):
    """The speech engine failed or did not finish a sentence."""


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


class Speaker:
    """Says sentences with espeak-ng through pyttsx3, to the sound card or to WAV files."""

    def __init__(self, voice: str = "en", pitch: int = 50) -> None:
        import pyttsx3  # imported here so that only the speech process loads espeak

        self._pyttsx3 = pyttsx3
        self.pitch = max(0, min(100, int(pitch)))
        self._engine: Any = None
        self.voice = pick_voice(self._new_engine().getProperty("voices"), voice)

    def _new_engine(self) -> Any:
        # Drop the old engine first: a driver that tears down clears espeak's shared callback.
        self._engine = None
        self._engine = self._pyttsx3.Engine("espeak")
        return self._engine

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
        if self.voice:
            engine.setProperty("voice", self.voice)
        engine.setProperty("rate", int(rate))
        engine.setProperty("pitch", self.pitch)
        engine.setProperty("volume", max(0.0, min(1.0, float(volume))))
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
            raise SpeechError(f"espeak-ng did not finish a {len(text.split())}-word sentence in {timeout_s:.0f} s")
        if path is None:
            return 0.0
        try:
            with wave.open(str(path)) as w:
                return w.getnframes() / w.getframerate()
        except (OSError, EOFError, wave.Error) as exc:
            raise SpeechError(f"espeak-ng wrote no usable audio to {path}: {exc}") from exc
