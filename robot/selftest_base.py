"""What the self-test checks share: their outcome, the three ways a check ends early, and the context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robot.config import Config


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


class Skip(Exception):
    """This check does not apply to the config (e.g. speech is off)."""


class Warn(Exception):
    """It works, but not as it should on a robot."""


class Fail(Exception):
    """It does not work; the message says why and what to do."""


@dataclass
class Context:
    """What the checks share: the config file, its parsed form, and the options."""

    path: Path
    config: Config | None
    simulate: bool
    audible: bool
    seconds: float


def config_of(ctx: Context) -> Config:
    """The loaded config, or Skip when it did not load (the config check says why)."""
    if ctx.config is None:
        raise Skip("the config did not load")
    return ctx.config
