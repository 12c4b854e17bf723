"""Fixtures: the fake WeChat on loopback (one per process, reset per test), settings that
point cdp at it with the suite's templates, and activation's side of a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cdp.config import Settings
from cdp.db import Database
from cdp.devwechat.fake import FakeWechat
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.store import KeyStore
from tests.conftest import make_settings
from tests.support.activation import Activation, activation_config


@pytest.fixture(scope="session")
def fake_wechat_server() -> Iterator[FakeWechat]:
    fake = FakeWechat()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture
def wechat(fake_wechat_server: FakeWechat) -> FakeWechat:
    fake_wechat_server.reset()
    return fake_wechat_server


@pytest.fixture
def settings(database_url: str, wechat: FakeWechat) -> Settings:
    return make_settings(database_url, **activation_config(wechat.base_url))


@pytest.fixture
async def activation(
    settings: Settings,
    database: Database,
    keystore: KeyStore,
    service_client: httpx.AsyncClient,
    wechat: FakeWechat,
) -> AsyncIterator[Activation]:
    side = Activation(settings, database, keystore, service_client, wechat)
    try:
        yield side
    finally:
        await side.close()
