"""The AsyncAPI document and the shipped JSON Schemas agree with the code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from robot.events import COMMANDS, EVENT_KINDS, Topics, Validator

from .conftest import ROOT

SCHEMAS = ROOT / "robot" / "schemas"


def test_every_schema_is_valid_and_forbids_extra_properties() -> None:
    files = sorted(SCHEMAS.glob("*.json"))
    assert {f.stem for f in files} == set(EVENT_KINDS) | set(COMMANDS.values()) | {"ha-discovery"}
    for f in files:
        schema = json.loads(f.read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False, f.name
        for prop in schema["properties"].values():
            if prop.get("type") == "object":
                assert prop["additionalProperties"] is False, f.name
            if prop.get("type") == "string":
                assert "pattern" in prop or "enum" in prop or "const" in prop, f"{f.name}: free text field"


def test_asyncapi_documents_every_topic_and_payload() -> None:
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    topics = Topics("{site}", "{robot}")
    addresses = {c["address"] for c in doc["channels"].values()}
    expected = {topics.event(k) for k in EVENT_KINDS} | {topics.command(c) for c in COMMANDS}
    expected.add("homeassistant/{component}/{robot}/{object}/config")
    expected.add(topics.alert_state("{alert_id}"))
    assert addresses == expected
    refs = {m["payload"]["$ref"] for m in doc["components"]["messages"].values()}
    assert refs == {f"../robot/schemas/{f.name}" for f in SCHEMAS.glob("*.json")}
    for ref in refs:
        assert (ROOT / "docs" / ref).resolve().is_file()


def test_schemas_ship_in_the_package() -> None:
    from importlib import resources

    assert resources.files("robot.schemas").joinpath("alert.json").is_file()
    assert Path(str(resources.files("robot.schemas"))).name == "schemas"


def _patterns(node: object, where: str) -> list[tuple[str, str]]:
    """Every `pattern` in a schema, with the JSON path it sits at."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.append((where, node["pattern"]))
        for key, value in node.items():
            found += _patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _patterns(value, f"{where}/{i}")
    return found


PATTERNS = sorted({p for f in SCHEMAS.glob("*.json") for _, p in _patterns(json.loads(f.read_text()), f.name)})


def test_every_pattern_is_anchored_and_its_classes_exclude_line_breaks() -> None:
    every = [(w, p) for f in sorted(SCHEMAS.glob("*.json")) for w, p in _patterns(json.loads(f.read_text()), f.name)]
    assert len(every) > 40 and len(PATTERNS) >= 10
    for where, pattern in every:
        assert pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$"), where
        body = pattern[1:-1]
        # nothing in the body may match a line break: no '.', no \s, \S, \W, \D or negated class
        assert not re.search(r"(?<!\\)\.(?![^\[]*\])|\\[sSWD]|\[\^", body), where


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_pattern_refuses_a_trailing_or_leading_line_break(data: st.DataObject) -> None:
    for pattern in PATTERNS:
        good = data.draw(st.from_regex(pattern, fullmatch=True), label=pattern)
        validator = Validator({"type": "string", "pattern": pattern})
        assert validator.is_valid(good), (pattern, good)
        for bad in (good + "\n", "\n" + good, good + "\r\n", good + "\r", good + "\x00"):
            assert not validator.is_valid(bad), (pattern, bad)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: no ECMA-262 engine to compare")
def test_our_pattern_semantics_are_ecma_262_as_json_schema_requires(tmp_path: Path) -> None:
    cases = []
    for pattern in PATTERNS:
        validator = Validator({"type": "string", "pattern": pattern})
        good = find(st.from_regex(pattern, fullmatch=True), lambda s: len(s) > 1)  # a small valid example
        for text in (good, good + "\n", "\n" + good, good + "x", "", "a\n"):
            cases.append([pattern, text, validator.is_valid(text)])
    script = tmp_path / "check.js"
    script.write_text("const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
                      "const out = cases.filter(([p, t, ok]) => new RegExp(p, 'u').test(t) !== ok);\n"
                      "console.log(JSON.stringify(out));\n")
    done = subprocess.run(["node", str(script)], input=json.dumps(cases), capture_output=True, text=True,
                          check=True, timeout=30)
    assert json.loads(done.stdout) == []


def test_the_heartbeat_knows_every_behaviour_state() -> None:
    from robot.behaviour import STATES

    # a state missing here makes every heartbeat sent in it fail its schema: staff would hear nothing
    assert set(json.loads((SCHEMAS / "heartbeat.json").read_text())["properties"]["behaviour"]["enum"]) == set(STATES)
