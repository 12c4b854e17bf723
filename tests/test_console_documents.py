"""The staff console sends trusted documents only, and their manifest is true: it is what
`make documents` writes from cdp/console/documents.graphql (ids, names, the console roles the
policy lets run each), the page's table of ids is written from it, every document the
console's scripts send is in it by name, and no script holds a document's text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cdp.documents.registry import document_id
from cdp.graphql.console_documents import (
    CONSOLE_ROLES,
    IDS_SCRIPT,
    MANIFEST,
    SOURCE,
    build_manifest,
    ids_script,
    manifest_json,
)
from cdp.graphql.documents import check, operation_of
from cdp.graphql.execution import core_schema
from cdp.graphql.limits import Limits
from cdp.graphql.schema import build_schema
from cdp.graphql.trusted import console_page_documents
from cdp.roles import Role
from tests.support.console_documents import BY_NAME, ENTRIES

CONSOLE = SOURCE.parent
LIMITS = Limits()
SCHEMA = core_schema(build_schema(limits=LIMITS))
SCRIPTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(CONSOLE.glob("*.js"))}
DESKS = {name: text for name, text in SCRIPTS.items() if name != IDS_SCRIPT.name}
SENT = re.compile(r"\bgql\(\s*([^,)]+)")
# The two ways a desk names a document through a variable: a list's next page
# (support.js's MORE) and a hold or release (compliance_request_hold.js), and a chart's spec.
INDIRECT = {"trusted", "spec.document"}
NAMED = re.compile(r'"([A-Z][A-Za-z0-9]+)"')
TEXT = re.compile(r"\b(query|mutation|fragment)\s+[A-Z]\w*\s*[({]|\bquery\s*:")


def test_the_manifest_is_what_make_documents_writes_from_the_consoles_source() -> None:
    written = build_manifest(SCHEMA, LIMITS, SOURCE.read_text(encoding="utf-8"))
    assert manifest_json(written) == MANIFEST.read_text(encoding="utf-8"), (
        "cdp/documents/console.json is stale: run `make documents`"
    )
    assert ids_script(written) == IDS_SCRIPT.read_text(encoding="utf-8"), (
        "cdp/console/documents.js is stale: run `make documents`"
    )


def test_every_id_is_the_sha256_of_its_text_and_every_document_is_named_once() -> None:
    assert len(ENTRIES) == len(BY_NAME) >= 30
    for key, entry in ENTRIES.items():
        assert key == document_id(entry["document"]), entry["name"]
        assert operation_of(entry["document"]).name == entry["name"]


def test_each_document_runs_for_the_console_roles_the_policy_allows_and_passes_the_check() -> None:
    for entry in ENTRIES.values():
        roles = {Role(r) for r in entry["roles"]}
        assert roles and roles <= CONSOLE_ROLES, entry["name"]
        check(SCHEMA, operation_of(entry["document"]), roles, LIMITS)
    loaded = console_page_documents(SCHEMA)
    assert {key: {r.value for r in t.roles} for key, t in loaded.items()} == {
        key: set(entry["roles"]) for key, entry in ENTRIES.items()
    }
    by_desk = {name: set(ENTRIES[key]["roles"]) for name, key in BY_NAME.items()}
    assert by_desk["SupportLookup"] == {"support", "compliance"}
    assert by_desk["AuditDesk"] == by_desk["DeskApproveErasure"] == {"compliance"}
    assert by_desk["AnalyticsMembersByTier"] == {"analyst"}


def test_the_console_roles_are_the_roles_the_shell_opens_desks_to() -> None:
    desks = re.search(r"const ROLE_DESKS = \{(.*?)\};", SCRIPTS["console.js"], re.S)
    assert desks
    assert set(re.findall(r"(\w+):", desks.group(1))) == {r.value for r in CONSOLE_ROLES}


def test_every_document_a_desk_sends_is_in_the_manifest_and_no_script_holds_a_documents_text() -> (
    None
):
    named: set[str] = set()
    for name, text in DESKS.items():
        assert not TEXT.search(text), f"{name} holds a GraphQL document's text"
        assert name == "console.js" or "fetch(" not in text, f"{name} fetches by itself"
        for argument in SENT.findall(text):
            argument = argument.strip()
            if name == "console.js":
                continue  # the shell's own definition, gql(name, variables)
            quoted = re.fullmatch(r'"(\w+)"', argument)
            assert quoted or argument in INDIRECT, f"{name} sends gql({argument})"
            if quoted:
                assert quoted.group(1) in BY_NAME, f"{name} sends {argument}, not in the manifest"
        named |= {n for n in NAMED.findall(text) if n in BY_NAME}
    # The names the desks hold (sent directly, or through MORE, a hold, a chart's spec) are
    # every document of the manifest: none is missing, none is left unused.
    assert named == set(BY_NAME), set(BY_NAME) - named


def test_the_shell_sends_a_documents_id_its_name_and_variables_only() -> None:
    shell = SCRIPTS["console.js"]
    bodies = re.findall(r"body: JSON\.stringify\((\{.*?\})\)", shell)
    assert bodies == [
        "{ documentId: documents[name], operationName: name, variables: variables || {} }"
    ]
    assert "Object.hasOwn(documents, name)" in shell
    page = (CONSOLE / "index.html").read_text(encoding="utf-8")
    assert page.index('src="documents.js"') < page.index('src="console.js"')


def test_cdp_documents_console_writes_both_files_and_refuses_a_name_used_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cdp.cli import app
    from cdp.graphql import console_documents

    source = tmp_path / "documents.graphql"
    source.write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    for name, path in (("SOURCE", source), ("MANIFEST", tmp_path / "console.json")):
        monkeypatch.setattr(console_documents, name, path)
    monkeypatch.setattr(console_documents, "IDS_SCRIPT", tmp_path / "documents.js")
    written = CliRunner().invoke(app, ["documents", "console"])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "console.json").read_text() == MANIFEST.read_text(encoding="utf-8")
    assert (tmp_path / "documents.js").read_text() == IDS_SCRIPT.read_text(encoding="utf-8")
    # A second operation of a name the file has: the page could not tell them apart.
    source.write_text(
        source.read_text() + "\nquery AuditVerify { auditLogVerification { intact } }\n"
    )
    refused = CliRunner().invoke(app, ["documents", "console"])
    assert refused.exit_code == 1
    assert "AuditVerify: each console document needs its own name" in refused.output
