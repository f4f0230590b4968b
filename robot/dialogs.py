"""Dialog packs: what the robot says and understands, as YAML that care staff can edit.

A pack is checked completely before it is used: every problem is reported with its
file, line and key, and a pack with any problem is refused whole, never half-loaded.
`carebot dialogs check [PATH]` prints the same report.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot.dialog_lexicon import Lexicon, check_understanding, normalise
from robot.errors import CareBotError, Problem, read_input
from robot.spoken_time import NO_CLOCK, ClockWords, check_clock

__all__ = ["DialogError", "Lexicon", "Pack", "check_pack", "find_packs", "load_pack", "normalise"]

# What the code relies on: every pack must have these.
INTENTS = ("help", "yes", "no", "privacy_on", "wake", "repeat", "slower", "louder", "time", "date",
           "activities", "name", "disclosure", "joke", "reminisce", "quiz", "goodbye", "stop", "thanks")
RESPONSES = ("greeting", "disclosure", "goodbye", "help_called", "help_coming", "help_still_coming",
             "help_checking", "help_not_reached", "help_reached", "reminder", "reminder_again", "reminder_thanks",
             "reminder_declined", "reminder_unclear", "privacy_on",
             "privacy_off", "fallback", "clarify", "time", "date", "activities", "no_activities", "name", "joke",
             "reminisce", "quiz_right", "quiz_wrong", "wellbeing_ask", "wellbeing_fine", "wellbeing_concern",
             "wellbeing_tired", "wellbeing_unclear", "slower_ok", "louder_ok", "stop_ok", "thanks_reply",
             "help_confirm", "help_cancelled", "help_other", "privacy_listening", "privacy_mic_off")
# Responses added after packs were first written, each with the one a pack without it says instead: a home's own
# pack from an earlier release stays valid (the robot refuses to start on an invalid pack).
# (A pack without help_checking tells the resident to use the call button while it checks: safe, if sooner.)
FALLBACK = {"help_other": "help_cancelled", "help_checking": "help_not_reached"}
WELLBEING = ("fine", "tired", "in_pain", "lonely", "unwell")
KINDS = ("medication", "drink", "meal", "appointment", "activity")
PLACEHOLDERS = {"kind", "time", "date", "activities", "answer", "name"}
TOP_KEYS = {"language", "voice", "robot_name", "wake_phrase", "kinds", "understanding", "intents", "flows",
            "responses", "clock"}


ANSWERING = ("yes", "no", "repeat")  # the intents that answer a reminder


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.2 booleans: only true and false. A reply of `yes` or `no` stays a word. libyaml's parser
    when PyYAML has it: every robot start reads three packs, and the pure-Python one took 0.3-0.6 s each."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  [_first])


class DialogError(CareBotError):
    """A dialog pack has problems; all of them are in `problems`."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class IntentSpec:
    """How residents say one thing."""

    name: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    critical: bool = False
    paraphrases: tuple[str, ...] = ()  # more wordings the matcher learns from; not in the recogniser grammar
    # yes, no and repeat only: keywords that settle it only as the answer to a reminder ("which tablets?" asks
    # for the reminder again there, and nowhere else)
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    """One answer of a multi-turn question."""

    name: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    reply: str
    next: str = "end"
    paraphrases: tuple[str, ...] = ()  # as for intents


@dataclass(frozen=True)
class Pack:
    """A checked dialog pack for one language."""

    language: str
    voice: str
    robot_name: str
    wake_phrase: str
    kinds: dict[str, str]
    intents: dict[str, IntentSpec]
    responses: dict[str, tuple[str, ...]]
    wellbeing: dict[str, Choice]
    concerning: tuple[str, ...]
    quiz: tuple[tuple[str, tuple[str, ...]], ...]
    clock: ClockWords  # how {date}, {time} and the times in {activities} are said (robot.spoken_time)
    lexicon: Lexicon = field(default_factory=Lexicon)
    source: Path = field(default=Path("."))


def load_pack(path: Path) -> Pack:
    """Load and check dialogs/<lang>/pack.yaml (or a pack file); raise DialogError on any problem."""
    pack, problems = check_pack(path)
    if problems or pack is None:
        raise DialogError(problems)
    return pack


def check_pack(path: Path) -> tuple[Pack | None, list[Problem]]:
    """The pack and every problem in it (the pack is None when there are any)."""
    file = path / "pack.yaml" if path.is_dir() else path
    name = str(file)
    text, problems = read_input(file, "pack")
    if text is None:
        return None, problems
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        return None, [Problem(name, "", f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line, show_value=False)]
    checker = _Checker(name)
    if not isinstance(root, yaml.MappingNode):
        return None, [Problem(name, "", "a pack is a mapping of language, intents, responses, flows...",
                              show_value=False)]
    checker.duplicates(root, "")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except ValueError:  # an unquoted number past int()'s 4300 digits: YAML reads it, Python refuses it
        line = next((n.start_mark.line + 1 for n in _scalars(root) if n.tag.endswith(":int") and len(n.value) > 4000),
                    None)
        return None, [Problem(name, "", "a number too long to read (write a number of a few digits)", line=line,
                              show_value=False)]
    pack = checker.pack(data, root)
    problems = checker.problems
    return (None if problems else pack), problems


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    """Every scalar in a composed YAML tree, in the file's order."""
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _scalars(k)
            yield from _scalars(v)


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None

    def add(self, path: str, message: str, value: Any = None, show: bool = True) -> None:
        self.problems.append(Problem(self.file, path, message, value, self.line(path), show_value=show))

    def line(self, path: str) -> int | None:
        node = self.root
        if node is None or not path:
            return None
        line = None
        for part in path.split("."):
            if isinstance(node, yaml.MappingNode):
                hit = next(((k, v) for k, v in node.value if k.value == part), None)
                if hit is None:
                    return line
                line, node = hit[0].start_mark.line + 1, hit[1]
            elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
                node = node.value[int(part)]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def duplicates(self, node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                k = str(key.value)
                here = f"{path}.{k}" if path else k
                if k in seen:
                    self.problems.append(Problem(self.file, here, f"defined twice (first on line {seen[k]})",
                                                 line=key.start_mark.line + 1, show_value=False))
                else:
                    seen[k] = key.start_mark.line + 1
                self.duplicates(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.duplicates(item, f"{path}.{i}")

    def strings(self, value: Any, path: str, required: bool = True) -> tuple[str, ...]:
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
            self.add(path, "must be a non-empty list of phrases", value)
            return ()
        return tuple(str(v).strip() for v in value)

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.add(path, "must be a non-empty string", value)
            return ""
        return value.strip()

    def keys(self, value: dict[str, Any], path: str, allowed: set[str]) -> None:
        for k in value:
            if k not in allowed:
                self.add(f"{path}.{k}" if path else str(k), f"unknown key; allowed: {', '.join(sorted(allowed))}",
                         show=False)

    def pack(self, data: Any, root: yaml.Node) -> Pack | None:
        self.root = root
        if not isinstance(data, dict):
            self.add("", "a pack is a mapping", show=False)
            return None
        self.keys(data, "", TOP_KEYS)
        for k in ("language", "voice", "wake_phrase", "understanding", "intents", "responses", "flows", "kinds",
                  "clock"):
            if k not in data:
                self.add(k, "required key is missing", show=False)
        language = self.text(data.get("language", "x"), "language")
        voice = self.text(data.get("voice", "x"), "voice")
        wake = self.text(data.get("wake_phrase", "x"), "wake_phrase")
        robot_name = str(data.get("robot_name", "")).strip()
        kinds = self.kinds(data.get("kinds", {}))
        lexicon = check_understanding(self, data["understanding"]) if "understanding" in data else Lexicon()
        intents = self.intents(data.get("intents", {}))
        responses = self.responses(data.get("responses", {}))
        wellbeing, concerning, quiz = self.flows(data.get("flows", {}), responses)
        clock = check_clock(self, data["clock"]) if "clock" in data else NO_CLOCK
        return Pack(language, voice, robot_name, wake.lower(), kinds, intents, responses, wellbeing, concerning,
                    quiz, clock, lexicon, Path(self.file))

    def kinds(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            self.add("kinds", "must map each reminder kind to its words", value)
            return {}
        self.keys(value, "kinds", set(KINDS))
        for k in KINDS:
            if k not in value:
                self.add(f"kinds.{k}", "missing: the robot needs words for this reminder kind", show=False)
        return {k: self.text(v, f"kinds.{k}") for k, v in value.items() if k in KINDS}

    def intents(self, value: Any) -> dict[str, IntentSpec]:
        if not isinstance(value, dict):
            self.add("intents", "must map intent names to keywords and examples", value)
            return {}
        out = {}
        for name, spec in value.items():
            path = f"intents.{name}"
            if name not in INTENTS:
                self.add(path, f"unknown intent; the engine knows: {', '.join(INTENTS)}", show=False)
                continue
            if not isinstance(spec, dict):
                self.add(path, "must be a mapping with keywords and examples", spec)
                continue
            self.keys(spec, path, {"keywords", "examples", "paraphrases", "critical", "answers"})
            critical = spec.get("critical", False)
            if not isinstance(critical, bool):
                self.add(f"{path}.critical", "must be true or false", critical)
            if "answers" in spec and name not in ANSWERING:
                self.add(f"{path}.answers", "only yes, no and repeat have answers (to a reminder)", show=False)
            out[name] = IntentSpec(name, self.strings(spec.get("keywords"), f"{path}.keywords"),
                                   self.strings(spec.get("examples"), f"{path}.examples"), critical is True,
                                   self.strings(spec.get("paraphrases"), f"{path}.paraphrases", required=False),
                                   self.strings(spec.get("answers"), f"{path}.answers", required=False))
        for name in INTENTS:
            if name not in value:
                self.add(f"intents.{name}", "missing: every pack covers every intent", show=False)
        return out

    def responses(self, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, dict):
            self.add("responses", "must map response names to lists of sentences", value)
            return {}
        out = {}
        for key, variants in value.items():
            path = f"responses.{key}"
            if key not in RESPONSES:
                self.add(path, "unknown response; the robot never says it", show=False)
            texts = self.strings(variants, path)
            for i, t in enumerate(texts):
                fields = {f for _, f, _, _ in string.Formatter().parse(t) if f}
                bad = fields - PLACEHOLDERS
                if bad:
                    self.add(f"{path}.{i}", f"unknown placeholder {{{sorted(bad)[0]}}}; allowed: "
                             f"{', '.join(sorted(PLACEHOLDERS))}", t)
            out[key] = texts
        for key in RESPONSES:
            if key not in value and key not in FALLBACK:
                self.add(f"responses.{key}", "missing: the robot needs something to say here", show=False)
        return {**{key: out[instead] for key, instead in FALLBACK.items() if instead in out}, **out}

    def flows(self, value: Any, responses: dict[str, tuple[str, ...]]
              ) -> tuple[dict[str, Choice], tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
        if not isinstance(value, dict):
            self.add("flows", "must hold the wellbeing and quiz flows", value)
            return {}, (), ()
        self.keys(value, "flows", {"wellbeing", "quiz"})
        flows = set(value) | {"end"}
        wb = value.get("wellbeing")
        choices: dict[str, Choice] = {}
        concerning: tuple[str, ...] = ()
        if not isinstance(wb, dict):
            self.add("flows.wellbeing", "required: ask, unclear, choices, concerning", wb)
        else:
            self.keys(wb, "flows.wellbeing", {"ask", "unclear", "choices", "concerning"})
            for k in ("ask", "unclear"):
                self.reference(wb.get(k), f"flows.wellbeing.{k}", responses)
            raw: dict[str, Any] = wb["choices"] if isinstance(wb.get("choices"), dict) else {}
            if not raw:
                self.add("flows.wellbeing.choices", "must map each feeling to keywords and examples", show=False)
            for name, spec in raw.items():
                path = f"flows.wellbeing.choices.{name}"
                if name not in WELLBEING:
                    self.add(path, f"unknown category; allowed: {', '.join(WELLBEING)}", show=False)
                    continue
                if not isinstance(spec, dict):
                    self.add(path, "must be a mapping", spec)
                    continue
                self.keys(spec, path, {"keywords", "examples", "paraphrases", "reply", "next"})
                nxt = spec.get("next", "end")
                if nxt not in flows:
                    self.add(f"{path}.next", f"points to a flow that does not exist; known: {', '.join(sorted(flows))}",
                             nxt)
                self.reference(spec.get("reply"), f"{path}.reply", responses)
                choices[name] = Choice(name, self.strings(spec.get("keywords"), f"{path}.keywords"),
                                       self.strings(spec.get("examples"), f"{path}.examples"),
                                       str(spec.get("reply", "")), str(nxt),
                                       self.strings(spec.get("paraphrases"), f"{path}.paraphrases", required=False))
            for name in WELLBEING:
                if name not in raw:
                    self.add(f"flows.wellbeing.choices.{name}", "missing category", show=False)
            conc = wb.get("concerning", [])
            concerning = self.strings(conc, "flows.wellbeing.concerning")
            for c in concerning:
                if c not in WELLBEING:
                    self.add("flows.wellbeing.concerning", f"'{c}' is not a wellbeing category", c)
        quiz = value.get("quiz")
        questions: list[tuple[str, tuple[str, ...]]] = []
        if not isinstance(quiz, dict) or not isinstance(quiz.get("questions"), list) or not quiz["questions"]:
            self.add("flows.quiz", "needs right, wrong and a list of questions", show=False)
        else:
            self.keys(quiz, "flows.quiz", {"right", "wrong", "questions"})
            for k in ("right", "wrong"):
                self.reference(quiz.get(k), f"flows.quiz.{k}", responses)
            for i, q in enumerate(quiz["questions"]):
                path = f"flows.quiz.questions.{i}"
                if not isinstance(q, dict):
                    self.add(path, "must have ask and answers", q)
                    continue
                self.keys(q, path, {"ask", "answers"})
                questions.append((self.text(q.get("ask"), f"{path}.ask"), self.strings(q.get("answers"),
                                                                                      f"{path}.answers")))
        return choices, concerning, tuple(questions)

    def reference(self, value: Any, path: str, responses: dict[str, tuple[str, ...]]) -> None:
        if not isinstance(value, str) or value not in responses:
            self.add(path, "must name a response defined under responses", value)


def find_packs(path: Path) -> list[Path]:
    """A pack file, a language folder, or a folder of language folders."""
    if path.is_file():
        return [path]
    if (path / "pack.yaml").is_file():
        return [path / "pack.yaml"]
    return sorted(p for p in path.glob("*/pack.yaml"))


def line_of(file: Path, path: str) -> int | None:
    """The line of a key path ("intents.name.examples.0") in a pack file, for a problem found after loading."""
    checker = _Checker(str(file))
    checker.root = yaml.compose(file.read_text(encoding="utf-8"), Loader=_Loader)
    return checker.line(path)
