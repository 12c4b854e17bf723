"""The apps' access tokens in Redis (a real redis-server): every instance reads the token one
of them fetched from Redis before the database, Redis holds it sealed and no longer than it
lives, and with Redis taken away the database's copy serves without asking WeChat again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from cdp.config import Settings
from cdp.db import Database
from cdp.devwechat.fake import MINI_APP_ID, FakeWechat
from cdp.devwechat.fake_phone import STABLE_TOKEN
from cdp.keys.source import KeyringSource
from cdp.token_cache import token_cache_for
from cdp.wechat.app_tokens import AppTokens, WechatAppToken
from cdp.wechat.client import WechatClient
from tests.conftest import TEST_KEYRING
from tests.support.redis_server import RedisServer, database_with_redis, redis_server

__all__ = ["redis_server"]  # the fixture, used by name


@pytest.fixture
async def shared(settings: Settings, redis_server: RedisServer) -> AsyncIterator[Database]:
    async with database_with_redis(settings, redis_server) as database:
        yield database


async def test_an_instance_reads_the_token_another_fetched_from_redis_sealed(
    settings: Settings, shared: Database, wechat: FakeWechat
) -> None:
    app, client = settings.wechat_apps[MINI_APP_ID], WechatClient(settings)
    try:
        token = await AppTokens(shared, KeyringSource.fixed(TEST_KEYRING), client).current(
            MINI_APP_ID, app
        )
        async with shared.transaction() as session:  # only Redis can answer the next one
            await session.execute(sa.delete(WechatAppToken))
        again = AppTokens(shared, KeyringSource.fixed(TEST_KEYRING), client)
        assert await again.current(MINI_APP_ID, app) == token
        assert len(wechat.calls_to(STABLE_TOKEN)) == 1
        cache = token_cache_for(shared)
        assert cache is not None
        stored = await cache.redis.get(f"cdp:token:wechat:{MINI_APP_ID}")
        assert stored is not None and token.encode() not in stored
        ttl = await cache.redis.ttl(f"cdp:token:wechat:{MINI_APP_ID}")
        assert 0 < ttl <= 7200
    finally:
        await client.aclose()


async def test_without_redis_the_databases_copy_serves_and_wechat_is_not_asked_again(
    settings: Settings, shared: Database, wechat: FakeWechat, redis_server: RedisServer
) -> None:
    app, client = settings.wechat_apps[MINI_APP_ID], WechatClient(settings)
    try:
        token = await AppTokens(shared, KeyringSource.fixed(TEST_KEYRING), client).current(
            MINI_APP_ID, app
        )
        redis_server.stop()
        try:
            later = AppTokens(shared, KeyringSource.fixed(TEST_KEYRING), client)
            assert await later.current(MINI_APP_ID, app) == token
        finally:
            redis_server.start()
        assert len(wechat.calls_to(STABLE_TOKEN)) == 1
    finally:
        await client.aclose()
