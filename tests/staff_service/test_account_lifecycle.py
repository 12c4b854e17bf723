"""What a service account's credentials are worth over its life, on both databases: a wrong
secret, an unknown client and a revoked account get the same answer; a rotation ends the
old secret and its tokens at once; an expired token is refused; secrets and tokens are stored
only as hashes and never reach the audit log or a log line."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.errors import CdpError
from cdp.staff.models import ServiceAccount, ServiceToken
from cdp.staff.service_accounts import ClientCredentials, create_account, revoke_account
from cdp.staff.sessions import hash_secret
from tests.conftest import ClientFactory, audited, error_codes
from tests.staff_service import (
    LINK,
    audit_rows,
    bearer,
    created,
    every_audit_value,
    revoked,
    rotated,
    token_by_basic,
    token_by_post,
)
from tests.support.raw_bytes import raw_sqlite_bytes, stored_postgres_values

WHO = "{ __typename }"


def assert_invalid_client(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"] == "Client authentication failed"
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert response.headers["www-authenticate"] == 'Basic realm="cdp"'


async def acts(client: httpx.AsyncClient, token: str) -> int:
    response = await client.post("/graphql", json={"query": WHO}, headers=bearer(client, token))
    return response.status_code


async def test_a_wrong_secret_an_unknown_client_and_a_revoked_account_get_one_answer(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database, "orders")
    client = client_for(None)
    wrong = ClientCredentials("orders", credentials.client_id, credentials.client_secret + "x")
    unknown = ClientCredentials("?", "cdpsvc_" + "A" * 24, credentials.client_secret)
    for attempt in (wrong, unknown):
        assert_invalid_client(await token_by_basic(client, attempt))
        assert_invalid_client(await token_by_post(client, attempt))
    await revoked(database, "orders")
    assert_invalid_client(await token_by_basic(client, credentials))
    reasons = [r.detail["reason"] for r in await audit_rows(database, "service.token")]
    assert reasons == ["secret", "secret", "revoked"]  # the unknown client: not recorded


async def test_a_revoked_account_s_token_is_refused_at_the_next_request(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database)
    client = client_for(None)
    token = (await token_by_basic(client, credentials)).json()["access_token"]
    assert await acts(client, token) == 200
    await revoked(database)
    assert await acts(client, token) == 401


async def test_a_rotation_ends_the_old_secret_and_its_tokens_and_the_new_secret_works(
    client_for: ClientFactory, database: Database
) -> None:
    old = await created(database)
    client = client_for(None)
    old_token = (await token_by_basic(client, old)).json()["access_token"]
    new = await rotated(database)
    assert new.client_id == old.client_id and new.client_secret != old.client_secret
    assert await acts(client, old_token) == 401
    assert_invalid_client(await token_by_basic(client, old))
    response = await token_by_basic(client, new)
    assert response.status_code == 200
    assert await acts(client, response.json()["access_token"]) == 200


async def test_an_expired_token_is_refused_and_pruned_at_the_next_issue(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database)
    client = client_for(None)
    token = (await token_by_basic(client, credentials)).json()["access_token"]
    async with database.transaction() as session:
        await session.execute(
            sa.update(ServiceToken)
            .where(col(ServiceToken.token_hash) == hash_secret(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await acts(client, token) == 401
    assert (await token_by_basic(client, credentials)).status_code == 200
    async with database.transaction() as session:
        hashes = (await session.execute(sa.select(col(ServiceToken.token_hash)))).scalars().all()
    assert hash_secret(token) not in hashes and len(hashes) == 1


async def test_each_issue_is_audited_as_the_service_and_refusals_only_for_a_known_client(
    client_for: ClientFactory, database: Database
) -> None:
    credentials = await created(database, "orders")
    client = client_for(None)
    await token_by_basic(client, credentials)
    wrong = ClientCredentials("orders", credentials.client_id, "not-the-secret")
    await token_by_post(client, wrong)
    for garbage in ("cdpsvc_" + "B" * 24, "nonsense", "x" * 200):
        await token_by_post(client, ClientCredentials("?", garbage, "whatever"))
    issued, refused = await audit_rows(database, "service.token")
    assert (issued.actor_subject, issued.actor_role, issued.outcome) == (
        "service:orders",
        "service",
        "ok",
    )
    assert issued.detail["client_id"] == credentials.client_id
    assert (refused.actor_subject, refused.actor_role, refused.outcome) == (
        f"client:{credentials.client_id}",
        "unverified",
        "unauthenticated",
    )
    assert refused.detail == {
        "account": "orders",
        "client_id": credentials.client_id,
        "reason": "secret",
    }


async def test_secrets_and_tokens_never_reach_the_audit_log_or_a_log_line(
    client_for: ClientFactory, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = await created(database)
    client = client_for(None)
    token = (await token_by_post(client, credentials)).json()["access_token"]
    await client.post("/graphql", json={"query": LINK}, headers=bearer(client, token))
    new = await rotated(database)
    await token_by_basic(client, new)
    audit = await every_audit_value(database)
    assert "service_account.rotate" in audit and "service.token" in audit
    logged = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    for secret in (credentials.client_secret, new.client_secret, token, token[6:]):
        assert secret not in audit
        assert secret not in logged


async def test_secrets_and_tokens_are_stored_only_as_hashes(
    client_for: ClientFactory, database: Database, settings: Settings, backend: str
) -> None:
    credentials = await created(database)
    client = client_for(None)
    token = (await token_by_basic(client, credentials)).json()["access_token"]
    await database.dispose()  # SQLite: everything checkpointed into the files
    if backend == "sqlite":
        stored = raw_sqlite_bytes(settings)
    else:
        stored = await stored_postgres_values(database)
    assert hash_secret(credentials.client_secret).encode() in stored
    for secret in (credentials.client_secret, token):
        assert secret.encode() not in stored
        assert secret[8:40].encode() not in stored


async def test_an_account_name_is_checked_and_unique(database: Database) -> None:
    await created(database, "orders")
    for name, code in (("orders", "CONFLICT"), ("Orders", "BAD_USER_INPUT")):
        with pytest.raises(CdpError) as refused:
            async with audited(database) as session:
                await create_account(session=session, name=name)
        assert refused.value.code == code
    for name in ("-lead", "", "a" * 65, "a b", "订单"):
        with pytest.raises(CdpError):
            async with audited(database) as session:
                await create_account(session=session, name=name)
    assert (await created(database, "a" * 64)).name == "a" * 64


async def test_a_revoked_account_stays_revoked_and_keeps_its_name(database: Database) -> None:
    await created(database, "orders")
    await revoked(database, "orders")
    for work in (revoke_account, create_account):
        with pytest.raises(CdpError) as refused:
            async with audited(database) as session:
                await work(session=session, name="orders")
        assert refused.value.code == "CONFLICT"
    with pytest.raises(CdpError) as rotation:
        await rotated(database, "orders")
    assert rotation.value.code == "CONFLICT"
    async with database.transaction() as session:
        row = (await session.execute(sa.select(ServiceAccount))).scalar_one()
    assert row.revoked_at is not None
