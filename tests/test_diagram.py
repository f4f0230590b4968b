"""docs/state-machine.md is generated from the code and must match it."""

from __future__ import annotations

from robot.behaviour import STATES, TRANSITIONS
from robot.behaviour_table import SETTLE
from robot.diagram import _grouped, markdown

from .conftest import ROOT


def test_state_machine_doc_is_current() -> None:
    doc = (ROOT / "docs" / "state-machine.md").read_text()
    assert doc == markdown(), "docs/state-machine.md is stale: run `make diagram`"


def test_diagram_shows_every_state_and_state_changing_trigger() -> None:
    text = markdown()
    for state in STATES:
        assert f" {state} " in text or f"{state} -->" in text or f"--> {state}" in text
    settles = {(t, str(s)) for kind, row in _grouped(TRANSITIONS) if kind == "settle"
               for t, s in [(row["trigger"], row["source"])]}
    for row in TRANSITIONS:
        if row["dest"] is None:
            continue
        if (row["trigger"], str(row["source"])) in settles:
            assert f"--> rest: {row['trigger']}" in text  # the fan-out, drawn once as the choice `rest`
        else:
            assert f"--> {row['dest']}: {row['trigger']}" in text
    for dest, cond in SETTLE:
        assert f"rest --> {dest}: {cond or 'otherwise'}" in text


def test_the_diagram_fits_on_a_screen_and_draws_each_fan_out_once() -> None:
    from robot.diagram import mermaid

    lines = mermaid().splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines: the diagram no longer fits on a screen"
    for state, _ in SETTLE:  # each settling exit is drawn once, from `rest`, whatever the number of triggers
        assert sum(1 for line in lines if line.strip().startswith("rest --> ") and
                   line.split("-->")[1].split(":")[0].strip() == state) == 1
