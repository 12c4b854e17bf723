"""The audit log's and the suppression list's scripts, without a browser: every document they
send (by name, from the console's manifest) is valid against the schema, every role, outcome
and action they name is one the log records, and every element they reach for is on the
page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from cdp.audit.actions import AuditAction, AuditOutcome, AuditRole
from cdp.graphql.schema import build_schema
from tests.support.console_documents import console_document

CONSOLE = Path(__file__).resolve().parents[2] / "cdp" / "console"
AUDIT = (CONSOLE / "compliance_audit.js").read_text(encoding="utf-8")
SUPPRESSION = (CONSOLE / "compliance_suppression.js").read_text(encoding="utf-8")
PAGE = (CONSOLE / "index.html").read_text(encoding="utf-8")


SENT = {AUDIT: ("AuditDesk", "AuditVerify"), SUPPRESSION: ("SuppressionLookup", "SuppressionLift")}


def documents() -> list[str]:
    for script, names in SENT.items():
        for name in names:
            assert f'api.gql("{name}"' in script, name
    return [console_document(name) for names in SENT.values() for name in names]


@pytest.mark.parametrize("document", documents())
def test_every_document_the_desks_send_is_valid_against_the_schema(document: str) -> None:
    assert "${" not in document
    assert validate(build_schema()._schema, parse(document)) == []


def names_in(script: str, table: str) -> set[str]:
    found = re.search(rf"const {table} = \{{(.*?)\n?\}};", script, re.S)
    assert found, table
    return set(re.findall(r"([A-Z][A-Z_]+):", found.group(1)))


def test_the_words_name_only_roles_outcomes_and_actions_the_log_records() -> None:
    # A name without words is shown as it is; every name with words is one the log records.
    roles = names_in(AUDIT, "ROLES")
    assert len(roles) >= 8 and roles <= {role.name for role in AuditRole}
    outcomes = names_in(AUDIT, "OUTCOMES")
    assert len(outcomes) >= 15 and outcomes <= {outcome.name for outcome in AuditOutcome}
    actions = {action.name for action in AuditAction}
    worded = names_in(AUDIT, "ACTIONS")
    assert len(worded) > 40 and worded <= actions
    groups = re.search(r"const GROUPS = \[(.*?)\n  \];", AUDIT, re.S)
    assert groups
    offered = set(re.findall(r'"([A-Z][A-Z_]+)"', groups.group(1)))
    assert worded <= offered <= actions
    # The refused root fields are worded from their names: the rest of them have words.
    assert {a for a in offered - worded if not re.match(r"(QUERY|MUTATION)_", a)} == set()


def test_every_element_the_desks_reach_for_is_on_the_page() -> None:
    ids = set(re.findall(r'\bid="([\w-]+)"', PAGE))
    for script in (AUDIT, SUPPRESSION):
        wanted = set(re.findall(r'\$\("([\w-]+)"\)', script))
        assert wanted and wanted - ids == set()


def test_the_desks_show_no_identifier_the_server_was_asked_about() -> None:
    # The lookup's answer carries no value to show: the value typed stays in its input.
    answer = re.search(r"suppression\(.*?\) \{(.*?)\}", console_document("SuppressionLookup"), re.S)
    assert answer and answer.group(1).split() == ["kind", "suppressed", "since", "requestId"]
