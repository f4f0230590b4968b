"""The AsyncAPI document and the shipped JSON Schemas agree with the code."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from robot.events import COMMANDS, EVENT_KINDS, Topics

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
    assert addresses == expected
    refs = {m["payload"]["$ref"] for m in doc["components"]["messages"].values()}
    assert refs == {f"../robot/schemas/{f.name}" for f in SCHEMAS.glob("*.json")}
    for ref in refs:
        assert (ROOT / "docs" / ref).resolve().is_file()


def test_schemas_ship_in_the_package() -> None:
    from importlib import resources

    assert resources.files("robot.schemas").joinpath("alert.json").is_file()
    assert Path(str(resources.files("robot.schemas"))).name == "schemas"
