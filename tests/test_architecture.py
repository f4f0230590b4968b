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


def imported(path: Path) -> set[str]:
    """Every module `path` imports when it runs, lazily inside functions too (type-only imports aside)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # `from robot import bench`
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
