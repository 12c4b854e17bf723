"""What reads from the replica, against a real primary and hot standby (pg_basebackup -R):
analytics, audience counts and the compliance export read there while it keeps up, their audit
records are written on the primary in the request's transaction, and a standby that lags or is
down leaves them on the primary. The standby's replay is paused to tell the two apart: what is
written afterwards exists on the primary only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.migrations import upgrade_to_head
from cdp.replica import close_replica
from tests.conftest import KEYSTORES, TEST_KEYRING, gql, make_settings
from tests.pg_cluster import PgCluster, find_bin_dir
from tests.support.analytics_seed import names, seeding
from tests.support.analytics_series import series_of
from tests.support.audit_log import audit_rows

pytestmark = pytest.mark.slow

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=4, minute=0, second=0, microsecond=0)
PREVIEW = "query($d: JSON!) { audiencePreview(definition: $d) { count suppressed } }"
EVERYONE = {"all": [{"event": {"type": "page_view", "withinDays": 30}}]}
EXPORT = """mutation($id: ID!) { exportProfile(input: {profileId: $id, purpose: "DSAR-7"}) {
  document } }"""


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PgCluster, PgCluster]]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found")
    primary = PgCluster.start(bin_dir)
    try:

        async def create() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=primary.port, user="postgres")
            try:
                await conn.execute("CREATE DATABASE cdp")
                await conn.execute("CREATE DATABASE cdp_keys")
            finally:
                await conn.close()
            store = KeyStore(make_settings(primary.url("cdp_keys")), primary.url("cdp_keys"))
            try:
                await store.upgrade()
            finally:
                await store.dispose()

        asyncio.run(create())
        KEYSTORES[primary.url("cdp")] = primary.url("cdp_keys")
        upgrade_to_head(make_settings(primary.url("cdp")))
        standby = PgCluster.standby_of(primary)
        try:
            yield primary, standby
        finally:
            standby.stop()
    finally:
        primary.stop()


@pytest.fixture(scope="module")
def settings(pair: tuple[PgCluster, PgCluster]) -> Settings:
    primary, standby = pair
    # A lag allowance of an hour: a paused standby stays in use, so what it lacks shows.
    return make_settings(
        primary.url("cdp"),
        read_database_url=standby.url("cdp"),
        read_max_lag_seconds=3600,
        analytics_min_group_size=5,
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Database, KeyStore, Any]]:
    database, keystore = Database(settings), KeyStore(settings)
    try:
        keys = KeyringSource.fixed(TEST_KEYRING)
        yield database, keystore, create_app(settings, database, keys, keystore)
    finally:
        await close_replica(database)
        await keystore.dispose()
        await database.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[tuple[Database, KeyStore, Any]]:
    async with serving(settings) as served:
        yield served


def client(settings: Settings, asgi: Any, role: Role) -> httpx.AsyncClient:
    token = issue_token(settings, role=role, subject=f"{role.value}-replica")
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi),
        base_url="http://cdp.test",
        headers={"authorization": f"Bearer {token}"},
    )


async def standby_has(standby: PgCluster, query: str, expected: int) -> bool:
    conn = await asyncpg.connect(standby.url("cdp").replace("+asyncpg", ""))
    try:
        for _ in range(200):
            if await conn.fetchval(query) == expected:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await conn.close()


@asynccontextmanager
async def replay_paused(standby: PgCluster) -> AsyncIterator[None]:
    conn = await asyncpg.connect(standby.url("cdp").replace("+asyncpg", ""))
    try:
        await conn.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_wal_replay_resume()")
    finally:
        await conn.close()


async def seed_people(database: Database, keystore: KeyStore, prefix: str, n: int) -> list[str]:
    async with seeding(database, Vault(KeyringSource.fixed(TEST_KEYRING), keystore)) as seed:
        for name in names(prefix, n):
            await seed.join(name, DAY - timedelta(days=1))
            await seed.act(name, DAY)
        return [p.public_id for p in seed.people.values()]


def active(points: list[dict[str, Any]]) -> int:
    return sum(c["people"] or 0 for p in points if p["released"] for c in p["cells"])


async def test_counts_and_the_export_read_the_standby_and_their_records_go_to_the_primary(
    app: tuple[Database, KeyStore, Any], settings: Settings, pair: tuple[PgCluster, PgCluster]
) -> None:
    database, keystore, asgi = app
    _, standby = pair
    first = await seed_people(database, keystore, "early", 6)
    assert await standby_has(standby, "SELECT count(*) FROM profiles", 6)
    async with replay_paused(standby):
        await seed_people(database, keystore, "late", 6)  # on the primary only
        async with seeding(database, Vault(KeyringSource.fixed(TEST_KEYRING), keystore)) as seed:
            await seed.again("early0", first[0])
            await seed.act("early0", DAY + timedelta(hours=1))
        async with client(settings, asgi, Role.MARKETER) as marketer:
            body = await gql(marketer, PREVIEW, {"d": EVERYONE})
            assert body["data"]["audiencePreview"]["count"] == 6, body
        async with client(settings, asgi, Role.ANALYST) as analyst:
            day = DAY.date().isoformat()
            assert active(await series_of(analyst, "ACTIVE_HOURS", "DAY", day, day)) == 6
        async with client(settings, asgi, Role.COMPLIANCE) as officer:
            asked = {"query": EXPORT, "variables": {"id": first[0]}}
            response = await officer.post("/graphql", json=asked)
            document = response.json()["data"]["exportProfile"]["document"]
            assert len(document["events"]) == 1, document  # the second is on the primary only
            records = await audit_rows(database, response.headers["x-request-id"])
            assert [(r["action"], r["purpose"]) for r in records] == [("export", "DSAR-7")]
    assert await standby_has(standby, "SELECT count(*) FROM profiles", 12)
    async with client(settings, asgi, Role.MARKETER) as marketer:
        assert (await gql(marketer, PREVIEW, {"d": EVERYONE}))["data"]["audiencePreview"][
            "count"
        ] == 12
    previews = [r for r in await audit_rows(database) if r["action"] == "audience.preview"]
    assert len(previews) == 2  # each count recorded once, on the primary


async def test_a_standby_that_is_down_or_behind_the_period_leaves_the_reads_on_the_primary(
    app: tuple[Database, KeyStore, Any], settings: Settings, pair: tuple[PgCluster, PgCluster]
) -> None:
    database, keystore, asgi = app
    _, standby = pair
    async with database.transaction() as session:
        before = int(await session.scalar(sa.text("SELECT count(*) FROM profiles")) or 0)
    standby.stop_server()
    try:
        await seed_people(database, keystore, "while-down", 2)
        async with client(settings, asgi, Role.MARKETER) as marketer:
            body = await gql(marketer, PREVIEW, {"d": EVERYONE})
            assert body["data"]["audiencePreview"]["count"] == before + 2, body
    finally:
        standby.start_server()


async def test_a_period_that_ended_within_the_allowed_lag_is_computed_on_the_primary(
    settings: Settings, pair: tuple[PgCluster, PgCluster]
) -> None:
    _, standby = pair
    # Yesterday ended (in the analytics time zone) less than four days ago.
    patient = settings.model_copy(update={"read_max_lag_seconds": 4 * 86400})
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    moment = datetime.combine(yesterday, datetime.min.time(), UTC) + timedelta(hours=6)
    async with serving(patient) as (database, keystore, asgi), replay_paused(standby):
        async with seeding(database, Vault(KeyringSource.fixed(TEST_KEYRING), keystore)) as seed:
            for name in names("yesterday", 5):
                await seed.join(name, moment - timedelta(days=1))
                await seed.act(name, moment)
        async with client(patient, asgi, Role.ANALYST) as analyst:
            day = yesterday.isoformat()
            assert active(await series_of(analyst, "ACTIVE_HOURS", "DAY", day, day)) == 5
