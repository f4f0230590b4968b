"""Generate docs/state-machine.md from the behaviour tables: `python -m robot.diagram`."""

from __future__ import annotations

from robot.behaviour import SETTLE, STATES, TIMEOUTS, TRANSITIONS, mermaid


def markdown() -> str:
    """The state-machine document: diagram, settling order, timeouts and the full table."""
    out = [
        "# The behaviour state machine",
        "",
        "Generated from `robot/behaviour.py` by `make diagram` (`python -m robot.diagram`);",
        "a test fails when this file and the code disagree.",
        "",
        "```mermaid",
        mermaid().rstrip(),
        "```",
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
