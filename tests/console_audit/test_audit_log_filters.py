"""`auditEvents` filtered by the actor's role and by the outcome, as the audit desk asks: in
the database's query, combined with the other filters, paged, and kept in the audit.read
record's filters (both databases)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cdp.audit.actions import AuditOutcome, AuditRole
from cdp.db import Database
from tests.conftest import error_codes
from tests.support.audit_log import EVENTS, Person, audit_rows, call, link_id, only_record

FILTERED = """
query Filtered($first: Int! = 100, $after: String, $role: AuditRole, $outcome: AuditOutcome,
               $action: AuditAction, $actor: String) {
  auditEvents(first: $first, after: $after, role: $role, outcome: $outcome, action: $action,
              actor: $actor) {
    items { seq actorRole outcome action }
    pageInfo { endCursor hasNextPage }
  }
}
"""


@pytest.fixture
async def mixed_log(
    database: Database,
    alice: Person,
    support_client: httpx.AsyncClient,
    service_client: httpx.AsyncClient,
) -> list[dict[str, Any]]:
    """Records of several roles, some refused."""
    await call(alice.client, "{ me { phone } }")
    await call(support_client, '{ profile(phone: "13700000001", purpose: "T-1 核对") { name } }')
    await call(support_client, "{ auditEvents(first: 1) { items { seq } } }")  # refused
    await call(service_client, "{ auditEvents(first: 1) { items { seq } } }")  # refused
    await link_id(service_client, "oAuditFilters000000000000001")
    return await audit_rows(database)


def seqs(body: dict[str, Any], log: list[dict[str, Any]] | None = None) -> list[int]:
    """The seqs answered; with `log`, those of its records (not the audit.read records that
    reading it adds)."""
    assert "errors" not in body, body
    found = [item["seq"] for item in body["data"]["auditEvents"]["items"]]
    return found if log is None else [seq for seq in found if seq <= log[-1]["seq"]]


def newest_first(rows: list[dict[str, Any]]) -> list[int]:
    return sorted((row["seq"] for row in rows), reverse=True)


async def test_audit_events_filter_by_the_actors_role(
    mixed_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    roles = {row["actor_role"] for row in mixed_log}
    assert {"customer", "support", "service"} <= roles
    for role in AuditRole:
        body, _ = await call(compliance_client, FILTERED, {"role": role.name})
        expected = newest_first([r for r in mixed_log if r["actor_role"] == role.value])
        assert seqs(body, mixed_log) == expected, role
        assert {i["actorRole"] for i in body["data"]["auditEvents"]["items"]} <= {role.name}


async def test_audit_events_filter_by_outcome_and_with_the_other_filters(
    mixed_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    forbidden = [r for r in mixed_log if r["outcome"] == "forbidden"]
    assert len(forbidden) == 2
    body, _ = await call(compliance_client, FILTERED, {"outcome": "FORBIDDEN"})
    assert seqs(body) == newest_first(forbidden)
    body, _ = await call(compliance_client, FILTERED, {"outcome": "OK"})
    assert seqs(body, mixed_log) == newest_first([r for r in mixed_log if r["outcome"] == "ok"])
    assert len(seqs(body)) == len(seqs(body, mixed_log)) + 1  # the audit.read just written
    for outcome in (AuditOutcome.BROKEN, AuditOutcome.SUPPRESSED):
        body, _ = await call(compliance_client, FILTERED, {"outcome": outcome.name})
        assert seqs(body) == []
    # Role, outcome, action and actor combine.
    given = {"role": "SUPPORT", "outcome": "FORBIDDEN"}
    body, _ = await call(compliance_client, FILTERED, given)
    [refused] = [r for r in forbidden if r["actor_role"] == "support"]
    assert seqs(body) == [refused["seq"]]
    given = {**given, "action": "QUERY_AUDIT_EVENTS", "actor": "support-test"}
    body, _ = await call(compliance_client, FILTERED, given)
    assert seqs(body) == [refused["seq"]]
    body, _ = await call(compliance_client, FILTERED, {**given, "actor": "service-test"})
    assert seqs(body) == []
    body, _ = await call(compliance_client, FILTERED, {"role": "SUPPORT", "outcome": "OK"})
    assert seqs(body, mixed_log) == newest_first(
        [r for r in mixed_log if r["actor_role"] == "support" and r["outcome"] == "ok"]
    )


async def test_a_filtered_walk_pages_without_gaps_or_duplicates(
    mixed_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    walked: list[int] = []
    after: str | None = None
    for _ in range(20):
        body, _ = await call(
            compliance_client, FILTERED, {"first": 1, "after": after, "outcome": "OK"}
        )
        walked.extend(seqs(body, mixed_log))
        info = body["data"]["auditEvents"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    ok_rows = [r for r in mixed_log if r["outcome"] == "ok"]
    assert len(ok_rows) > 2 and walked == newest_first(ok_rows)


async def test_the_role_and_outcome_filters_are_kept_in_the_audit_read_record(
    database: Database, mixed_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    body, request_id = await call(
        compliance_client, FILTERED, {"role": "SUPPORT", "outcome": "FORBIDDEN"}
    )
    row = await only_record(database, request_id)
    assert (row["action"], row["outcome"]) == ("audit.read", "ok")
    assert row["detail"] == {
        "filters": {"role": "support", "outcome": "forbidden"},
        "returned": len(seqs(body)),
    }


@pytest.mark.parametrize(
    "variables",
    [{"role": "ROOT"}, {"outcome": "MAYBE"}, {"role": "support"}, {"outcome": 3}],
)
async def test_an_unknown_role_or_outcome_is_refused_with_a_code(
    compliance_client: httpx.AsyncClient, variables: dict[str, Any]
) -> None:
    body, _ = await call(compliance_client, FILTERED, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "data" not in body or body["data"] is None


async def test_the_contracts_events_document_still_reads_the_whole_log(
    mixed_log: list[dict[str, Any]], compliance_client: httpx.AsyncClient
) -> None:
    body, _ = await call(compliance_client, EVENTS, {"first": 100})
    assert len(body["data"]["auditEvents"]["items"]) == len(mixed_log)
