"""cdp behind PgBouncer in transaction mode (Debian's pgbouncer, installed when missing): the
migrations, concurrent requests whose transactions share two server connections, and the
audit sealer all work with `CDP_DATABASE_POOLER=transaction`; the stock connection settings
do not (PostgreSQL only)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.audit.signing import load_public_keys, public_keys_document
from cdp.audit.tree import verify_tree
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.migrations import upgrade_to_head
from tests.conftest import TEST_KEYRING, fresh_pg_database, make_settings
from tests.pg_cluster import PgCluster
from tests.support.pgbouncer import find_or_install_pgbouncer, pgbouncer
from tests.support.sealing import sealed

pytestmark = pytest.mark.slow
LINK = "mutation L($input: LinkIdentityInput!) { linkIdentity(input: $input) { id } }"
ME = "{ me { id tier points { balance } identities { channel } } }"
PUBLIC = load_public_keys(json.dumps(public_keys_document(TEST_KEYRING)))


@pytest.fixture(scope="module")
def bouncer(pg_cluster: PgCluster | None) -> Iterator[tuple[PgCluster, int]]:
    if pg_cluster is None:
        pytest.skip("PostgreSQL server binaries not found")
    binary, why = find_or_install_pgbouncer()
    if binary is None:
        pytest.skip(why)
    with pgbouncer(binary, pg_cluster, server_connections=2) as port:
        yield pg_cluster, port


def through(url: str, cluster: PgCluster, port: int) -> str:
    return url.replace(f"127.0.0.1:{cluster.port}/", f"127.0.0.1:{port}/")


@pytest.fixture
async def pooled(
    bouncer: tuple[PgCluster, int], pg_template: str | None, pg_keystore_template: str | None
) -> AsyncIterator[Settings]:
    cluster, port = bouncer
    database = through(await fresh_pg_database(cluster, pg_template), cluster, port)
    keys = through(await fresh_pg_database(cluster, pg_keystore_template), cluster, port)
    yield make_settings(database, keystore_url=keys, database_pooler="transaction", db_pool_size=8)


async def test_the_migrations_run_through_pgbouncer(bouncer: tuple[PgCluster, int]) -> None:
    cluster, port = bouncer
    empty = through(await fresh_pg_database(cluster, None), cluster, port)
    settings = make_settings(empty, database_pooler="transaction")
    await asyncio.to_thread(upgrade_to_head, settings)
    database = Database(settings)
    try:
        async with database.transaction() as session:
            version = await session.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert version
    finally:
        await database.dispose()


async def test_concurrent_requests_share_two_server_connections_without_a_failure(
    pooled: Settings,
) -> None:
    database, store = Database(pooled), KeyStore(pooled)
    app = create_app(pooled, database, KeyringSource.fixed(TEST_KEYRING), store)
    service = issue_token(pooled, role=Role.SERVICE, subject="svc-pool")

    def client(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        )

    async def link(n: int) -> str:
        async with client(service) as svc:
            variables = {
                "input": {"channel": "MINI_PROGRAM", "appId": "wxpool", "openId": f"oPool{n:020d}"}
            }
            body = (await svc.post("/graphql", json={"query": LINK, "variables": variables})).json()
        assert "errors" not in body, body
        return str(body["data"]["linkIdentity"]["id"])

    async def me(public_id: str) -> dict[str, Any]:
        token = issue_token(pooled, role=Role.CUSTOMER, subject=public_id)
        async with client(token) as customer:
            response = await customer.post("/graphql", json={"query": ME})
        assert response.status_code == 200
        return dict(response.json())

    try:
        people = await asyncio.gather(*(link(n) for n in range(24)))
        answers = await asyncio.gather(*(me(p) for p in people * 2))
        assert [a for a in answers if "errors" in a] == []
        assert {a["data"]["me"]["id"] for a in answers} == set(people)
        await sealed(database)  # the sealer's transaction-scoped lock holds through the pooler
        verdict = await verify_tree(database, PUBLIC)
        assert verdict.intact and verdict.unsealed == 0 and verdict.size >= 72
    finally:
        await database.dispose()
        await store.dispose()


async def test_the_stock_connection_settings_are_refused_by_pgbouncer(
    bouncer: tuple[PgCluster, int], pg_template: str | None
) -> None:
    cluster, port = bouncer
    url = through(await fresh_pg_database(cluster, pg_template), cluster, port)
    database = Database(make_settings(url))  # database_pooler "none": settings at start-up
    try:
        with pytest.raises((asyncpg.PostgresError, sa.exc.DBAPIError, OSError)):
            async with database.transaction() as session:
                await session.execute(sa.text("SELECT 1"))
    finally:
        await database.dispose()
