"""WeCom's access token in Redis (a real redis-server): a second instance takes the token the
first fetched from Redis even when the database's row is gone, a token due for refresh there
is fetched anew, and with Redis taken away the database's copy serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.staff.models import ProviderToken
from cdp.staff.wecom_tokens import WecomTokens
from cdp.token_cache import token_cache_for
from tests.conftest import TEST_KEYRING
from tests.support.redis_server import RedisServer, database_with_redis, redis_server

__all__ = ["redis_server"]  # the fixture, used by name
NOW = datetime.now(UTC)


class Gettoken:
    """gettoken's stand-in: numbered tokens living two hours, counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> tuple[str, int]:
        self.calls += 1
        return f"wecom-token-{self.calls}", 7200


@pytest.fixture
async def shared(settings: Settings, redis_server: RedisServer) -> AsyncIterator[Database]:
    async with database_with_redis(settings, redis_server) as database:
        yield database


def tokens(database: Database, fetch: Gettoken, now: datetime = NOW) -> WecomTokens:
    assert database.settings.staff_wecom is not None
    return WecomTokens(
        database,
        KeyringSource.fixed(TEST_KEYRING),
        database.settings.staff_wecom,
        fetch=fetch,
        clock=lambda: now,
    )


async def test_a_second_instance_takes_the_token_from_redis(shared: Database) -> None:
    fetch = Gettoken()
    assert await tokens(shared, fetch).current() == "wecom-token-1"
    async with shared.transaction() as session:
        await session.execute(sa.delete(ProviderToken))
    assert await tokens(shared, fetch).current() == "wecom-token-1"
    assert fetch.calls == 1
    cache = token_cache_for(shared)
    assert cache is not None
    [key] = await cache.redis.keys("cdp:token:wecom:*")
    assert b"wecom-token-1" not in (await cache.redis.get(key) or b"")


async def test_a_token_due_in_redis_is_fetched_anew(shared: Database) -> None:
    fetch = Gettoken()
    await tokens(shared, fetch).current()
    later = NOW + timedelta(seconds=7200 - 299)  # within five minutes of its end
    assert await tokens(shared, fetch, later).current() == "wecom-token-2"


async def test_without_redis_the_databases_copy_serves(
    shared: Database, redis_server: RedisServer
) -> None:
    fetch = Gettoken()
    await tokens(shared, fetch).current()
    redis_server.stop()
    try:
        assert await tokens(shared, fetch).current() == "wecom-token-1"
    finally:
        redis_server.start()
    assert fetch.calls == 1
