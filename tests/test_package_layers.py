"""The packages of cdp form layers: the import graph of its first-level packages and top-level
modules (imports inside functions included) has no cycle, and only the GraphQL layer and the
entry points that mount it import strawberry or cdp.graphql."""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

import cdp

ROOT = Path(cdp.__file__).parent
# The composition roots: the GraphQL layer itself, the app that mounts it, the CLI that
# prints its schema.
MAY_IMPORT_GRAPHQL = {"cdp.graphql", "cdp.app", "cdp.cli", "cdp.__main__"}


def unit_of(module: str) -> str | None:
    """The graph node of a module: `cdp.<package or top-level module>`; None outside cdp."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "cdp" and len(parts) > 1 else None


def imported_by(path: Path) -> set[str]:
    """Every module a file imports, wherever in the file (a lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "cdp":
                names.update(f"cdp.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def import_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported module -> the files of the unit that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        unit = unit_of(".".join(relative.parts)) or "cdp"
        for name in imported_by(path):
            graph.setdefault(unit, {}).setdefault(name, set()).add(str(relative) + ".py")
    return graph


def edges(graph: dict[str, dict[str, set[str]]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for unit, names in graph.items():
        for name in names:
            target = unit_of(name)
            if target is not None and target != unit:
                found.setdefault(unit, set()).add(target)
    return found


def files_importing(graph: dict[str, dict[str, set[str]]], unit: str, target: str) -> set[str]:
    return {f for name, files in graph[unit].items() if unit_of(name) == target for f in files}


def a_cycle(found: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as the path that closes it, or None when it is a DAG."""
    done: set[str] = set()
    path: list[str] = []

    def visit(unit: str) -> list[str] | None:
        if unit in path:
            return [*path[path.index(unit) :], unit]
        if unit in done:
            return None
        path.append(unit)
        for target in sorted(found.get(unit, ())):
            cycle = visit(target)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(unit)
        return None

    for unit in sorted(found):
        cycle = visit(unit)
        if cycle is not None:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_dag() -> None:
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_a_lazy_import_counts_as_an_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from cdp.erasure import service\n    import cdp.orders\n")
    assert imported_by(module) == {"cdp.erasure", "cdp.orders"}


def test_the_packages_of_cdp_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    cycle = a_cycle(edges(graph))
    if cycle is not None:
        where = [
            f"{a} -> {b} in " + ", ".join(sorted(files_importing(graph, a, b)))
            for a, b in pairwise(cycle)
        ]
        raise AssertionError("import cycle: " + " -> ".join(cycle) + "\n" + "\n".join(where))


def test_no_domain_package_imports_strawberry_or_the_graphql_layer() -> None:
    offenders = sorted(
        f"{file} imports {name}"
        for unit, names in import_graph().items()
        if unit not in MAY_IMPORT_GRAPHQL
        for name, files in names.items()
        if name.split(".")[0] == "strawberry" or unit_of(name) == "cdp.graphql"
        for file in files
    )
    assert offenders == []
