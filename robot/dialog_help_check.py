"""What a staff edit does to help, checked by `carebot dialogs check` beyond the pack's form.

A pack can be well formed and still stop the robot hearing a call: a call word written, word for
word, as another intent's example ("nurse" among the name question's examples) is taken as that
intent, and a synonym or negation added to the understanding section can turn a help phrase into
something else. Every call word alone, alarm, distress phrase and help keyword and example must
still read as a call for help, judged by the robot's own dialog engine; each one that does not is a
problem naming the line that broke it where one can be found. So is a turn word that is one of the
pack's own no words: it would take back the no that answers "Shall I call a nurse?", and a word for the staff
(help.whom) that carries nothing or names the speaker: "I need it" would call them. The robot runs
the same check at start (`load_checked_pack`), so a pack the check refuses is never spoken with: the
robot does not start, as with any other bad pack, and says which file, line and key broke which call.
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
    return problems + _synonym_problems(file, pack, engine) + _turn_problems(file, pack, engine) + _whom_problems(
        file, pack, engine)


def _synonym_problems(file: Path, pack: Pack, engine: DialogEngine) -> list[Problem]:
    """Each variant of a word that calls for help alone must call for help too. Read once, a variant stops
    at its word: "prima: [gestürzt]" added above "gestürzt: [hingefallen, ...]" makes 'gestürzt' read as
    'prima' (and every distress phrase with it), while 'hingefallen' still reads as 'gestürzt', which no
    phrase holds any more; both lists pass on their own."""
    problems, index, calls = [], dict[str, int](), dict[str, bool]()
    for variant, canonical in pack.lexicon.synonyms:
        i = index[canonical] = index.get(canonical, -1) + 1
        if canonical not in calls:  # once per word: the robot runs this check at every start
            word = engine.help(canonical)
            calls[canonical] = word is not None and word.sure
        said = engine.help(variant) if calls[canonical] else None
        if not calls[canonical] or (said is not None and said.sure):
            continue
        key = f"understanding.synonyms.{canonical}.{i}"
        message = (f"{variant!r}, written as a variant of the call for help {canonical!r}, no longer reads as a call "
                   "for help (another synonym has changed one of the two): staff would not be called")
        problems.append(Problem(str(file), key, message, variant, line_of(file, key)))
    return problems


def _turn_problems(file: Path, pack: Pack, engine: DialogEngine) -> list[Problem]:
    """A turn word takes back a no just said (robot.help_answer); one that is itself a no ("turns: [no]") takes
    its own no back: a plain "no" to "Shall I call a nurse?" read as unclear, and staff called against it. Read as
    the robot reads both: a turn made only of the pack's one-word nos, or worded as one of its no keywords. So does
    a turn that is all a thanks or fine keyword, alone or after a no word ("괜찮아요", "아니 괜찮아": each took back
    every "아니요 괜찮아요", staff called against a polite no), or a yes word ("na gut" reads as "ja": every "ja"
    was a turn)."""
    nos = {engine.reader.read(k).words for k in pack.intents["no"].keywords}
    yeses = {engine.reader.read(k).words for k in pack.intents["yes"].keywords}
    polite = [*(engine.intents["thanks"].keywords if "thanks" in engine.intents else ()),
              *(engine.choices["fine"].keywords if "fine" in engine.choices else ())]
    problems = []
    for i, phrase in enumerate(pack.lexicon.turns):
        r, key = engine.reader.read(phrase), f"understanding.help.turns.{i}"
        words = r.words
        if words and (words in nos or all(w in engine.no_words for w in words)):
            message = ("is a no word (intents.no.keywords): a turn word takes a no back, so a plain no would be taken "
                       "back and staff called")
            problems.append(Problem(str(file), key, message, phrase, line_of(file, key)))
        elif words and (words in yeses or all((w,) in yeses for w in words)):  # "na gut" reads as "ja"
            message = ("reads as a yes word (intents.yes.keywords): every yes would be read as a turn word, and a "
                       "reminder's yes just after a no to the help question as a call")
            problems.append(Problem(str(file), key, message, phrase, line_of(file, key)))
        elif words and any(engine.reader.find(k, rest, stems=True) == (0, len(rest.words)) for k in polite for rest in (
                r, engine.reader.read(" ".join(w for w in words if w not in engine.no_words)))):  # "아니 괜찮아"
            message = ("thanks or says fine (intents.thanks, wellbeing.fine): a turn word takes a no back, so a polite "
                       "no would be taken back and staff called")
            problems.append(Problem(str(file), key, message, phrase, line_of(file, key)))
    return problems


def _whom_problems(file: Path, pack: Pack, engine: DialogEngine) -> list[Problem]:
    """A word for the staff (help.whom) after a request said soon after a no to the help question is the nurse after
    all (robot.help_answer.asks_for_them). One that carries nothing (a filler that is no call word: "I need it", the
    glasses, called staff) or names the speaker ("call me", "holen Sie mich") calls for no one; one that is a no or
    a negation, a turn word, or reads as a yes or thanks keyword is no word for anyone. A word that brings her to the
    speaker after her (help.hither: "for me") may not be the speaker alone, a no or a negation."""
    h, reader = engine.helper, engine.reader
    keywords = [*engine.intents["yes"].keywords, *(engine.intents["thanks"].keywords if "thanks" in engine.intents
                                                 else ())]
    turns = {reader.read(t).words for t in pack.lexicon.turns}
    problems = []
    for i, phrase in enumerate(pack.lexicon.whom):
        r, key = reader.read(phrase), f"understanding.help.whom.{i}"
        words = r.words
        if not words:
            continue
        if any(w in reader.speaker or w in engine.no_words or w in h.before for w in words):
            message = "names the speaker or says no: a word for the staff after a request must name someone else"
        elif all(w in reader.filler_words and w not in h.call_words for w in words):
            message = ("is a filler (understanding.fillers), which carries nothing: after a no, \"I need it\" would "
                       "call staff")
        elif words in turns or any(reader.find(k, r, stems=True) == (0, len(words)) for k in keywords):
            message = "is a turn word, a yes or a thanks keyword: no word for the staff"
        else:
            continue
        problems.append(Problem(str(file), key, message, phrase, line_of(file, key)))
    for i, phrase in enumerate(pack.lexicon.hither):  # "me" alone would make "do you need me" a call for her
        words, key = reader.read(phrase).words, f"understanding.help.hither.{i}"
        if words and (all(w in reader.speaker for w in words) or any(w in engine.no_words or w in h.before
                                                                    for w in words)):
            message = "is the speaker alone, a no or a negation: no word that brings her to the speaker"
            problems.append(Problem(str(file), key, message, phrase, line_of(file, key)))
    return problems


def load_checked_pack(path: Path) -> Pack:
    """The pack at `path` (a folder or a pack file) once both checks pass: its form (`load_pack`) and its
    help; raises DialogError with every problem otherwise (the robot's start refuses it whole)."""
    pack = load_pack(path)
    problems = help_problems(pack.source, pack)
    if problems:
        raise DialogError(problems)
    return pack
