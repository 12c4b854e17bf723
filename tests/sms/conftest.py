"""Fixtures: one Tencent Cloud SMS stand-in per test process on loopback, reset for every
test, and settings that point cdp's SMS sign-in at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from tests.conftest import make_settings
from tests.support.tencent_sms import FakeTencentSms, sms_config


@pytest.fixture(scope="session")
def fake_sms_server() -> Iterator[tuple[FakeTencentSms, str]]:
    fake = FakeTencentSms()
    with LoopbackServer(fake.app(), lifespan="off") as server:
        yield fake, server.url


@pytest.fixture
def sms(fake_sms_server: tuple[FakeTencentSms, str]) -> FakeTencentSms:
    fake_sms_server[0].reset()
    return fake_sms_server[0]


@pytest.fixture
def settings(database_url: str, fake_sms_server: tuple[FakeTencentSms, str]) -> Settings:
    # Generous: a send on a saturated machine can take seconds; the timeout test sets its own.
    return make_settings(
        database_url, sms_tencent=sms_config(fake_sms_server[1]), sms_timeout_seconds=15.0
    )
