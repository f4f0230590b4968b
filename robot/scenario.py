"""Scenarios: a technician's script of timed steps with expected outcomes, as YAML (scenarios/*.yaml).

A scenario names the robot clock's start and speed (robot.clock), whether a real mosquitto and a
staff station take part, whether speech is on, and changes to the simulator's config. Each step
may wait (robot time, or until the clock reads HH:MM), does at most one thing (a person enters,
the resident says or plays something, staff acknowledge, the servo board is unplugged, the
broker stops, the camera is lost, a worker crashes or hangs, the clock is advanced), and then
expects outcomes within `within` real seconds: behaviour states, spoken reply keys, alerts and
their lifecycle at the staff station, faults, servo motion, worker restarts. Negative
expectations (`never`, `not_said`, `no_alerts`, `steady`) are watched for `hold` real seconds.

The schema is strict: an unknown key, a wrong value or a step that does two things is refused
with the file, the step (number and name), the field and, where YAML tells, the line.
robot.scenario_run plays a scenario against the real control process and workers.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from robot.config import CLOCK_EARLIEST, CLOCK_LATEST
from robot.errors import CareBotError

WORKERS = Literal["speech_in", "speech_out", "vision"]
ALERT_TYPES = Literal["help_request", "reminder_unacked", "wellbeing_concern", "robot_fault"]
ACTIONS = ("person", "say", "hear", "play", "staff", "button", "servo", "broker", "camera", "crash", "hang", "clock",
           "speed")
HHMM = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"
CLOCK = r"^(([01]?[0-9]|2[0-3]):[0-5][0-9]|\+[0-9]+(\.[0-9]+)?)$"
Seconds = Annotated[float, Field(ge=0, le=600)]


class ScenarioError(CareBotError):
    """A scenario file that cannot be played: every problem, with file, step, field and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AlertExpect(_Strict):
    """An alert update the staff station must have received during the step."""

    type: ALERT_TYPES
    state: Literal["raised", "escalated", "acknowledged", "resolved", "cancelled"]
    priority: Literal["high", "medium", "low"] | None = None
    level: int | None = Field(None, ge=0, le=10)
    fault: str | None = None
    reminder: str | None = None


class Expect(_Strict):
    """What must happen after a step's action (`within` real seconds) and what must not (`hold`)."""

    state: list[str] = Field([], description="A state entered during the step (any of these), or the state now.")
    never: list[str] = Field([], description="States not entered during the step.")
    said: list[str] = Field([], description="Reply keys spoken during the step (all of them).")
    not_said: list[str] = Field([], description="Reply keys not spoken during the step.")
    alerts: list[AlertExpect] = Field([], description="Alert updates received at the staff station.")
    no_alerts: bool = Field(False, description="No alert update reaches the staff station (watched for `hold`).")
    faults: list[str] = Field([], description="Faults the robot has now.")
    no_faults: bool = Field(False, description="The robot has no fault now.")
    engagement: str | None = Field(None, description="Vision's engagement state now, e.g. ENGAGED.")
    faces: int | None = Field(None, ge=1, le=10, description="Vision saw at least this many faces at once.")
    moved: list[str] = Field([], description="Servo channels (by name) that moved during the step.")
    steady: dict[str, Annotated[float, Field(gt=0)]] = Field(
        {}, description="Servo channel -> most microseconds it may move from where it was (watched for `hold`).")
    restarted: list[WORKERS] = Field([], description="Workers restarted during the step.")
    within: Seconds = Field(10.0, description="Real seconds to wait for the expected outcomes.")
    hold: Seconds = Field(0.0, description="Real seconds to watch `never`, `not_said`, `no_alerts` and `steady`.")

    _lists = field_validator("state", "never", "said", "not_said", "faults", "moved", "restarted",
                             mode="before")(_listed)


class Step(_Strict):
    """One timed step: a wait, at most one action, and its expectations."""

    name: str | None = Field(None, max_length=80)
    at: str | None = Field(None, pattern=HHMM, description="Wait until the robot clock reads HH:MM.")
    wait: Seconds | None = Field(None, description="Wait this many seconds of robot time first.")
    person: Literal["enter", "face", "turn_away", "leave"] | None = None
    who: str = Field("resident", pattern=r"^[a-z0-9_-]{1,32}$", description="Which person (with `person`).")
    x: float = Field(0.5, ge=0.05, le=0.95, description="Where they stand across the picture (with `enter`).")
    say: str | None = Field(None, min_length=1, max_length=200, description="The resident's words, typed.")
    hear: str | None = Field(None, min_length=1, max_length=200, description=(
        "The resident's words to the microphone, through speech in to the text-fed recogniser (speech: twins)."))
    play: str | None = Field(None, description="A phrase (help, yes, no) or a 16 kHz WAV, through speech in.")
    staff: Literal["ack", "resolve", "pause", "resume"] | None = None
    alert: ALERT_TYPES = Field("help_request", description="Which open alert staff ack or resolve.")
    button: Literal["press"] | None = None
    servo: Literal["unplug", "replug", "silent", "answer"] | None = None
    broker: Literal["stop", "start"] | None = None
    camera: Literal["lost", "back"] | None = None
    crash: WORKERS | None = None
    hang: Literal["speech_out"] | None = None
    clock: str | None = Field(None, pattern=CLOCK, description="Advance the clock to HH:MM, or by +MINUTES.")
    speed: float | None = Field(None, gt=0, le=3600, description="Run the clock at this speed from now.")
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        done = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(done) > 1:
            raise ValueError(f"a step does one thing; this one does {', '.join(done)}: split it")
        if self.person is None and self.model_fields_set & {"who", "x"}:
            raise ValueError("`who` and `x` go with `person`")
        if "alert" in self.model_fields_set and self.staff not in ("ack", "resolve"):
            raise ValueError("`alert` goes with `staff: ack` or `staff: resolve`")
        return self

    @property
    def action(self) -> str | None:
        """The step's one action, if any."""
        return next((a for a in ACTIONS if getattr(self, a) is not None), None)


class Scenario(_Strict):
    """A whole scenario file."""

    name: str = Field(max_length=80)
    description: str = ""
    start: dt.datetime = Field(ge=CLOCK_EARLIEST, le=CLOCK_LATEST,
                               description="The robot clock's local date and time at the start.")
    speed: float = Field(60.0, gt=0, le=3600, description="Robot seconds per real second while it plays.")
    then_speed: float = Field(1.0, gt=0, le=3600, description="The clock's speed once played (robot left running).")
    broker: bool = Field(False, description="A real mosquitto and a staff station take part.")
    speech: Literal["ko", "twins"] | None = Field(None, description=(
        "Speech on: 'ko' with the Korean model and espeak-ng (`play` steps), 'twins' with the speech twins in the "
        "config's language (`hear` steps: no model, espeak-ng or sound card needed)."))
    config: dict[str, Any] = Field({}, description="Sections merged over the simulator's config.")
    files: list[str] = Field([], description="Files (globs in the state directory) the robot may write besides "
                                             "its own.")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _needs(self) -> Scenario:
        problems = []
        on_stage: set[str] = set()
        for n, step in enumerate(self.steps, 1):
            where = f"step {n}" + (f" ({step.name!r})" if step.name else "")
            if (step.staff or step.broker or step.expect.alerts) and not self.broker:
                problems.append(f"{where}: staff, broker and alerts need `broker: true` (a real mosquitto)")
            if (step.play or step.hang or (step.crash or "").startswith("speech")) and not self.speech:
                problems.append(f"{where}: {step.action} needs speech (`speech: ko`)")
            elif step.play and self.speech == "twins":
                problems.append(f"{where}: the speech twins hear typed words, not audio: use `hear`, or `speech: ko`")
            if step.hear and self.speech != "twins":
                problems.append(f"{where}: hear needs the speech twins (`speech: twins`); with `speech: ko` use "
                                "`play`, or `say` to skip recognition")
            if step.person == "enter":
                on_stage.add(step.who)
            elif step.person is not None and step.who not in on_stage:
                problems.append(f"{where}: {step.who} must enter before they can {step.person}")
            if step.person == "leave":
                on_stage.discard(step.who)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load(path: Path) -> Scenario:
    """Read and check a scenario file; ScenarioError lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ScenarioError([f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: a scenario is a mapping with name, start and steps"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([_problem(path, root, data, e) for e in exc.errors()]) from None


def _problem(path: Path, root: yaml.Node | None, data: dict[str, Any], error: Any) -> str:
    """One validation error as `file:line: steps[3] "name" .expect.state: message (value)`."""
    loc = list(error["loc"])
    where, field = "", ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps") or []
        step = steps[loc[1]] if loc[1] < len(steps) else {}
        name = step.get("name") if isinstance(step, dict) else None
        where = f"step {loc[1] + 1}" + (f" ({name!r})" if name else "")
        field = ".".join(str(p) for p in loc[2:]) or "(the step)"
    line = _line(root, loc)
    message = re.sub(r"^Value error, ", "", str(error["msg"]))
    value = f" (got {_short(error['input'])})" if error["type"] not in ("missing", "value_error") else ""
    field = f"{field}: " if field else ""
    return f"{path}{f':{line}' if line else ''}: {where + ': ' if where else ''}{field}{message}{value}"


def _short(value: Any) -> str:
    """A value, written out briefly: a YAML alias bomb expands to millions of items in full."""
    brief = reprlib.Repr()
    brief.maxlevel, brief.maxlist, brief.maxdict, brief.maxstring, brief.maxother = 2, 4, 4, 60, 60
    text = brief.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _line(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The line of the deepest YAML node along `loc` (1-based)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if k.value == part), None)
            if hit is None:
                return line
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
