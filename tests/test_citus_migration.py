"""Moving an existing single-node database into a Citus cluster, as the README says: demo data
on one node, `cdp migrate` on an empty cluster database (which distributes the tables), then
a data-only `pg_dump` of the node restored through the coordinator; every row arrives and cdp
reads the person back from the shards."""

from __future__ import annotations

import itertools
import os
import subprocess

import asyncpg
import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.db import Database
from cdp.demo import seed_demo_data
from cdp.demo.engine import seeding_database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from tests.conftest import TEST_KEYRING, make_settings
from tests.pg_cluster import PgCluster
from tests.support.citus import CitusCluster, copy_database

pytestmark = pytest.mark.slow
_names = itertools.count()
POINTS = (
    'query P($id: ID) { profile(id: $id, purpose: "migration check") { id points { balance } } }'
)


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        tables = await conn.fetch(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        return {t[0]: await conn.fetchval(f"SELECT count(*) FROM {t[0]}") for t in tables}
    finally:
        await conn.close()


def dump_into(source: PgCluster, name: str, target: PgCluster, target_name: str) -> None:
    """pg_dump --data-only of `name` restored with psql into `target_name` (as postgres)."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    dump = subprocess.run(
        [*as_postgres, str(source.bin_dir / "pg_dump"), "--data-only", "--no-owner",
         "--exclude-table=alembic_version", "-h", "127.0.0.1", "-p", str(source.port),
         "-U", "postgres", name],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    restore = subprocess.run(
        [*as_postgres, str(target.bin_dir / "psql"), "-v", "ON_ERROR_STOP=1", "-q",
         "-h", "127.0.0.1", "-p", str(target.port), "-U", "postgres", target_name],
        input=dump.stdout, capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr.decode()[-2000:]


async def empty(url: str) -> None:
    """Remove the rows the migrations wrote (the privacy notices they register, ...): the
    dump brings the old database's."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        tables = await conn.fetch(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        await conn.execute(f"TRUNCATE {', '.join(t[0] for t in tables)} CASCADE")
    finally:
        await conn.close()


async def balance(url: str, keystore_url: str, public_id: str) -> int:
    settings = make_settings(url, keystore_url=keystore_url)
    database, store = Database(settings), KeyStore(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), store)
    token = issue_token(settings, role=Role.SUPPORT, subject="support-test")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            response = await client.post(
                "/graphql", json={"query": POINTS, "variables": {"id": public_id}}
            )
        body = response.json()
        assert "errors" not in body, body
        return int(body["data"]["profile"]["points"]["balance"])
    finally:
        await database.dispose()
        await store.dispose()


async def test_a_single_node_database_moves_into_the_cluster_whole(
    backend: str,
    database_url: str,
    keystore_url: str,
    pg_cluster: PgCluster | None,
    citus_cluster: CitusCluster | None,
    citus_template: str | None,
) -> None:
    if backend != "postgresql":
        pytest.skip("the single node is PostgreSQL")
    if citus_cluster is None or citus_template is None or pg_cluster is None:
        pytest.skip("Citus is not installed (see the warning above)")
    settings = make_settings(database_url)
    database, store = seeding_database(settings), KeyStore(settings)
    try:
        ids = await seed_demo_data(
            database, KeyringSource.fixed(TEST_KEYRING), keystore=store, profiles=8
        )
    finally:
        await database.dispose()
        await store.dispose()
    name = f"cdp_moved_{os.getpid()}_{next(_names)}"
    cluster_url = await copy_database(citus_cluster, citus_template, name)
    await empty(cluster_url)
    dump_into(pg_cluster, database_url.rsplit("/", 1)[1], citus_cluster.coordinator, name)
    before, after = await counts(database_url), await counts(cluster_url)
    assert after == before
    assert before["profiles"] == 8 and before["events"] > 0 and before["orders"] > 0
    for public_id in ids[:3]:
        assert await balance(cluster_url, keystore_url, public_id) == await balance(
            database_url, keystore_url, public_id
        )
