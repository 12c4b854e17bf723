"""`staffSessions` and `revokeStaffSessions` for compliance, on both databases: the live
sessions page by page, one session or all of a person's ended at their next request,
audited by the officer; every other role refused."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.staff.models import SessionEnd, StaffProvider, StaffSession
from tests.conftest import ClientFactory, error_codes, gql
from tests.support.staff_desk import open_staff_session, records_of, session_row, with_cookie

SESSIONS = """
query Sessions($first: Int! = 20, $after: String) {
  staffSessions(first: $first, after: $after) {
    items { id person provider role roles createdAt lastSeenAt expiresAt }
    pageInfo { endCursor hasNextPage }
  }
}
"""
REVOKE = """
mutation Revoke($input: RevokeStaffSessionsInput!) { revokeStaffSessions(input: $input) }
"""


async def test_compliance_lists_the_live_staff_sessions_newest_first(
    compliance_client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    older = await open_staff_session(database, settings, Role.SUPPORT, who="lisi")
    newer = await open_staff_session(
        database, settings, Role.SUPPORT, Role.COMPLIANCE, who="sub-7", provider=StaffProvider.OIDC
    )
    ended = await open_staff_session(database, settings, Role.ANALYST, who="gone")
    idle = await open_staff_session(database, settings, Role.ANALYST, who="idle")
    async with database.transaction() as session:
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == ended.public_id)
            .values(ended_reason=SessionEnd.SIGNED_OUT, ended_at=utcnow())
        )
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == idle.public_id)
            .values(last_seen_at=utcnow() - timedelta(hours=2))
        )
    body = await gql(compliance_client, SESSIONS)
    assert "errors" not in body, body
    items = body["data"]["staffSessions"]["items"]
    assert [item["id"] for item in items] == [newer.public_id, older.public_id]
    first = items[0]
    assert (first["person"], first["provider"], first["role"], first["roles"]) == (
        "oidc:sub-7",
        "OIDC",
        None,
        ["SUPPORT", "COMPLIANCE"],
    )
    assert items[1]["role"] == "SUPPORT"
    assert older.token not in str(body)
    [record] = await records_of(database, "staff.list")
    assert (record.actor_role, record.detail) == ("compliance", {"returned": 2})


async def test_staff_sessions_are_paged_with_a_cursor(
    compliance_client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    opened = [
        await open_staff_session(database, settings, Role.SUPPORT, who=f"agent{i}")
        for i in range(5)
    ]
    seen: list[str] = []
    after = None
    for _ in range(3):
        page = (await gql(compliance_client, SESSIONS, {"first": 2, "after": after}))["data"][
            "staffSessions"
        ]
        seen += [item["id"] for item in page["items"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [o.public_id for o in reversed(opened)]
    body = await gql(compliance_client, SESSIONS, {"first": 2, "after": "forged"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(compliance_client, SESSIONS, {"first": 101})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_compliance_revokes_one_session_and_it_is_refused_at_its_next_request(
    client_for: ClientFactory,
    compliance_client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    other = await open_staff_session(database, settings, Role.SUPPORT)
    agent = with_cookie(client_for, opened)
    assert "errors" not in await gql(agent, "{ __typename }")
    body = await gql(compliance_client, REVOKE, {"input": {"sessionId": opened.public_id}})
    assert body == {"data": {"revokeStaffSessions": 1}}
    response = await agent.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["reason"] == "REVOKED"
    row = await session_row(database, opened.public_id)
    assert (row.ended_reason, row.ended_by) == (SessionEnd.REVOKED, "compliance-test")
    [record] = await records_of(database, "staff.revoke")
    assert (record.actor_subject, record.actor_role) == ("compliance-test", "compliance")
    assert record.detail["session"] == opened.public_id
    assert record.detail["person"] == "wecom:zhangsan"
    assert (await session_row(database, other.public_id)).ended_reason is None
    again = await gql(compliance_client, REVOKE, {"input": {"sessionId": opened.public_id}})
    assert again == {"data": {"revokeStaffSessions": 0}}  # ended already
    last = (await records_of(database, "staff.revoke"))[-1]
    assert last.detail == {"session": opened.public_id, "ended": 0}


async def test_compliance_revokes_every_session_of_a_person(
    compliance_client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    laptop = await open_staff_session(database, settings, Role.SUPPORT, who="zhangsan")
    phone = await open_staff_session(database, settings, Role.SUPPORT, who="zhangsan")
    colleague = await open_staff_session(database, settings, Role.SUPPORT, who="lisi")
    body = await gql(compliance_client, REVOKE, {"input": {"person": "wecom:zhangsan"}})
    assert body == {"data": {"revokeStaffSessions": 2}}
    for opened in (laptop, phone):
        assert (await session_row(database, opened.public_id)).ended_reason is SessionEnd.REVOKED
    assert (await session_row(database, colleague.public_id)).ended_reason is None
    body = await gql(compliance_client, REVOKE, {"input": {"person": "oidc:nobody"}})
    assert body == {"data": {"revokeStaffSessions": 0}}
    records = await records_of(database, "staff.revoke")
    assert [r.detail.get("ended") for r in records] == [None, None, 0]


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({}, "BAD_USER_INPUT"),
        ({"sessionId": "ss_0", "person": "wecom:zhangsan"}, "BAD_USER_INPUT"),
        ({"person": "zhangsan"}, "BAD_USER_INPUT"),
        ({"person": "ldap:zhangsan"}, "BAD_USER_INPUT"),
        ({"person": "wecom:"}, "BAD_USER_INPUT"),
        ({"sessionId": "ss_" + "0" * 40}, "BAD_USER_INPUT"),
        ({"sessionId": "ss_unknown"}, "NOT_FOUND"),
    ],
)
async def test_a_revocation_names_exactly_one_known_session_or_person(
    compliance_client: httpx.AsyncClient, database: Database, given: dict[str, str], code: str
) -> None:
    body = await gql(compliance_client, REVOKE, {"input": given})
    assert body["data"] == {"revokeStaffSessions": None}
    assert error_codes(body) == [code]
    [record] = await records_of(database, "staff.revoke")
    assert (record.actor_role, record.outcome) == ("compliance", code.lower())


@pytest.mark.parametrize(
    "role", [Role.SUPPORT, Role.ANALYST, Role.MARKETER, Role.SERVICE, Role.CUSTOMER]
)
async def test_every_other_role_is_refused_the_sessions_and_their_revocation(
    client_for: ClientFactory, database: Database, settings: Settings, role: Role
) -> None:
    opened = await open_staff_session(database, settings, Role.SUPPORT)
    client = client_for(role, subject="p_someone" if role is Role.CUSTOMER else None)
    body = await gql(client, SESSIONS)
    assert body["data"] == {"staffSessions": None}
    assert error_codes(body) == ["FORBIDDEN"]
    body = await gql(client, REVOKE, {"input": {"sessionId": opened.public_id}})
    assert body["data"] == {"revokeStaffSessions": None}
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await session_row(database, opened.public_id)).ended_reason is None
    refused = [
        r.action
        for r in (
            *await records_of(database, "query.staffSessions"),
            *await records_of(database, "mutation.revokeStaffSessions"),
        )
    ]
    assert refused == ["query.staffSessions", "mutation.revokeStaffSessions"]


async def test_a_support_session_cookie_is_refused_the_revocation_too(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    agent = await open_staff_session(database, settings, Role.SUPPORT, who="agent")
    target = await open_staff_session(database, settings, Role.COMPLIANCE, who="officer")
    body = await gql(
        with_cookie(client_for, agent), REVOKE, {"input": {"sessionId": target.public_id}}
    )
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await session_row(database, target.public_id)).ended_reason is None
