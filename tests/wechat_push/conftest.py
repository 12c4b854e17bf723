"""Fixtures: the brand's apps with message push configured (plaintext and safe mode, an
official account and a mini-program each, and one app without push), a processor as a
restarted process would make it, and WeChat's side of the wire."""

from __future__ import annotations

import pytest

from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.wechat.push_processor import PushProcessor
from tests.conftest import TEST_KEYRING, ClientFactory, make_settings
from tests.wechat_push.pushing import APPS, WechatSide


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, wechat_apps=APPS)


@pytest.fixture
def processor(settings: Settings, database: Database, keystore: KeyStore) -> PushProcessor:
    """A push processor of its own, as a process started after the accepting one has."""
    return PushProcessor(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)


@pytest.fixture
def wechat(client_for: ClientFactory) -> WechatSide:
    return WechatSide(client_for(None))
