"""docs/state-machine.md is generated from the code and must match it."""

from __future__ import annotations

from robot.behaviour import STATES, TRANSITIONS
from robot.diagram import markdown

from .conftest import ROOT


def test_state_machine_doc_is_current() -> None:
    doc = (ROOT / "docs" / "state-machine.md").read_text()
    assert doc == markdown(), "docs/state-machine.md is stale: run `make diagram`"


def test_diagram_shows_every_state_and_state_changing_trigger() -> None:
    text = markdown()
    for state in STATES:
        assert f" {state} " in text or f"{state} -->" in text or f"--> {state}" in text
    for row in TRANSITIONS:
        if row["dest"] is not None:
            assert f"--> {row['dest']}: {row['trigger']}" in text
