"""Fixtures: one fake WeChat per test process on loopback, reset for every test, and settings
that point cdp at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cdp.config import Settings
from cdp.devwechat.fake import (
    MINI_APP_ID,
    MINI_SECRET,
    OA_APP_ID,
    OA_SECRET,
    USERINFO_APP_ID,
    USERINFO_SECRET,
    WEBSITE_APP_ID,
    WEBSITE_SECRET,
    FakeWechat,
)
from cdp.devwechat.loopback import LoopbackServer
from tests.conftest import make_settings


def wechat_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    """The settings that point cdp at a fake WeChat at `base_url`: quick timeouts and backoff."""
    return {
        "wechat_apps": {
            MINI_APP_ID: {"type": "MINI_PROGRAM", "secret": MINI_SECRET},
            OA_APP_ID: {"type": "OFFICIAL_ACCOUNT", "secret": OA_SECRET},
            USERINFO_APP_ID: {
                "type": "OFFICIAL_ACCOUNT",
                "secret": USERINFO_SECRET,
                "oauth_scope": "snsapi_userinfo",
            },
            WEBSITE_APP_ID: {
                "type": "WEBSITE",
                "secret": WEBSITE_SECRET,
                "return_url": "/h5/?from=website",
            },
        },
        "wechat_api_base_url": base_url,
        "wechat_authorize_url": f"{base_url}/connect/oauth2/authorize",
        "wechat_qrconnect_url": f"{base_url}/connect/qrconnect",
        # Long enough for a loaded machine; the timeout tests' fake answers after 4 s.
        "wechat_timeout_seconds": 2.0,
        "wechat_busy_retries": 2,
        "wechat_backoff_seconds": 0.05,
        **overrides,
    }


@pytest.fixture(scope="session")
def fake_wechat_server() -> Iterator[FakeWechat]:
    fake = FakeWechat()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        fake.base_url = server.url
        yield fake


@pytest.fixture
def wechat(fake_wechat_server: FakeWechat) -> FakeWechat:
    """The fake WeChat, with no codes, calls or scripted answers left from other tests."""
    fake_wechat_server.reset()
    return fake_wechat_server


@pytest.fixture
def settings(database_url: str, wechat: FakeWechat) -> Settings:
    """The suite's settings, with the brand's four WeChat apps served by the fake."""
    return make_settings(database_url, **wechat_config(wechat.base_url))
