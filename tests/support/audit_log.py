"""Reading the access audit log: its rows and the auditEvents query, calls with a request id, and
two people (the alice and bob fixtures) to read and change."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.auth import Role
from cdp.db import Database
from cdp.profiles.models import Profile
from tests.conftest import TEST_JWT_SECRET, ClientFactory
from tests.support.people import MINI

AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
LINK_ID = """
mutation Link($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }
"""
UPDATE_ID = """
mutation Update($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { id } }
"""
EVENTS = """
query Events($first: Int! = 20, $after: String, $actor: String, $profileId: ID,
             $surrogate: Int, $action: AuditAction, $from: DateTime, $to: DateTime) {
  auditEvents(first: $first, after: $after, actor: $actor, profileId: $profileId,
              profileSurrogateId: $surrogate, action: $action, from: $from, to: $to) {
    items {
      seq occurredAt requestId actorSubject actorRole action profileSurrogateId
      fields { field access } purpose outcome detail
    }
    pageInfo { endCursor hasNextPage }
  }
}
"""
CANARY_PHONE = "13600009999"
CANARY_NAME = "欧阳金丝雀"
CANARY_UNION = "oCanaryUnionAudit00000000001"
CANARY_OPENID = "oCanaryOpenIdAudit0000000001"


async def call(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> tuple[dict[str, Any], str]:
    """POST a document; the JSON body and the request id the server gave it."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == status, response.text
    return response.json(), response.headers["x-request-id"]


async def audit_rows(database: Database, request_id: str | None = None) -> list[dict[str, Any]]:
    """Audit records in chain order, all of them or those of one request."""
    query = sa.select(AUDIT).order_by(AUDIT.c.seq)
    if request_id is not None:
        query = query.where(AUDIT.c.request_id == request_id)
    async with database.transaction() as session:
        return [dict(row) for row in (await session.execute(query)).mappings()]


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """What a record says, without its chain position and time."""
    keys = ("actor_subject", "actor_role", "action", "profile_id", "fields", "purpose", "outcome")
    return {key: row[key] for key in keys}


async def only_record(database: Database, request_id: str) -> dict[str, Any]:
    rows = await audit_rows(database, request_id)
    assert len(rows) == 1, rows
    assert rows[0]["request_id"] == request_id
    occurred = rows[0]["occurred_at"]
    assert occurred.tzinfo is not None
    assert abs(datetime.now(UTC) - occurred) < timedelta(minutes=5)
    return rows[0]


async def surrogate_of(database: Database, public_id: str) -> int:
    async with database.transaction() as session:
        found = await session.scalar(
            sa.select(col(Profile.id)).where(col(Profile.public_id) == public_id)
        )
    assert found is not None
    return int(found)


async def link_id(
    client: httpx.AsyncClient,
    open_id: str,
    union_id: str | None = None,
    app_id: str = MINI,
    channel: str = "MINI_PROGRAM",
) -> tuple[str, str]:
    """linkIdentity selecting only `id`: (public id, request id)."""
    body, request_id = await call(
        client,
        LINK_ID,
        {"input": {"channel": channel, "appId": app_id, "openId": open_id, "unionId": union_id}},
    )
    assert "errors" not in body, body
    return body["data"]["linkIdentity"]["id"], request_id


class Person:
    """A profile with a phone and a name, and the customer client that owns it."""

    def __init__(self, public_id: str, surrogate: int, client: httpx.AsyncClient) -> None:
        self.public_id = public_id
        self.surrogate = surrogate
        self.client = client


async def person(
    database: Database,
    service_client: httpx.AsyncClient,
    client_for: ClientFactory,
    n: int,
    *,
    phone: str | None = None,
    name: str | None = None,
) -> Person:
    public_id, _ = await link_id(service_client, f"oAuditPerson{n:016d}", f"uAuditPerson{n:016d}")
    customer = client_for(Role.CUSTOMER, subject=public_id)
    body, _ = await call(
        customer,
        UPDATE_ID,
        {
            "input": {
                "phone": phone or f"1370000{n:04d}",
                "name": name or f"审计{n}",
                "birthday": "1990-05-17",
            }
        },
    )
    assert "errors" not in body, body
    return Person(public_id, await surrogate_of(database, public_id), customer)


@pytest.fixture
async def alice(
    database: Database, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> Person:
    return await person(database, service_client, client_for, 1, phone="13700000001")


@pytest.fixture
async def bob(
    database: Database, service_client: httpx.AsyncClient, client_for: ClientFactory
) -> Person:
    return await person(database, service_client, client_for, 2, phone="13700000002")


def token_with(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    now = int(time.time())
    full = {"iat": now - 60, "exp": now + 600, "iss": "cdp", **claims}
    return jwt.encode(full, secret, algorithm="HS256")


async def post_with_header(
    client_for: ClientFactory, authorization: str | None, query: str = "{ me { phone } }"
) -> httpx.Response:
    client = client_for(None)
    headers = {"authorization": authorization} if authorization is not None else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)
