"""How far back a negation reaches past the speaker.

An interjected no stops at the speaker's own words: "oh no, I can't breathe", "never, I fell" negate nothing.
A negation that turns round a clause holding the speaker reaches past it: in "I don't think I need the nurse" the
"not" belongs to "think", whose object is the request, so the request is negated (and the robot asks).
"""

from __future__ import annotations


def speaker_cut(ahead: tuple[str, ...], speaker: frozenset[str], stops: frozenset[str]) -> int:
    """Where the words before a span start to count: after the last speaker word when only a negation or a filler
    (`stops`) stands right before it ("oh no, I"), else from the first ("not think I")."""
    cut = max((i + 1 for i, t in enumerate(ahead) if t in speaker), default=0)
    return cut if cut < 2 or ahead[cut - 2] in stops else 0
