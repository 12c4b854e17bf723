"""The test suite's own layout: shared helpers live in tests/support/ (or conftest.py), never in
a test module that others import, and no test file grows past 1,000 lines."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(TESTS.rglob("*.py"))


def imported_test_modules(tree: ast.Module) -> list[str]:
    """The test modules an import names; `from tests import test_x` counts as tests.test_x."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "tests":
            found.extend(f"tests.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    parts = [name.split(".") for name in found]
    return [".".join(p) for p in parts if p[0] == "tests" and any(s.startswith("test_") for s in p)]


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    offending = {
        str(path.relative_to(TESTS)): found
        for path in SOURCES
        if (found := imported_test_modules(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not offending, f"move the shared names to tests/support/: {offending}"


def test_no_test_file_is_longer_than_a_thousand_lines() -> None:
    lengths = {
        str(path.relative_to(TESTS)): len(path.read_text(encoding="utf-8").splitlines())
        for path in SOURCES
        if path.name.startswith("test_")
    }
    too_long = {name: n for name, n in lengths.items() if n > 1000}
    assert not too_long, f"split these by behaviour: {too_long}"
