"""CareBot's exception hierarchy.

    CareBotError
     ├── ConfigError        a config file is wrong; carries every problem found
     ├── SecretError        a secret file named by the config is missing or unreadable
     ├── WorkerError        a worker process could not be started or talked to

    HardwareError           (hardware.errors, the layer below) a device failed or spoke nonsense

`EXPECTED` is every error the CLI reports as a plain message instead of a traceback.

Every error raised at an edge (config, user input, incoming messages) says what was
wrong, where, and how to fix it. None of them ever reaches a resident as speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardware.errors import HardwareError


class CareBotError(Exception):
    """Base class for every error CareBot raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where, what value, and what is allowed."""

    file: str
    path: str
    message: str
    value: object = None
    line: int | None = None
    show_value: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}" if self.path else ""
        value = f" = {self.value!r}" if self.show_value else ""
        return f"{where}:{key}{value}: {self.message}"


def read_input(path: Path, what: str) -> tuple[str | None, list[Problem]]:
    """The text of an input file, or the problem that stopped it being read."""
    try:
        return path.read_text(encoding="utf-8"), []
    except OSError as exc:
        return None, [Problem(str(path), "", f"cannot read the {what}: {exc.strerror}", show_value=False)]


class ConfigError(CareBotError):
    """A config file has one or more problems; all of them are in `problems`."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SecretError(CareBotError):
    """A secret file named in the config cannot be read."""


class WorkerError(CareBotError):
    """A worker process could not be started, or sent something it should not."""


EXPECTED: tuple[type[Exception], ...] = (CareBotError, HardwareError)
