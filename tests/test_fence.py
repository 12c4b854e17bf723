"""The fence around strawberry's and graphql-core's private names: only
cdp/graphql/execution.py touches them, the pins say which versions that was tested with, and
an error is classified by what cdp put in it, never by graphql-core's wording."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from graphql import GraphQLError
from graphql.language import parser
from packaging.requirements import Requirement

from cdp.graphql import versions
from cdp.graphql.errors import format_error
from cdp.graphql.limits import NESTING_CEILING

ROOT = Path(__file__).resolve().parent.parent
FENCE = ROOT / "cdp" / "graphql" / "execution.py"
# Names strawberry and graphql-core do not document, whatever object they are reached through.
PRIVATE_NAMES = re.compile(
    r"\b(MAX_COMPLEXITY_BUDGET|MAX_FIELD_COMPARISONS|MAX_NESTING_DEPTH|DEFINITION_BACKREF"
    r"|collect_subfields|execute_fields|complete_value|remaining_complexity_budget"
    r"|StrawberryGraphQLCoreExecutionContext|GraphQLCoreConverter|ValidationAbortedError)\b"
)
# Modules of theirs that are no public API.
PRIVATE_MODULES = re.compile(
    r"^(strawberry\.schema\.(schema|schema_converter)|graphql\.validation\.(validate|rules\b.*)"
    r"|graphql\.execution\.(execute|executor)|graphql\.language\.(parser|lexer))$|\._"
)


def touches(path: Path) -> list[str]:
    """`line: what` for every private name of the two libraries that `path` uses."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.module:
            theirs = node.module.split(".")[0] in ("strawberry", "graphql")
            if theirs and PRIVATE_MODULES.search(node.module):
                found.append(f"{line}: from {node.module}")
            for alias in node.names if theirs else ():
                if alias.name.startswith("_") or PRIVATE_NAMES.fullmatch(alias.name):
                    found.append(f"{line}: import {alias.name}")
        elif isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if (private and owner not in ("self", "cls")) or PRIVATE_NAMES.fullmatch(node.attr):
                found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Name) and PRIVATE_NAMES.fullmatch(node.id):
            found.append(f"{line}: {node.id}")
    return found


def test_only_execution_touches_a_private_name_of_strawberry_or_graphql_core() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "cdp").rglob("*.py"))
        if path != FENCE and (hits := touches(path))
    }
    # The only private attributes left are cdp's own or other libraries' (SQLAlchemy's
    # documented Row._mapping, aiosqlite's connection thread, a keyring source's own state).
    allowed = {
        "cdp/demo/engine.py": ["._thread"],
        "cdp/keys/relocation.py": ["._mapping"],
        "cdp/keys/source.py": ["._mtime"],
    }
    assert {
        name: hits
        for name, hits in found.items()
        if [hit.split(": ", 1)[1] for hit in hits] != allowed.get(name)
    } == {}


def test_the_fence_test_finds_each_kind_of_touch(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from graphql.validation.rules import overlapping_fields_can_be_merged as o\n"
        "from strawberry.schema.schema_converter import X\n"
        "from graphql import _private\n"
        "o.MAX_COMPLEXITY_BUDGET = 1\n"
        "raw = info._raw_info\n"
        "schema._schema\n"
        "self._own\n"
    )
    assert touches(module) == [
        "1: from graphql.validation.rules",
        "2: from strawberry.schema.schema_converter",
        "3: import _private",
        "4: .MAX_COMPLEXITY_BUDGET",
        "5: ._raw_info",
        "6: ._schema",
    ]
    assert touches(FENCE)  # and the fence itself holds them


def test_pyproject_pins_the_ranges_the_start_up_check_holds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {
        requirement.name: requirement.specifier
        for requirement in map(Requirement, project["project"]["dependencies"])
    }
    assert {name: pins[name] for name in versions.TESTED} == dict(versions.TESTED)


def test_constraints_pin_every_dependency_within_the_tested_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pinned = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
    ]
    for requirement in map(Requirement, wanted):
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pinned, name
        assert requirement.specifier.contains(pinned[name]), (name, pinned[name])
    assert versions.untested({name: pinned[name] for name in versions.TESTED}) == []


def test_graphql_cores_wording_alone_is_no_limit() -> None:
    for message in (
        "Syntax Error: Document contains more than 1000 tokens. Parsing aborted.",
        "Syntax Error: Document is nested too deeply. Parsing aborted.",
        "Validation aborted.",
    ):
        error = format_error(GraphQLError(message), request_id="r")
        assert error["extensions"] == {"code": "BAD_USER_INPUT"}, message


def test_cdp_refuses_nesting_before_graphql_cores_parser_would() -> None:
    # Past the parser's own ceiling its refusal (a message only) would come first.
    assert NESTING_CEILING <= parser.MAX_NESTING_DEPTH
