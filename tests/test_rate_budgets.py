"""Rate budgets shared by every instance: two apps (two API servers) spend from one budget in
Redis (Debian's redis-server, installed when missing) or, without Redis, in PostgreSQL; Redis
taken away mid-test leaves each process limited by its own buckets, never unlimited; no
address or subject is written where the budgets are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.rate_stores import FALLBACKS, LocalStore, PostgresStore, RedisStore, store_for
from tests.conftest import TEST_KEYRING, make_settings
from tests.support.redis_server import RedisServer, redis_server

# On a Citus cluster too: the guarantees hold across workers (tests/support/citus.py).
pytestmark = pytest.mark.citus

SUBJECT = "analyst-budget-7f3a"
TYPENAME = {"query": "{ __typename }"}
__all__ = ["redis_server"]  # the fixture, used by name


class Instances:
    """Two API servers on one database, each its own app and pool."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.databases = [Database(settings), Database(settings)]
        self.stores = [KeyStore(settings), KeyStore(settings)]
        self.apps = [
            create_app(settings, db, KeyringSource.fixed(TEST_KEYRING), store)
            for db, store in zip(self.databases, self.stores, strict=True)
        ]

    async def ask(self, instance: int, subject: str = SUBJECT) -> int:
        token = issue_token(self.settings, role=Role.ANALYST, subject=subject)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.apps[instance]),
            base_url="http://cdp.test",
            headers={"authorization": f"Bearer {token}"},
        ) as client:
            return (await client.post("/graphql", json=TYPENAME)).status_code

    async def close(self) -> None:
        for db in self.databases:
            await store_for(self.settings, db).aclose()
            await db.dispose()
        for store in self.stores:
            await store.dispose()


@pytest.fixture
async def instances(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made: list[Instances] = []

    def make(**overrides: Any) -> Instances:
        made.append(Instances(make_settings(database_url, rate_limit_per_minute=4, **overrides)))
        return made[-1]

    yield make
    for each in made:
        await each.close()


async def test_two_instances_spend_from_one_budget_in_postgresql_without_redis(
    instances: Any, backend: str
) -> None:
    pair = instances()
    kind = type(store_for(pair.settings, pair.databases[0]))
    if backend == "sqlite":  # the embedded default runs as one process: its own buckets
        assert kind is LocalStore
        return
    assert kind is PostgresStore
    statuses = [await pair.ask(n % 2) for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    async with pair.databases[0].transaction() as session:
        keys = list(await session.scalars(sa.text("SELECT key FROM rate_budgets")))
    assert keys and all(len(k) == 64 and SUBJECT not in k for k in keys)


async def test_two_instances_spend_from_one_budget_in_redis(
    instances: Any, redis_server: RedisServer, backend: str
) -> None:
    pair = instances(redis_url=redis_server.url)
    assert isinstance(store_for(pair.settings, pair.databases[0]), RedisStore)
    statuses = [await pair.ask(n % 2, subject=f"analyst-redis-1-{backend}") for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    redis = store_for(pair.settings, pair.databases[0])
    assert isinstance(redis, RedisStore)
    keys = [k.decode() for k in await redis.redis.keys("cdp:budget:*")]
    assert keys and not any("analyst-redis" in k for k in keys)


async def test_redis_taken_away_leaves_each_process_limited_never_unlimited(
    instances: Any, redis_server: RedisServer, backend: str
) -> None:
    pair = instances(redis_url=redis_server.url)
    assert await pair.ask(0, subject=f"analyst-redis-2-{backend}") == 200
    fallbacks = FALLBACKS._value.get()
    redis_server.stop()
    try:
        statuses = [await pair.ask(0, subject=f"analyst-redis-3-{backend}") for _ in range(6)]
        # This process's own bucket of four: the rest refused, as before Redis went away.
        assert statuses == [200, 200, 200, 200, 429, 429]
        assert FALLBACKS._value.get() >= fallbacks + 6
    finally:
        redis_server.start()
    # Back: the shared budget again (a fresh subject, so the local buckets say nothing).
    assert [await pair.ask(n % 2, subject=f"analyst-redis-4-{backend}") for n in range(5)] == [
        200,
        200,
        200,
        200,
        429,
    ]
