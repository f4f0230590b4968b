"""Answers to "Shall I call a nurse?" that hold a no and something more.

A no, then a clause that asks for staff or cries for help ("not now but later call the nurse", "nein, doch, holen
Sie die Schwester", "아니 괜찮아 아니 아니 간호사 불러 줘"), is a resident changing their mind in one breath: the
request wins. Staff are called at once when the request is sure, at medium priority when it doubts itself ("later
call the nurse"): a needless visit costs minutes, a call cancelled by the first word of an answer may cost a life.
Asking again was the other choice; it was not taken, since the resident has already asked for someone, and the
question asked again may meet the same "no" first.

A no taken back in the same breath by a turn word ("nein... doch", "no, wait, actually do call her", "아니요 아니다
불러 주세요") is a yes when a yes or a short request follows the turn, and unclear (staff called at medium priority)
when nothing does: "nein... doch" may be either, and must not end in silence. A polite no that trails off in a
pause ("no thank you, wait", "nein danke, moment") is a no: the resident has answered in full, thanked, and
hesitates; a turn that reconsiders ("no thank you, on second thoughts", "nein danke, doch") still takes it back.

A no that points at the help offered ("no, not that help", "nein, nicht diese Hilfe", "그런 도움 말고요") declines the
nurse and wishes something else: the call is cancelled and the robot asks what else it can do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from robot.addressing import DETERMINERS
from robot.dialog_lexicon import normalise
from robot.reading import PARTICLES

if TYPE_CHECKING:
    from robot.dialog_engine import DialogEngine
    from robot.dialog_lexicon import Lexicon
    from robot.reading import Reading

# The words after a cut that are read as its clause: a resident's longest utterance (hardware.recogniser_text's
# MAX_WORDS). Each cut reads its rest again, so an answer of n words costs n cuts times this, not n squared: a
# paste of thousands of words through some other route took seconds of the dialog thread.
CLAUSE_MAX = 40
# words of a request after a turn word that still take the no back: "actually do go and call her"; at five, "no, on
# second thoughts I would like her to come" (six) cancelled the call (the own-wish rule keeps "my tea" a no)
TURN_REQUEST = 7
# A request said soon after a no with no turn word first, of at most this many words (its turn words aside), whose
# object comes at once and is her, the staff or someone ("I need her", "ich brauche sie doch"): the nurse after all.
# At four, "I'd like her to come" and "could you get her please" were missed
SHORT_ASK = 7  # at six, "I'd like you to call her" (seven) was missed
# Grammar, not a pack's vocabulary (as robot.addressing's DETERMINERS): in that short ask, the speaker among others
# ("WE need her") is no one else wishing, and a word that only stresses the wish ("we DO need her", "REALLY need
# her", "ich brauche sie WIRKLICH") is no more than a request's words; each asked the question again or clarified
US = {"en": frozenset(("we", "us")), "de": frozenset(("wir", "uns"))}
STRESS = {"en": frozenset(("do", "really", "truly", "definitely", "badly", "desperately")),
          "de": frozenset(("wirklich", "dringend", "unbedingt", "echt"))}
POINT_REACH = 3  # words before the help pointed at in which its negation stands: "no, not quite that sort of help"


def asks_after_no(engine: DialogEngine, text: str) -> Literal["help", "unclear"] | None:
    """`help` (or `unclear`, where it doubts itself) when a clause after a no asks for staff; None otherwise.

    A clause starts after each no word ("no wait fetch somebody") and where robot.negation_reach starts one ("... but
    later call the nurse"). A negation against the help words themselves ("no, no need to call the nurse", "don't
    call the nurse, but thanks") is a no, whatever follows."""
    if engine.denies(text):
        return None
    r = engine.reader.read(text)
    cuts = sorted({*r.starts, *(i + 1 for i, w in enumerate(r.words) if w in engine.no_words)} - {0, len(r.words)})
    for cut in cuts:
        rest = " ".join(r.words[cut:cut + CLAUSE_MAX])
        if engine.helper.asks_for_staff(engine.reader.read(rest)):
            later = engine.help(rest)
            return "help" if later is not None and later.sure else "unclear"
    return None


def _pointed(engine: DialogEngine, text: str) -> tuple[list[str], list[int]]:
    """The answer's words, and where each negated mention of the help offered ends ("no, not that help|, ...")."""
    h, reader = engine.helper, engine.reader
    r = reader.read(text)
    asks, ends = h.spans_of(h.asks, r), []
    for lo, hi in h.spans_of(h.pointing, r):
        if any(a_lo < hi < a_hi for a_lo, a_hi in asks):
            continue
        if reader.any_near(h.before, r, lo, hi, POINT_REACH, 0, far=False):
            ends.append(hi)
        elif h.after and reader.any_near(h.after, r, lo, hi, 0, 1):
            ends.append(hi + 1)  # past its negation: "그런 도움 말고|"
    return list(r.words), ends


def asks_after_pointing(engine: DialogEngine, text: str) -> Literal["help", "unclear"] | None:
    """`help` (or `unclear`) when a request or a cry follows the help pointed at: "not that help, get the nurse",
    "nicht diese Hilfe, Schwester", "그런 도움 말고 간호사". The resident declines one kind of help and asks for
    staff: that is no "what else can I do?"."""
    words, ends = _pointed(engine, text)
    for end in ends:
        rest = " ".join(words[end:end + CLAUSE_MAX])
        if rest and not engine.denies(rest) and engine.helper.asks_for_staff(engine.reader.read(rest)):
            later = engine.help(rest)
            return "help" if later is not None and later.sure else "unclear"
    return None


def points_elsewhere(engine: DialogEngine, text: str) -> bool:
    """Whether the answer negates the help offered, pointed at: "no, not that sort of help", "nicht so eine Hilfe",
    "그 도움 말고". Not where the help word starts a request of its own ("not that, help me")."""
    return bool(_pointed(engine, text)[1])


def turns_back(engine: DialogEngine, text: str, said_no: bool = False) -> Literal["yes", "unclear", "paused"] | None:
    """`yes` when a turn word after the no is followed by a yes or a short request for someone (not the speaker's own
    wish: "no, actually I want my tea"), `unclear` when only fillers follow a turn that follows the no at once ("no,
    wait", "nein... ach doch"); None otherwise ("nein, doch nicht", "no, actually I'm fine", "no, I'm fine
    actually", "nein, ich warte", "아니 잠깐 부르지 마세요"); `paused` for a polite no or a no with a clause of its own
    that ends in a pause ("no thank you, wait", "no I'm fine, wait"): a no, whose rest may come as the next
    utterance. The no may be a negation word too: "no need to call her, actually yes". `said_no`: the no was the
    utterance before ("no thanks" ... "actually, call her"), read as if said just before these words."""
    h, reader = engine.helper, engine.reader
    r = reader.read(text)
    spans = h.spans_of(h.turns, r)
    nos = [i for i, w in enumerate(r.words) if w in engine.no_words or w in h.before]
    # "아니다 불러 줘": a Korean turn word may hold its own no ("아니"), said and taken back in one word
    nos += [lo for lo, hi in spans if reader.inside and hi < len(r.words) and r.words[lo].startswith(
        tuple(engine.no_words))]
    if said_no:
        nos.append(0)  # before the first word: a turn there follows the no at once
    if not nos:
        return None
    # the speaker inside a turn ("wenn ICH es mir recht überlege") still says a clause of its own: "nein, ich warte"
    turn_words = {w for t in h.turns for w in t.parts} - reader.speaker
    first_no, pauses, paused = min(nos), set(h.spans_of(h.pauses, r)), False
    for lo, hi in spans:
        rest = r.words[hi:hi + CLAUSE_MAX]
        again = next((i for i, w in enumerate(rest) if w not in engine.no_words), len(rest))
        if hi > first_no and 0 < again < len(rest) and (cry := engine.help(" ".join(rest[again:]))) is not None and (
                cry.sure):
            return "yes"  # "no wait, no, help": a no again after the turn answers too, and negates nothing after it
        if hi <= first_no or any(w in h.before or w in engine.no_words for w in rest) or (
                rest and engine.denies(" ".join(rest))):
            continue
        if all(w in reader.filler_words for w in rest):
            between = r.words[first_no:lo]  # "no, wait" takes the no back; "no I'm fine actually" does not
            if all(w in engine.no_words or w in turn_words or (w in reader.filler_words and w not in reader.speaker)
                   for w in between) and ((lo, hi) not in pauses or not thanks(engine, text)):
                return "unclear"
            paused = paused or (lo, hi) in pauses  # "no thank you, wait", "아니요 괜찮아요 잠깐": more may follow
            continue
        said = reader.read(" ".join(rest))
        fine = {k.parts for k in engine.choices["fine"].keywords} if "fine" in engine.choices else set()
        if any(k.parts not in fine and reader.find(k, said, stems=True) for k in engine.intents["yes"].keywords):
            return "yes"
        if asks_someone(engine, said):
            return "yes"
    return "paused" if paused else None


def answer_phrases(lexicon: Lexicon, context: str) -> list[str]:
    """The words that take a no back ("wait", "ach doch", "다시 생각해 보니") and those for the staff after a
    request ("I need HER", "ich brauche IHN"; in the open dialog also those that bring her here, "get her IN HERE"),
    for the recogniser's grammar where an answer to the help question or its rest is said: the question's context,
    the open dialog after it and a reminder owed during it. A grammar drops every word outside it: "nein... ach
    doch" was heard "nein" and cancelled the call, "I need her" was heard "I need". (The packs' request words were
    tried too: with them the Korean model heard "살려 주세요" as "있어 해요 주 오세요" in the open dialog.)"""
    if context not in ("confirm", "open", "reminder"):
        return []
    hither = lexicon.hither if context == "open" else ()  # said only in the short ask after a no, in the open dialog:
    # in the question's small grammar "to" or "in" beside "no" is one more word a "no" may be misheard as
    return [normalise(p) for p in (*lexicon.turns, *lexicon.whom, *hither)]


def past_turns(engine: DialogEngine, text: str) -> str:
    """The answer's words but its turn words, as read: "아니다 불러 줘" is "불러 줘", and "다시 생각해 보니" ("on
    second thoughts") holds no "다시" (again) once its turn is taken out."""
    r = engine.reader.read(text)
    spans = engine.helper.spans_of(engine.helper.turns, r)
    return " ".join(w for i, w in enumerate(r.words) if not any(lo <= i < hi for lo, hi in spans))


def asks_someone(engine: DialogEngine, said: Reading) -> bool:
    """Whether the words are a short request for someone, not negated and not the speaker's own wish: "do call her",
    "ruf sie doch", "불러 줘" (not "I want my tea", "don't call her"). The speaker's own wish is one for someone
    when another person follows a request at once: "I do need her", "ich brauche sie", "I need you to get her"
    (the pack's `others` or `whom`; not "I want the telly"). A person given a thing is none: a determiner just after
    her ("call her A taxi", "get them THEIR tea"; robot.addressing's grammar words) names what is asked for.
    After a turn word it takes a no back; said just after a polite no that paused ("no thank you, wait" ... "call
    her") it is the rest of that answer."""
    h, words = engine.helper, said.words
    asks = h.spans_of(h.asks, said)
    if not asks or len(words) > TURN_REQUEST:
        return False
    people = h.spans_of(h.others, said) + h.spans_of(h.whom, said)
    things = DETERMINERS.get(engine.pack.language, frozenset())
    if any(o_lo == hi and o_hi < len(words) and words[o_hi] in things for _, hi in asks for o_lo, o_hi in people):
        return False  # "actually call her a taxi"
    lo, hi = min(asks)
    own = any(w in engine.reader.speaker for w in words[:lo]) and not any(  # "I need you to get HER"
        o_lo == a_hi for _, a_hi in asks for o_lo, _ in people)
    return not own and not any(w in h.before or w in engine.no_words for w in said.words) and not engine.denies(
        said.text)


def _wish(engine: DialogEngine, said: Reading, lo: int, hi: int) -> bool:
    """Whether the request word at lo..hi says a wish ("need", "would like", "brauche"; every one without the pack's
    `wishes`), not an act ("call", "hole")."""
    h = engine.helper
    return not h.wishes or any(w_lo < hi and lo < w_hi for w_lo, w_hi in h.spans_of(h.wishes, said))


def _as_requested(engine: DialogEngine, said: Reading, start: int) -> bool:
    """Whether the words from `start` on (after her) are a request's at most: fillers, request words, words for her,
    and words that bring her to the speaker (`hither`: "in here", "for me", "to come"), each phrase said as written
    ("go" alone is no "go and get": "I want her to go"); the speaker only inside those ("do you need me",
    "brauchen Sie mich?" ask for no one)."""
    h, reader = engine.helper, engine.reader
    stress = STRESS.get(engine.pack.language, frozenset())
    near = {i for ph in (*h.hither, *h.asks, *h.whom) for lo, hi in reader.spans(ph, said)
            if lo >= start and hi - lo == len(ph.parts) for i in range(lo, hi)}
    return all(i in near or w in stress or (w in h.fillers and w not in reader.speaker)
               for i, w in enumerate(said.words[start:], start))


def asks_for_them(engine: DialogEngine, said: Reading) -> Literal["yes", "unclear"] | None:
    """`yes` when the words are a short request for her, the staff or someone, said as such ("I need her", "call her
    please", "please get her", "can you call her", "I'd like her to come", "ich brauche sie", "bitte holen Sie sie"):
    the object (the pack's `others`, `whom` or `calls`) at once after a request word, no more than SHORT_ASK words,
    and no wish of the speaker's own or negation (`asks_someone`). Soon after a no to the help question, with
    nothing else talked of since, the one she can mean is the nurse just offered. Not when another person wants her
    ("they need her", "sie braucht ihn": an `others` or `whom` word, not one of `calls`, before the request), when
    the speaker is named after her ("brauchen Sie mich?": the polite "Sie" was the one asked), nor when more than a
    request's words follow her ("call her a taxi", "get them off", "send her away", "call him later", "möchten Sie
    Tee", "holen Sie ihn weg"): only fillers, request words, words for her and words that bring her here
    (`_as_requested`) may. `unclear` (the question asked again) when the speaker acts ("I'll call her", "let me
    ring her", "ich hole sie": she means to get her herself) or someone other than the speaker wishes ("do you need
    her"). With the object dropped, as Korean drops it ("불러 줘", "빨리 와 주세요"), two words or more of request
    words and fillers alone are a request for her too, or in Korean one word, a request word that carries a particle
    or a please ("불러요", "불러줘"; another ending, a question or a negation, is asked again: "부를까요",
    "부르지마"); not "주세요" or "please" alone, nor "노래 불러 주세요", a song."""
    h, reader = engine.helper, engine.reader
    if len(said.words) > SHORT_ASK:
        return None
    words, asks = said.words, h.spans_of(h.asks, said)
    covered = {i for lo, hi in asks for i in range(lo, hi)}
    if (len(words) >= 2 or reader.inside) and all(i in covered or w in h.fillers for i, w in enumerate(words)) and any(
            w not in h.fillers for lo, hi in asks for w in words[lo:hi]):
        if len(words) == 1 and not any(words[0].startswith(p) and words[0][len(p):] in PARTICLES | h.fillers
                                       for ph in h.asks if len(ph.parts) == 1 for p in ph.parts):
            return "unclear"  # another ending, a question or a negation: "부를까요" (shall I call?), "부르지마"
        return "yes" if asks_someone(engine, said) else None
    # another person before the request, found as a phrase ("used to" names no one: its "to" did, so "I need you to
    # get her" was no request)
    people = [(p_lo, p_hi) for p_lo, p_hi in h.spans_of(h.others, said) + h.spans_of(h.whom, said)
              if not all(w in h.call_words for w in words[p_lo:p_hi])]
    objects = h.spans_of(h.others, said) + h.spans_of(h.whom, said) + h.spans_of(h.calls, said)
    ours = US.get(engine.pack.language, frozenset()) | STRESS.get(engine.pack.language, frozenset())
    for lo, hi in asks:
        before = words[:lo]
        if any(p_hi <= lo for _, p_hi in people) or not any(
                o_lo == hi and _as_requested(engine, said, o_hi) for o_lo, o_hi in objects):
            continue
        # the speaker acts unless she wishes it done first ("I need you to get her")
        speaker = any(w in reader.speaker for w in before) and not any(
            w_hi <= lo for _, w_hi in h.spans_of(h.wishes, said))
        if h.wishes and speaker != _wish(engine, said, lo, hi) and (speaker or any(
                w not in h.fillers and w not in ours for w in before)):
            return "unclear"  # the speaker acts, or someone else wishes: "I'll call her", "do you need her"
        if asks_someone(engine, said):
            return "yes"
    return None


def thanks(engine: DialogEngine, text: str) -> bool:
    """Whether the answer thanks (a keyword of the pack's `thanks` intent), read as said: the reader folds "no thank
    you" and "nein danke" into their no, so "no thank you, wait" reads as "no, wait"."""
    spec = engine.pack.intents.get("thanks")
    said = normalise(text).split()
    for parts in (normalise(k).split() for k in (spec.keywords if spec is not None else ())):
        for i in range(len(said) - len(parts) + 1):
            if parts and all(w == p or (engine.reader.inside and w.startswith(p))
                             for w, p in zip(said[i:i + len(parts)], parts, strict=True)):
                return True
    return False
