"""Whether a German utterance is a statement, not a question or a request (Vosk gives no punctuation).

German questions open with the finite verb or a W-word ("ist heute bingo", "wann ist das kegeln"),
requests with the imperative ("sag mir die uhrzeit"); a statement puts the finite verb second, after
a subject or an adverb ("gestern war ich beim singen", "die uhr tickt so laut"). A statement that
names an activity, a day, the clock or a loud radio asks the robot for nothing: it is small talk, and
the intents that answer a request (what is on today, the time, louder ...) must not take it. For the
robot's own manners (louder, slower ...) only a statement about other people and things counts: "das
war zu schnell" or "sie reden zu schnell" still ask for something, as "mir ist langweilig" does.

The word lists are German grammar, not a pack's vocabulary: staff never need to change them.
"""

from __future__ import annotations

import re

# the intents that answer a request, never a remark
INFORMATION = frozenset(("activities", "time", "date"))  # "am sonntag habe ich geburtstag" asks no date
REQUESTS = frozenset(("activities", "time", "date", "louder", "slower", "disclosure", "joke", "quiz", "name"))

_FILLERS = frozenset(("ach", "na", "naja", "also", "und", "ja", "jo", "nun", "oh", "tja", "hm", "hmm", "äh", "ähm",
                      "robin", "übrigens", "weißt", "du"))
# a subject or an adverb that may open a statement (never a question's first word; "man hört nichts" is "I")
_OPENERS = frozenset((
    "der", "die", "das", "dem", "den", "des", "ein", "eine", "einer", "mein", "meine", "meiner", "meinem",
    "meinen", "unser", "unsere", "unserem", "unseren", "dieser", "diese", "dieses", "wir", "er", "es",
    "ich", "gestern", "vorgestern", "heute", "morgen", "übermorgen", "neulich", "vorhin", "letzte", "letzten",
    "letztes", "letzter", "am", "im", "um", "beim", "vom", "zum", "seit", "nach", "vor", "mittags", "morgens",
    "abends", "nachts", "nachmittags", "vormittags", "montags", "dienstags", "mittwochs", "donnerstags",
    "freitags", "samstags", "sonntags", "sonst", "immer", "jeden", "jede", "dann", "danach", "draußen", "hier",
    "da", "dort", "drüben", "nebenan"))
# a finite verb in second place makes the opener a statement's first part
_FINITE = frozenset((
    "ist", "war", "sind", "waren", "hat", "hatte", "haben", "hatten", "habe", "bin", "wird", "wurde", "werden",
    "kommt", "kam", "kamen", "kommen", "geht", "ging", "gehen", "gingen", "gibt", "gab", "läuft", "lief",
    "macht", "machte", "machen", "machten", "schlägt", "schlug", "tickt", "tickte", "redet", "redete", "spricht",
    "sprach", "singt", "sang", "singen", "spielt", "spielte", "spielen", "spielten", "steht", "stand", "fängt",
    "fing", "dauert", "dauerte", "klingelt", "klingelte", "schaut", "sieht", "sah", "fährt", "fuhr", "bringt",
    "brachte", "tanzen", "tanzten", "tanzt", "kegeln", "kegelten", "basteln", "bastelten", "turnen", "turnten",
    "essen", "aßen", "isst", "trinken", "tranken", "liest", "las", "lesen", "hört", "hörte", "hören", "sagt",
    "sagte", "meint", "meinte", "findet", "fand"))
# said of the past, or of what is always so: the remark tells, it does not ask
_PAST = frozenset(("immer", "jeden", "jede", "meistens", "oft", "manchmal", "montags", "dienstags", "mittwochs",
                   "donnerstags", "freitags", "samstags", "sonntags", "war", "waren", "hatte", "hatten", "gewesen",
                   "gestern", "vorgestern", "neulich", "vorhin",
                   "letzte", "letzten", "letztes", "letzter", "kam", "ging", "gab", "lief", "sang", "spielte",
                   "tanzten", "las", "sah", "fuhr", "stand"))
_PARTICIPLE = re.compile(r"^(?:ab|an|auf|aus|bei|ein|mit|nach|vor|weg|zu|zurück|her|hin|los|mit)?ge\w{2,}(?:t|en)$")
_AUXILIARY = frozenset(("habe", "hab", "haben", "hat", "bin", "sind", "ist"))
# a question or a request somewhere in it: a W-word, an ask, a tag question at the end
_ASKING = frozenset((
    "wann", "was", "wie", "wo", "wohin", "woher", "welche", "welcher", "welches", "welchen", "welchem", "wer",
    "wen", "wem", "warum", "wieso", "weshalb", "wieviel", "wievielte", "wievielten", "ob", "bitte", "sag",
    "sagen", "sagst", "erzähl", "erzähle", "erzählen", "wissen", "möchte", "möchten", "würde", "würden",
    "kannst", "können", "könnten", "könntest", "will", "wollen", "lass", "lassen", "mach", "frag", "hätte",
    "langweilig", "langweile", "langweilt"))  # boredom asks for something to do
_TAGS = frozenset(("oder", "gell", "gelle", "ne", "nicht", "woll", "wa", "ja"))
# too quiet, not heard, the speaker's ears or anything of the speaker's: a hearing complaint asks for louder
# ("mein hörgerät spinnt heute"); a loud radio nebenan does not
_HEARING = frozenset(("leise", "hören", "höre", "hört", "versteht", "verstehen", "kaum", "nichts", "ohr", "ohren",
                      "gehör", "hörgerät", "hörgeräte", "schwerhörig", "taub"))
_MINE = frozenset(("mein", "meine", "meiner", "meinem", "meinen"))  # "meine batterie ist alle": the speaker's
_JUST_SAID = frozenset(("das", "es", "dies", "dieses"))  # the subject alone, before the verb: what was just said
# the speaker or the robot: a remark with these may still ask ("das ist mir zu leise", "ihre stimme ist so leise")
_PERSONS = frozenset(("ich", "mir", "mich", "du", "dich", "dir", "dein", "deine", "sie", "ihnen",
                      "ihre", "ihr", "euch", "stimme", "ton", "lautstärke", "robin", "roboter", "gerät",
                      "lautsprecher", "maschine", "kiste", "ding"))


def remark(words: tuple[str, ...], intent: str) -> bool:
    """A statement that asks for nothing, in German: for what is on, the date or the time (INFORMATION) any
    statement, though one opening with "ich" only if it tells of the past; for the rest one about other people
    and things, never the speaker, the robot or what it just said."""
    said = [w for w in words if w not in _FILLERS] or [""]
    if said[0] not in _OPENERS or said[-1] in _TAGS or any(w in _ASKING for w in said):
        return False
    verb = next((i for i, w in enumerate(said) if w in _FINITE), None)
    if verb is None or verb == 0 or verb > 5:  # an elliptic "heute bingo" may be a question
        return False
    past = any(w in _PAST for w in said) or (
        any(w in _AUXILIARY for w in said) and any(_PARTICIPLE.match(w) for w in said[verb + 1:]))
    if intent in INFORMATION:  # "ich langweile mich" asks; "ich war beim singen" tells
        return past or said[0] != "ich"
    if intent == "louder" and any(w in _HEARING or w in _MINE for w in said):
        return False
    if said[0] in _JUST_SAID and verb == 1:  # what the robot just said: "das war zu schnell"
        return False
    # the past not told by "ich" ("das bingo gestern war lustig"), or no speaker or robot named: it tells
    return past or not any(w in _PERSONS for w in said)


def reported(words: tuple[str, ...], calls: frozenset[str]) -> bool:
    """The person called is the statement's subject, in German: "der arzt hat gesagt, ich soll mehr laufen",
    "die schwester meint ...": a report of what staff said, no wish to see them."""
    said = [w for w in words if w not in _FILLERS]
    return len(said) > 2 and said[0] in _OPENERS and said[1] in calls and said[2] in _FINITE
