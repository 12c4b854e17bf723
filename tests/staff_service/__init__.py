"""Service accounts and `POST /auth/token`: what their tests share (accounts made as an
operator would, and the two ways a client authenticates)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx
import sqlalchemy as sa
from sqlmodel import col

from cdp.audit.models import AuditEvent
from cdp.db import Database
from cdp.staff.service_accounts import (
    ClientCredentials,
    create_account,
    revoke_account,
    rotate_secret,
)
from tests.conftest import audited

FORM = {"content-type": "application/x-www-form-urlencoded"}
GRANT = {"grant_type": "client_credentials"}
# A service-only mutation: it names who acted in the audit log.
LINK = """mutation { linkIdentity(input: {channel: MINI_PROGRAM, appId: "wx1111111111111111",
  openId: "oService_account_flow_000001"}) { id } }"""


async def created(database: Database, name: str = "orders") -> ClientCredentials:
    async with audited(database) as session:
        return await create_account(session=session, name=name)


async def rotated(database: Database, name: str = "orders") -> ClientCredentials:
    async with audited(database) as session:
        return await rotate_secret(session=session, name=name)


async def revoked(database: Database, name: str = "orders") -> None:
    async with audited(database) as session:
        await revoke_account(session=session, name=name)


def basic(client_id: str, secret: str) -> dict[str, str]:
    """client_secret_basic: each part form-urlencoded, then base64 (RFC 6749 §2.3.1)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"authorization": "Basic " + base64.b64encode(pair).decode()}


async def token_by_basic(
    client: httpx.AsyncClient, credentials: ClientCredentials, **form: str
) -> httpx.Response:
    return await client.post(
        "/auth/token",
        data={**GRANT, **form},
        headers=basic(credentials.client_id, credentials.client_secret),
    )


async def token_by_post(
    client: httpx.AsyncClient, credentials: ClientCredentials, **form: str
) -> httpx.Response:
    data = {
        **GRANT,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        **form,
    }
    return await client.post("/auth/token", data=data)


def bearer(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    return {**client.headers, "authorization": f"Bearer {token}"}


async def audit_rows(database: Database, *actions: str) -> list[AuditEvent]:
    async with database.transaction() as session:
        query = sa.select(AuditEvent).order_by(col(AuditEvent.seq))
        if actions:
            query = query.where(col(AuditEvent.action).in_(actions))
        return list((await session.execute(query)).scalars())


async def every_audit_value(database: Database) -> str:
    """Every audit row, every column, as text: what a secret must never be part of."""
    rows: list[Any] = await audit_rows(database)
    return "\n".join(repr(row.model_dump()) for row in rows)
