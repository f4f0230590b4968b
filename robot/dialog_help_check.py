"""What a staff edit does to help, checked by `carebot dialogs check` beyond the pack's form.

A pack can be well formed and still stop the robot hearing a call: a call word written, word for
word, as another intent's example ("nurse" among the name question's examples) is taken as that
intent, and a synonym or negation added to the understanding section can turn a help phrase into
something else. Every call word alone, alarm, distress phrase and help keyword and example must
still read as a call for help, judged by the robot's own dialog engine; each one that does not is a
problem naming the line that broke it where one can be found. The robot runs the same check at
start (`load_checked_pack`), so a pack the check refuses is never spoken with: the robot does not
start, as with any other bad pack, and says which file, line and key broke which call.
"""

from __future__ import annotations

from pathlib import Path

from robot.dialog_engine import DialogEngine
from robot.dialogs import DialogError, Pack, line_of, load_pack
from robot.errors import Problem


def help_problems(file: Path, pack: Pack) -> list[Problem]:
    """Every help phrase of the pack that its own dialog engine no longer reads as a call for help."""
    engine = DialogEngine(pack, others=())  # this pack alone: the neighbours' help must not hide a break
    lx, spec = pack.lexicon, pack.intents["help"]
    where = {engine.reader.read(x).stem_text: (f"intents.{name}.{kind}.{i}", x)
             for name, s in pack.intents.items() if name != "help"
             for kind in ("keywords", "examples") for i, x in enumerate(getattr(s, kind))}
    problems = []
    for path, phrases in (("understanding.help.calls", lx.calls), ("understanding.help.alarms", lx.alarms),
                          ("understanding.help.distress", lx.distress), ("intents.help.keywords", spec.keywords),
                          ("intents.help.examples", spec.examples)):
        for i, phrase in enumerate(phrases):
            verdict = engine.help(phrase)
            if verdict is not None and verdict.sure:
                continue
            culprit = where.get(engine.reader.read(phrase).stem_text)
            if culprit is not None:
                key, value = culprit
                message = f"is the call for help {phrase!r} ({path}.{i}) word for word: staff would not be called"
            else:
                key, value = f"{path}.{i}", phrase
                message = "no longer reads as a call for help (a synonym, negation or filler has changed it)"
            problems.append(Problem(str(file), key, message, value, line_of(file, key)))
    return problems


def load_checked_pack(path: Path) -> Pack:
    """The pack at `path` (a folder or a pack file) once both checks pass: its form (`load_pack`) and its
    help; raises DialogError with every problem otherwise (the robot's start refuses it whole)."""
    pack = load_pack(path)
    problems = help_problems(pack.source, pack)
    if problems:
        raise DialogError(problems)
    return pack
