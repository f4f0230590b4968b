"""The speech recogniser device: 16 kHz mono PCM in, words with a confidence out (Vosk today).

One model is loaded when the device opens and kept (Vosk's models take seconds to load).
Each utterance gets a fresh recogniser with the dialog state's grammar, a list of phrases
(with "[unk]" when the model has it) or none for free-form recognition. Vosk scores its
n-best readings in log-likelihood units; the confidence is the best reading's share of the
posterior among them (0..1), so "sure" means no close rival reading. "[unk]" never reaches
the caller as a word. The simulated twin, hardware.recogniser_text, reads words typed for the
resident through the same grammar, for a board without a model or a quick scenario run; the
simulator can also run the real model on synthetic voices, as the tests do.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.device import Probe
from hardware.errors import DeviceUnavailable

RATE = 16000
UNK = "[unk]"


@dataclass(frozen=True)
class Heard:
    """What an utterance was read as: its words, how sure, and the rival readings."""

    text: str
    confidence: float
    alternatives: tuple[str, ...] = ()


class Recogniser(ABC):
    """Recognises one utterance at a time: begin, accept chunks (partial text back), end."""

    where = "recogniser"

    @abstractmethod
    def open(self) -> None:
        """Load the model (raises DeviceUnavailable when it is not there or will not load)."""

    @abstractmethod
    def knows(self, word: str) -> bool:
        """Whether the model's vocabulary has the word ("[unk]" included, when it has it)."""

    @abstractmethod
    def begin(self, grammar: Sequence[str] | None) -> None:
        """Start an utterance, limited to the phrases of `grammar`, or free-form."""

    @abstractmethod
    def accept(self, pcm: bytes) -> str:
        """Feed 16 kHz mono 16-bit audio; the partial text so far."""

    @abstractmethod
    def end(self, pcm: bytes = b"") -> Heard:
        """Feed the last audio and read the utterance."""

    def probe(self) -> Probe:
        """Load the model and read a second of silence, which must give no words."""
        self.open()
        self.begin(None)
        self.accept(bytes(RATE * 2))
        heard = self.end()
        if heard.text:
            raise DeviceUnavailable(f"{self.where} heard {len(heard.text.split())} word(s) in silence")
        return Probe(f"{self.where} loaded; {'knows' if self.knows(UNK) else 'has no'} {UNK}")


class VoskRecogniser(Recogniser):
    """A Vosk (Kaldi) model from a folder."""

    def __init__(self, model: Path, alternatives: int = 3) -> None:
        self.path = model
        self.alternatives = alternatives
        self.where = f"the speech model {model}"
        self._model: Any = None
        self._rec: Any = None

    def open(self) -> None:
        if self._model is not None:
            return
        if not (self.path / "am" / "final.mdl").is_file():
            raise DeviceUnavailable(f"the speech model {self.path} is not installed")
        import vosk  # only the speech process loads Kaldi

        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception for a bad model folder
            raise DeviceUnavailable(f"Vosk could not load {self.path}: {exc}") from None
        self._vosk = vosk

    @property
    def model(self) -> Any:
        """The loaded vosk.Model (for benchmarks that time Vosk alone beside the whole pipeline)."""
        return self._loaded()

    def knows(self, word: str) -> bool:
        return bool(self._loaded().vosk_model_find_word(word) >= 0)

    def begin(self, grammar: Sequence[str] | None) -> None:
        model = self._loaded()
        rec = (self._vosk.KaldiRecognizer(model, RATE, json.dumps(list(grammar), ensure_ascii=False)) if grammar
               else self._vosk.KaldiRecognizer(model, RATE))
        rec.SetWords(True)
        if self.alternatives > 1:
            rec.SetMaxAlternatives(self.alternatives)
        self._rec = rec

    def accept(self, pcm: bytes) -> str:
        self._rec.AcceptWaveform(pcm)
        return str(json.loads(self._rec.PartialResult()).get("partial", ""))

    def end(self, pcm: bytes = b"") -> Heard:
        if pcm:
            self._rec.AcceptWaveform(pcm)
        result = json.loads(self._rec.FinalResult())
        self._rec = None
        alternatives = result.get("alternatives")
        if alternatives:
            scores = [float(a.get("confidence", 0.0)) for a in alternatives]
            top = max(scores)
            confidence = 1.0 / sum(math.exp(s - top) for s in scores)
            text = _known(alternatives[0].get("text", ""))
            readings = dict.fromkeys(_known(a.get("text", "")) for a in alternatives[1:4])
            rivals = tuple(r for r in readings if r and r != text)
        else:
            text = _known(result.get("text", ""))
            confidence = min((float(w.get("conf", 0.0)) for w in result.get("result", [])), default=0.0)
            rivals = ()
        return Heard(text, confidence, rivals)

    def _loaded(self) -> Any:
        if self._model is None:
            raise DeviceUnavailable(f"{self.where} is not loaded")
        return self._model


def _known(text: str) -> str:
    """A reading without its "[unk]" words."""
    return " ".join(t for t in text.split() if t != UNK)
