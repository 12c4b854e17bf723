"""A staff session cookie on `/graphql`, on both databases: it acts in its role with its
anti-CSRF header and not without, and it stops at once when ended, idle, past its lifetime
or dropped by the directory."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.trail import STAFF_SIGN_IN_ROLE, AuditTrail
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.staff.credentials import CSRF_HEADER
from cdp.staff.models import StaffProvider, StaffSession
from cdp.staff.sessions import (
    DirectoryPerson,
    OpenedSession,
    csrf_token_of,
    open_session,
    revoke,
)
from cdp.unit_of_work import audited_transaction
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, gql

WHO = "{ auditEvents(first: 1) { items { actorSubject } } }"


async def signed_in(
    database: Database, settings: Settings, *roles: Role, who: str = "zhangsan"
) -> OpenedSession:
    person = DirectoryPerson(StaffProvider.DEVELOPMENT, who, roles)
    trail = AuditTrail(
        key=TEST_KEYRING.audit_key,
        actor_subject=person.subject,
        actor_role=STAFF_SIGN_IN_ROLE,
    )
    async with audited_transaction(database, trail) as session:
        return await open_session(session=session, settings=settings, person=person)


def cookie_client(
    client_for: ClientFactory, opened: OpenedSession, *, csrf: str | None = "right"
) -> httpx.AsyncClient:
    client = client_for(None)
    client.cookies.set("cdp_staff", opened.token)
    if csrf is not None:
        client.headers[CSRF_HEADER] = opened.csrf_token if csrf == "right" else csrf
    return client


async def test_a_staff_session_acts_as_its_person_in_its_role(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await signed_in(database, settings, Role.COMPLIANCE)
    body = await gql(cookie_client(client_for, opened), WHO)
    assert "errors" not in body, body
    # The newest record is this request's own read of the log, by the person.
    [record] = body["data"]["auditEvents"]["items"]
    assert record["actorSubject"] == "development:zhangsan"


async def test_a_staff_session_without_its_csrf_header_is_refused(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await signed_in(database, settings, Role.COMPLIANCE)
    for csrf in (None, "forged"):
        response = await cookie_client(client_for, opened, csrf=csrf).post(
            "/graphql", json={"query": WHO}
        )
        assert response.status_code == 403
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN", "reason": "CSRF"}


async def test_a_revoked_session_is_refused_on_its_next_request(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    client = cookie_client(client_for, opened)
    assert "errors" not in await gql(client, "{ __typename }")
    async with audited_transaction(
        database, AuditTrail(key=TEST_KEYRING.audit_key, actor_subject="t", actor_role="operator")
    ) as session:
        assert await revoke(session=session, by="cli:test", public_id=opened.public_id) == 1
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["reason"] == "REVOKED"


async def test_an_idle_session_ends_and_stays_ended(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT)
    idle = utcnow() - timedelta(seconds=settings.staff_idle_timeout_seconds + 5)
    async with database.transaction() as session:
        await session.execute(
            sa.update(StaffSession)
            .where(col(StaffSession.public_id) == opened.public_id)
            .values(last_seen_at=idle)
        )
    client = cookie_client(client_for, opened)
    for _ in range(2):
        response = await client.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["reason"] == "IDLE"


async def test_a_session_with_several_roles_acts_only_once_one_is_chosen(
    client_for: ClientFactory, database: Database, settings: Settings
) -> None:
    opened = await signed_in(database, settings, Role.SUPPORT, Role.COMPLIANCE)
    assert opened.role is None and opened.roles == (Role.SUPPORT, Role.COMPLIANCE)
    body = await gql(cookie_client(client_for, opened), "{ __typename }", status=403)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["extensions"]["reason"] == "ROLE_NOT_CHOSEN"


async def test_an_unknown_session_cookie_is_unauthenticated(client_for: ClientFactory) -> None:
    made_up = "cdpss_" + "x" * 43
    client = client_for(None)
    client.cookies.set("cdp_staff", made_up)
    client.headers[CSRF_HEADER] = csrf_token_of(made_up)
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["reason"] == "UNKNOWN_SESSION"
