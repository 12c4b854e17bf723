"""A trusted document's plan for a role says beforehand what the generic path does with it:
the paths that answer FORBIDDEN, and the personal fields each profile's audit record names
(full, masked or denied). Checked by running each document through the generic path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdp.auth import Role
from cdp.db import Database
from cdp.graphql.documents import operation_of
from cdp.graphql.execution import core_schema
from cdp.graphql.plans import plan_document
from cdp.graphql.schema import build_schema
from cdp.graphql.trusted import PAGES_MANIFEST
from tests.conftest import ClientFactory
from tests.support.audit_log import Person, audit_rows

SCHEMA = core_schema(build_schema())
PAGE_QUERIES = [
    text
    for text in json.loads(PAGES_MANIFEST.read_text(encoding="utf-8")).values()
    if operation_of(text).kind == "query"
]
DESK = """query Desk($id: ID!) {
  profile(id: $id, purpose: "工单 #1") {
    id tier name phone birthday unionId address { province city street }
    ... on Profile { consents { current { purpose granted } } }
  }
}"""
STAFF = [Role.SUPPORT, Role.COMPLIANCE, Role.SERVICE, Role.ANALYST]


def paths_of(body: dict[str, Any], code: str) -> set[tuple[str, ...]]:
    return {
        tuple(p for p in e["path"] if isinstance(p, str))
        for e in body.get("errors", ())
        if e["extensions"]["code"] == code and "path" in e
    }


async def assert_planned(
    database: Database, client: Any, text: str, role: Role, variables: dict[str, Any]
) -> None:
    plan = plan_document(SCHEMA, text, role)
    assert plan.static
    response = await client.post("/graphql", json={"query": text, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert paths_of(body, "FORBIDDEN") == set(plan.denied_paths()), body.get("errors")
    records = await audit_rows(database, response.headers["x-request-id"])
    reads = [r for r in records if r["action"] == "pii.read"]
    expected = plan.personal_reads()
    if not expected:
        assert reads == []
        return
    assert len(reads) == 1, records
    assert {f["field"]: f["access"] for f in reads[0]["fields"]} == expected


@pytest.mark.parametrize("text", PAGE_QUERIES, ids=lambda t: operation_of(t).label)
async def test_each_page_query_does_for_the_customer_what_its_plan_says(
    database: Database, alice: Person, text: str
) -> None:
    await assert_planned(database, alice.client, text, Role.CUSTOMER, {})


@pytest.mark.parametrize("role", STAFF, ids=lambda r: r.value)
async def test_a_staff_lookup_denies_and_masks_where_its_plan_says(
    database: Database, client_for: ClientFactory, alice: Person, role: Role
) -> None:
    await assert_planned(database, client_for(role), DESK, role, {"id": alice.public_id})


def test_the_plan_of_the_desk_lookup_reads_the_policy_table_per_role() -> None:
    support = plan_document(SCHEMA, DESK, Role.SUPPORT)
    assert support.denied_paths() == [("profile", "birthday"), ("profile", "unionId")]
    assert support.personal_reads() == {
        "address": "masked",
        "birthday": "denied",
        "name": "masked",
        "phone": "masked",
        "unionId": "denied",
    }
    assert plan_document(SCHEMA, DESK, Role.ANALYST).denied_paths() == [("profile",)]


def test_a_document_whose_selection_the_variables_decide_is_not_static() -> None:
    text = "query M($x: Boolean!) { me { id name @include(if: $x) } }"
    assert not plan_document(SCHEMA, text, Role.CUSTOMER).static
