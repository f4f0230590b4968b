"""Generate docs/state-machine.md from the behaviour tables and dialog contexts: `python -m robot.diagram`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from robot.behaviour_table import SETTLE, STATES, TIMEOUTS, TRANSITIONS
from robot.conversation import CONTEXTS, STATE_CONTEXT


def mermaid(transitions: Iterable[dict[str, Any]] = TRANSITIONS) -> str:
    """The state diagram in Mermaid, generated from the tables, with the dialog contexts as notes."""
    lines = ["stateDiagram-v2", "  direction LR", "  [*] --> booting"]
    seen: set[tuple[str, str, str]] = set()
    for row in transitions:
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        dest = row["dest"]
        label = row["trigger"]
        if row.get("conditions"):
            label += f" [{row['conditions']}]"
        for src in sources:
            target = src if dest is None else dest
            if dest is None and src == target:
                continue  # internal transitions keep the state; the table documents them
            key = (src, target, label)
            if key not in seen:
                seen.add(key)
                lines.append(f"  {src} --> {target}: {label}")
    lines.append("  stopping --> [*]")
    for state, context in STATE_CONTEXT.items():
        lines.append(f"  note right of {state}: dialog context {context}")
    turn = [name for name, (held, _, _) in CONTEXTS.items() if held == "listening, responding"]
    lines.append(f"  note right of listening: dialog contexts {' and '.join(turn)} last through a turn")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """The state-machine document: diagram, settling order, timeouts and the full table."""
    out = [
        "# The behaviour state machine",
        "",
        "Generated from `robot/behaviour_table.py` and `robot/conversation.py` by `make diagram`",
        "(`python -m robot.diagram`);",
        "a test fails when this file and the code disagree.",
        "",
        "```mermaid",
        mermaid().rstrip(),
        "```",
        "",
        "## Conversation contexts",
        "",
        "What an answer means depends on the dialog context (robot/conversation.py), which follows the",
        "state and is reset by every state change that ends it. Help is judged first in every one of them.",
        "",
        "| context | holds in | starts with | ends with |",
        "|---|---|---|---|",
        *(f"| {name} | {held} | {start} | {end} |" for name, (held, start, end) in CONTEXTS.items()),
        "",
        "## Settling",
        "",
        "Triggers marked *settle* go to the first state below whose condition holds:",
        "",
    ]
    for state, cond in SETTLE:
        out.append(f"1. `{state}`" + (f" if `{cond}`" if cond else " otherwise"))
    out += ["", "## Timeouts", "", "| state | after (setting) | fires |", "|---|---|---|"]
    for state, (setting, trigger) in TIMEOUTS.items():
        out.append(f"| {state} | `{setting}` | `{trigger}` |")
    out += ["", "## Every transition", "",
            "`=` means an internal transition: the trigger is accepted and recorded, the state stays.", "",
            "| trigger | from | to | condition | prepare / callbacks |", "|---|---|---|---|---|"]
    for row in TRANSITIONS:
        src = row["source"] if isinstance(row["source"], list) else [row["source"]]
        src_text = "all running" if len(src) >= len(STATES) - 3 else ", ".join(src)
        calls = ", ".join(str(row[k]) for k in ("prepare", "before", "after") if row.get(k))
        cond = row.get("conditions", "") or (f"not {row['unless']}" if row.get("unless") else "")
        out.append(f"| `{row['trigger']}` | {src_text} | {row['dest'] or '='} | {cond} | {calls} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
