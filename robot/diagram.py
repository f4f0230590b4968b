"""Generate docs/state-machine.md from the behaviour tables and dialog contexts: `python -m robot.diagram`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from robot.behaviour_table import RUNNING, SETTLE, STATES, TIMEOUTS, TRANSITIONS
from robot.conversation import CONTEXTS, STATE_CONTEXT


def _grouped(transitions: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The table's rows, with each settling fan-out (the rows `_settle` writes, one per SETTLE state in order)
    given as one ("settle", row) and every other row as ("row", row)."""
    rows = list(transitions)
    order = [(dest, cond) for dest, cond in SETTLE]
    i = 0
    while i < len(rows):
        run = rows[i:i + len(order)]
        same = all(r["trigger"] == rows[i]["trigger"] and r["source"] == rows[i]["source"] for r in run)
        if same and [(r["dest"], r.get("conditions")) for r in run] == order:
            yield "settle", rows[i]
            i += len(order)
        else:
            yield "row", rows[i]
            i += 1


def _sources(row: dict[str, Any]) -> list[str]:
    return row["source"] if isinstance(row["source"], list) else [row["source"]]


# Idle and engaged share most of their ways out: the diagram nests them in one state, `ready`.
READY = ("idle", "engaged")


def _from(src: list[str]) -> tuple[list[str], str]:
    """Where a row is drawn from: `any` for (nearly) every running state, with the exceptions for the label,
    and `ready` for idle and engaged together."""
    missing = [s for s in RUNNING if s not in src]
    if len(missing) <= 4 and len(src) > 4:
        return ["any"], f" (not from {', '.join(missing)})" if missing else ""
    if all(r in src for r in READY):
        return ["ready", *(s for s in src if s not in READY)], ""
    return src, ""


def mermaid(transitions: Iterable[dict[str, Any]] = TRANSITIONS) -> str:
    """The state diagram in Mermaid, generated from the tables: each settling fan-out is drawn once, as a
    choice (`rest`) with its ordered exits, and a trigger from (nearly) every state comes from `any`."""
    lines = ["stateDiagram-v2", "  direction LR", "  [*] --> booting", "  state rest <<choice>>",
             '  state "any running state" as any', "  state ready {", "    idle --> engaged: engage",
             "    engaged --> idle: disengage", "  }"]
    seen_inner = {("idle", "engaged", "engage"), ("engaged", "idle", "disengage")}
    for dest, cond in SETTLE:
        lines.append(f"  rest --> {dest}: {cond or 'otherwise'}")
    seen: set[str] = set()

    def edge(text: str) -> None:
        if text not in seen:
            seen.add(text)
            lines.append(text)

    for kind, row in _grouped(transitions):
        if (_sources(row)[0], row["dest"], row["trigger"]) in seen_inner:
            continue  # drawn inside `ready`
        src, note = _from(_sources(row))
        cond = row.get("conditions") if kind == "row" else None  # (a settle's conditions are rest's exits)
        label = row["trigger"] + (f" [{cond}]" if cond else "") + note
        for s in src:
            if kind == "settle":
                edge(f"  {s} --> rest: {label}")
            elif row["dest"] is not None and row["dest"] != s:
                edge(f"  {s} --> {row['dest']}: {label}")
    lines.append("  stopping --> [*]")
    return "\n".join(lines) + "\n"


def contexts() -> str:
    """The dialog contexts as a diagram of their own: what starts each one and what ends it."""
    lines = ["stateDiagram-v2", "  direction LR", "  [*] --> open"]
    for name, (_held, start, end) in CONTEXTS.items():
        if name == "open":
            continue
        lines.append(f"  open --> {name}: {start}")
        lines.append(f"  {name} --> open: {end}")
    for state, context in STATE_CONTEXT.items():
        lines.append(f"  note right of {context}: held in state {state}")
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
        "Every trigger that ends something (an answer, a pause, privacy, a fault clearing) settles: it goes to the",
        "first state in the settling order below whose condition holds. The table writes that fan-out once",
        "(`SETTLE`), and the diagram draws it once, as the choice `rest`. A trigger accepted in (nearly) every",
        "running state comes from `any`, with the exceptions named.",
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
        "```mermaid",
        contexts().rstrip(),
        "```",
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
