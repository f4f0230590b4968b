"""JSON Schemas compiled into plain Python predicates, so that a valid payload costs a few µs, not 80.

jsonschema walks the schema afresh for every payload: about 80 µs for an alert, most of the staff web server's
handling of one. Nearly every payload is valid, so `robot.events.validate` asks the compiled predicate first and
runs jsonschema only when it says no, to decide and to word the refusal exactly as before.

That split is safe only if the predicate never accepts what jsonschema (with the project's pattern rule) refuses.
It may refuse more, which costs time, never correctness. Hence three rules:

- Only the keywords in ASSERTIONS are compiled. A schema with any other keyword anywhere it takes effect is not
  compiled at all (`Unsupported`): half a check would accept what the rest refuses.
- A value is judged only if its Python type is exactly one of JSON's (dict, list, str, int, float, bool, None).
  Subclasses (an IntEnum, a str subclass), Decimal and the like are refused here and left to jsonschema, whose
  rules for them (isinstance, numbers.Number) are its own.
- Each type is judged on its own, because Python mixes them where JSON does not: True == 1 and hash(True) ==
  hash(1), so `True in {1}`; a bool is never an integer, while 1.0 is one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
Regex = Callable[[str], re.Pattern[str]]

ASSERTIONS = frozenset({"$defs", "$ref", "additionalProperties", "const", "enum", "items", "maxItems", "maxLength",
                        "maximum", "minimum", "pattern", "properties", "required", "type"})
# Keywords jsonschema never asserts anything with ($id only at the root: further down it would move $ref's base).
ANNOTATIONS = frozenset({"$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
                         "writeOnly"})
ROOT_ONLY = frozenset({"$schema", "$id"})

NoneType = type(None)
# The Python types of JSON values, by JSON Schema type name; "integer" takes whole floats too, as jsonschema does.
TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "integer": (int, float),
                                      "number": (int, float), "boolean": (bool,), "null": (NoneType,)}
EVERY_TYPE = (dict, list, str, int, float, bool, NoneType)
DEF_REF = re.compile(r"#/\$defs/([A-Za-z0-9_.-]+)")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class Unsupported(ValueError):
    """The schema uses something this compiler does not know: jsonschema alone must check it."""


def compile_schema(schema: Any, regex: Regex) -> Check:
    """A predicate that is True only for payloads `schema` accepts; raise Unsupported if that cannot be promised.

    `regex` compiles a pattern exactly as the validator it stands in for does (robot.events._ecma_regex).
    """
    if not isinstance(schema, dict):
        raise Unsupported("the root of a schema must be an object")
    if schema.get("$schema", DIALECT) != DIALECT:
        raise Unsupported(f"only JSON Schema 2020-12 is compiled, not {schema['$schema']!r}")
    return _Compiler(schema, regex).node(schema, root=True)


def _accept(value: Any) -> bool:
    return True


def _refuse(value: Any) -> bool:
    return False


def _both(first: Check, second: Check) -> Check:
    return lambda value: first(value) and second(value)


def _every(parts: list[Check]) -> Check:
    check = parts[0] if parts else _accept
    for part in parts[1:]:
        check = _both(check, part)
    return check


def _count(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    if value is not None and (type(value) is not int or value < 0):
        raise Unsupported(f"{key} must be a whole number, not {value!r}")
    return value


def _bound(schema: dict[str, Any], key: str) -> int | float | None:
    value = schema.get(key)
    if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
        raise Unsupported(f"{key} must be a finite number, not {value!r}")
    return value


def _values(schema: dict[str, Any]) -> list[list[Any]]:
    """The value lists of `const` and `enum` (a value must be in each), refusing any that JSON compares deeply."""
    lists = ([[schema["const"]]] if "const" in schema else []) + ([schema["enum"]] if "enum" in schema else [])
    for values in lists:
        if type(values) is not list:
            raise Unsupported(f"enum must be a list, not {values!r}")
        for value in values:
            if type(value) not in (str, int, float, bool, NoneType) or (type(value) is float
                                                                       and not math.isfinite(value)):
                raise Unsupported(f"only plain values are compiled in const and enum, not {value!r}")
    return lists


def _allowed(values: list[Any], kind: type) -> frozenset[Any]:
    """The members of `values` that a value of Python type `kind` can equal as JSON compares."""
    numbers = (int, float)
    if kind in numbers:
        return frozenset(v for v in values if type(v) in numbers)
    return frozenset(v for v in values if type(v) is kind)


class _Compiler:
    """One schema's compilation: the root, for `$ref`, and the references being compiled, to refuse a cycle."""

    def __init__(self, root: dict[str, Any], regex: Regex) -> None:
        self.root = root
        self.regex = regex
        self.resolving: set[str] = set()

    def node(self, schema: Any, root: bool = False) -> Check:
        """The check of one (sub)schema: its `$ref`, if any, and its own keywords, both of which must hold."""
        if schema is True:
            return _accept
        if schema is False:
            return _refuse
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema must be an object or a boolean, not {type(schema).__name__}")
        unknown = set(schema) - ASSERTIONS - ANNOTATIONS - (ROOT_ONLY if root else set())
        if unknown:
            raise Unsupported(f"keyword(s) not compiled: {', '.join(sorted(unknown))}")
        own = self.typed(schema)
        if "$ref" not in schema:
            return own
        target = self.reference(schema["$ref"])
        return target if own is _accept else _both(target, own)

    def reference(self, ref: Any) -> Check:
        found = DEF_REF.fullmatch(ref) if isinstance(ref, str) else None
        defs = self.root.get("$defs")
        if found is None or not isinstance(defs, dict) or found[1] not in defs:
            raise Unsupported(f"only references to this schema's $defs are compiled, not {ref!r}")
        if ref in self.resolving:
            raise Unsupported(f"{ref} refers to itself")
        self.resolving.add(ref)
        try:
            return self.node(defs[found[1]])
        finally:
            self.resolving.discard(ref)

    def typed(self, schema: dict[str, Any]) -> Check:
        """Dispatch on the value's exact Python type to the keywords that apply to that type."""
        declared = schema.get("type")
        if declared is not None and (not isinstance(declared, str) or declared not in TYPES):
            raise Unsupported(f"type must be one JSON type name, not {declared!r}")
        value_lists = _values(schema)
        general = {"$defs", "$ref", "const", "enum", "type"} | ANNOTATIONS | ROOT_ONLY
        if set(schema) <= general and not value_lists and declared is None:
            return _accept  # nothing asserted: jsonschema accepts anything, odd types included
        checks: dict[type, Check] = {}
        for kind in TYPES[declared] if declared else EVERY_TYPE:
            allowed = [_allowed(values, kind) for values in value_lists]
            if not all(allowed):
                continue  # no value of this type is in the enum: refused
            parts = [self.of_type(kind, schema), *(values.__contains__ for values in allowed)]
            if declared == "integer" and kind is float:
                parts.insert(0, float.is_integer)
            checks[kind] = _every([part for part in parts if part is not _accept])
        if len(checks) == 1:
            ((kind, check),) = checks.items()
            return lambda value: type(value) is kind and check(value)
        find = checks.get

        def by_type(value: Any) -> bool:
            check = find(type(value))
            return check is not None and check(value)
        return by_type

    def of_type(self, kind: type, schema: dict[str, Any]) -> Check:
        """The keywords that judge a value of exactly Python type `kind` (jsonschema ignores the rest for it)."""
        if kind is str:
            return self.string(schema)
        if kind in (int, float):
            return self.number(schema)
        if kind is dict:
            return self.object(schema)
        if kind is list:
            return self.array(schema)
        return _accept

    def string(self, schema: dict[str, Any]) -> Check:
        parts: list[Check] = []
        longest = _count(schema, "maxLength")
        if longest is not None:
            parts.append(lambda value: len(value) <= longest)  # code points, as len() counts them
        if "pattern" in schema:
            if not isinstance(schema["pattern"], str):
                raise Unsupported(f"pattern must be a string, not {schema['pattern']!r}")
            try:
                search = self.regex(schema["pattern"]).search
            except re.error as exc:
                raise Unsupported(f"pattern {schema['pattern']!r} does not compile: {exc}") from None
            parts.append(lambda value: search(value) is not None)  # search, not match: JSON Schema's rule
        return _every(parts)

    def number(self, schema: dict[str, Any]) -> Check:
        low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
        # Written as "low <= value", not "not value < low": NaN fails here (jsonschema would let it through).
        if low is not None and high is not None:
            return lambda value: low <= value <= high
        if low is not None:
            return lambda value: low <= value
        if high is not None:
            return lambda value: value <= high
        return _accept

    def object(self, schema: dict[str, Any]) -> Check:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list) or not all(
                isinstance(name, str) for name in [*properties, *required]):
            raise Unsupported("properties must map names to schemas and required must list names")
        if not properties and not required and "additionalProperties" not in schema:
            return _accept
        named = {name: self.node(sub) for name, sub in properties.items()}
        others = schema.get("additionalProperties", True)
        other: Check | None = None if others is False else self.node(others)
        must = frozenset(required)
        find = named.get

        def fields(value: dict[Any, Any]) -> bool:
            if not value.keys() >= must:
                return False
            for key, item in value.items():
                check = find(key, other)
                if check is None or not check(item):
                    return False
            return True
        return fields

    def array(self, schema: dict[str, Any]) -> Check:
        parts: list[Check] = []
        most = _count(schema, "maxItems")
        if most is not None:
            parts.append(lambda value: len(value) <= most)
        if "items" in schema:
            item = self.node(schema["items"])  # (a list here is the old tuple form: node() refuses it)
            parts.append(lambda value: all(map(item, value)))
        return _every(parts)
