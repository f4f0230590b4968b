"""The layering, read from the source: the device layer knows nothing of the robot, no module
imports itself back through others, and none grows past the size a reader can hold."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("robot", "hardware")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


DYNAMIC = {"import_module", "__import__"}  # importlib.import_module("robot.x") imports as surely as `import`


def _package(path: Path) -> list[str]:
    """The dotted package a module file is in, which its relative imports start from."""
    parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]  # a package's __init__ is in the package, as any of its modules


def imported(path: Path, package: list[str] | None = None) -> set[str]:
    """Every module `path` imports when it runs, lazily inside functions too (type-only imports aside),
    relative imports resolved against `package` (the file's own by default) and importlib's by name."""
    names: set[str] = set()
    here = _package(path) if package is None else package

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)  # `from robot import bench`
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and (
                getattr(node.func, "attr", getattr(node.func, "id", None)) in DYNAMIC):
            names.add(str(node.args[0].value).split(":")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


@functools.cache
def graph() -> dict[str, set[str]]:
    """Which of the packages' modules each module imports (the source is read once per session)."""
    mods = modules()
    return {name: {d for d in imported(path) if d in mods and d != name} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_hardware_imports_nothing_from_robot() -> None:
    offenders = {f"{name} imports {', '.join(sorted(d for d in imported(path) if d.split('.')[0] == 'robot'))}"
                 for name, path in modules().items()
                 if name.startswith("hardware") and any(d.split(".")[0] == "robot" for d in imported(path))}
    assert not offenders


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_import_reader_sees_the_ways_round_a_plain_import(tmp_path: Path) -> None:
    """A lazy import, a relative one and importlib by name all count: none is a way past the layering."""
    source = tmp_path / "m.py"
    source.write_text("import importlib\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from robot.config import Config\n"
                      "def f():\n    from robot import runtime\n    from ..robot import motion\n"
                      "    from .servo import Joint\n    importlib.import_module('robot.alerts')\n"
                      "    __import__('robot.outbox')\n")
    found = imported(source, ["hardware"])
    assert {"robot.runtime", "robot.motion", "hardware.servo", "robot.alerts", "robot.outbox"} <= found
    assert "robot.config" not in found  # for the type checker only


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_too_long() -> None:
    long = {str(path.relative_to(ROOT)): n for path in modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_runtime_never_imports_the_benchmarks() -> None:
    edges = graph()
    reached, todo = set(), ["robot.runtime"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(edges.get(name, ()))
    assert not {m for m in reached if m == "robot.bench" or m.startswith("robot.bench.")}


def test_the_benchmarks_are_their_own_package_only_the_cli_reaches() -> None:
    beside = sorted(p.name for p in (ROOT / "robot").glob("bench*.py"))
    assert not beside, f"benchmarks live in robot/bench/ (carebot bench lists them in robot/bench/suite.py): {beside}"
    users = {name for name, deps in graph().items() if not name.startswith("robot.bench")
             and any(d == "robot.bench" or d.startswith("robot.bench.") for d in deps)}
    assert users == {"robot.cli"}
