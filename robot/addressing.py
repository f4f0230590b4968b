"""Whether the robot's name is said to the robot, or is a common noun ("look, there's a robin on the bird table").

A name said to someone takes no article: after an article, a determiner or a counting word ("a robin", "the robin",
"two robins", "ein Robin") it names a bird or a thing, and must neither wake the robot from privacy nor turn the
resident to it. Korean has no articles; there the name is always taken as said to the robot.

The word lists are grammar, not a pack's vocabulary: staff never need to change them.
"""

from __future__ import annotations

from collections.abc import Callable

DETERMINERS = {
    "en": frozenset(("a", "an", "the", "that", "this", "those", "these", "some", "any", "another", "every", "each",
                     "one", "two", "three", "no", "our", "your", "his", "her", "their", "its", "little", "wee",
                     "baby", "cheeky", "fat", "tiny", "pretty", "lovely", "of", "mrs", "mr", "old")),
    "de": frozenset(("ein", "eine", "einen", "einem", "einer", "eines", "der", "die", "das", "den", "dem", "des",
                     "kein", "keine", "dieser", "diese", "dieses", "diesen", "jener", "welcher", "zwei", "drei",
                     "kleine", "kleiner", "kleines", "kleinen", "frau", "herr", "herrn")),
}


def addressed(words: tuple[str, ...], is_name: Callable[[str], bool], language: str) -> bool:
    """Whether one of the words is the robot's name with no article or determiner right before it."""
    before = DETERMINERS.get(language, frozenset())
    return any(is_name(w) and not (i and words[i - 1] in before) for i, w in enumerate(words))
