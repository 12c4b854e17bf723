"""WeCom's access token, shared through the database on both backends: one gettoken for every
worker and instance, sealed at rest, refreshed before it expires, and fetched again once when
WeCom calls it invalid or expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.staff.models import ProviderToken
from cdp.staff.wecom_tokens import WecomTokens
from tests.conftest import TEST_KEYRING, ClientFactory
from tests.staff_wecom.conftest import SUPPORT_DEPARTMENT, refused, sign_in
from tests.staff_wecom.fake_wecom import AGENT_ID, CORP_ID, FakeWecom

GETTOKEN = "/cgi-bin/gettoken"
KEY = f"wecom:{CORP_ID}:{AGENT_ID}"
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


class Gettoken:
    """A stand-in for WeCom's gettoken that counts its calls and hands out numbered tokens."""

    def __init__(self, expires_in: int = 7200) -> None:
        self.calls, self.expires_in = 0, expires_in

    async def __call__(self) -> tuple[str, int]:
        self.calls += 1
        await asyncio.sleep(0.01)  # long enough for concurrent callers to meet
        return f"token-{self.calls}", self.expires_in


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def tokens(
    settings: Settings, database: Database, fetch: Gettoken, clock: Clock | None = None
) -> WecomTokens:
    assert settings.staff_wecom is not None
    return WecomTokens(
        database,
        KeyringSource.fixed(TEST_KEYRING),
        settings.staff_wecom,
        fetch=fetch,
        clock=clock or Clock(),
    )


async def test_a_second_process_reads_the_shared_token_instead_of_fetching(
    settings: Settings, database: Database
) -> None:
    fetch = Gettoken()
    first, second = tokens(settings, database, fetch), tokens(settings, database, fetch)
    assert await first.current() == "token-1"
    assert await second.current() == "token-1"
    assert fetch.calls == 1


async def test_concurrent_requests_in_one_process_fetch_once(
    settings: Settings, database: Database
) -> None:
    fetch = Gettoken()
    cache = tokens(settings, database, fetch)
    assert set(await asyncio.gather(*(cache.current() for _ in range(8)))) == {"token-1"}
    assert fetch.calls == 1


async def test_the_token_is_sealed_in_the_database(settings: Settings, database: Database) -> None:
    await tokens(settings, database, Gettoken()).current()
    async with database.transaction() as session:
        row = (await session.execute(sa.select(ProviderToken))).scalar_one()
    assert row.key == KEY and "token-1" not in row.sealed_token


async def test_a_token_is_fetched_again_five_minutes_before_it_expires(
    settings: Settings, database: Database
) -> None:
    fetch, clock = Gettoken(), Clock()
    cache = tokens(settings, database, fetch, clock)
    assert await cache.current() == "token-1"
    clock.now = T0 + timedelta(seconds=7200 - 301)
    assert await cache.current() == "token-1" and fetch.calls == 1
    clock.now = T0 + timedelta(seconds=7200 - 299)
    assert await cache.current() == "token-2" and fetch.calls == 2
    # Another process finds the refreshed token in the database.
    assert await tokens(settings, database, fetch, clock).current() == "token-2"
    assert fetch.calls == 2


async def test_a_short_lived_token_is_kept_for_half_its_life(
    settings: Settings, database: Database
) -> None:
    fetch, clock = Gettoken(expires_in=200), Clock()
    cache = tokens(settings, database, fetch, clock)
    await cache.current()
    clock.now = T0 + timedelta(seconds=99)
    await cache.current()
    assert fetch.calls == 1  # not fetched again on every call near WeCom's own expiry
    clock.now = T0 + timedelta(seconds=101)
    assert await cache.current() == "token-2"


async def test_a_refused_token_is_replaced_once_and_shared(
    settings: Settings, database: Database
) -> None:
    fetch = Gettoken()
    first, second = tokens(settings, database, fetch), tokens(settings, database, fetch)
    assert await first.current() == await second.current() == "token-1"
    replaced = await asyncio.gather(*(first.replace("token-1") for _ in range(4)))
    assert set(replaced) == {"token-2"} and fetch.calls == 2
    # The other process hears the same refusal and takes the stored replacement.
    assert await second.replace("token-1") == "token-2" and fetch.calls == 2


async def test_a_token_sealed_under_another_keyring_is_fetched_anew(
    settings: Settings, database: Database
) -> None:
    fetch = Gettoken()
    await tokens(settings, database, fetch).current()
    async with database.transaction() as session:
        row = await session.get(ProviderToken, KEY)
        assert row is not None
        row.sealed_token = row.sealed_token[:-8] + "AAAAAAA="
    assert await tokens(settings, database, fetch).current() == "token-2"


# --- against the fake WeCom, through the sign-in ------------------------------------------------


async def test_two_app_instances_sharing_the_database_call_gettoken_once(
    settings: Settings,
    database: Database,
    client_for: ClientFactory,
    wecom: FakeWecom,
) -> None:
    wecom.add("zhangwei", SUPPORT_DEPARTMENT)
    assert (await sign_in(client_for(None), wecom, "zhangwei")).status_code == 303
    elsewhere = Database(settings)  # another instance: its own engine, the same database
    other = create_app(settings, elsewhere, KeyringSource.fixed(TEST_KEYRING))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://cdp.test"
        ) as client:
            assert (await sign_in(client, wecom, "zhangwei")).status_code == 303
    finally:
        await elsewhere.dispose()
    assert len(wecom.calls_to(GETTOKEN)) == 1
    assert len(wecom.calls_to("/cgi-bin/auth/getuserinfo")) == 2


@pytest.mark.parametrize("errcode", [42001, 40014])
async def test_an_expired_or_invalid_token_is_fetched_again_once(
    client_for: ClientFactory, wecom: FakeWecom, errcode: int
) -> None:
    wecom.add("lina", SUPPORT_DEPARTMENT)
    browser = client_for(None)
    assert (await sign_in(browser, wecom, "lina")).status_code == 303
    wecom.refuse_token(errcode)
    assert (await sign_in(browser, wecom, "lina")).status_code == 303
    assert len(wecom.calls_to(GETTOKEN)) == 2


async def test_a_token_refused_twice_is_not_fetched_a_third_time(
    client_for: ClientFactory, wecom: FakeWecom
) -> None:
    wecom.add("chenjing", SUPPORT_DEPARTMENT)
    browser = client_for(None)
    wecom.then("/cgi-bin/auth/getuserinfo", {"errcode": 42001}, {"errcode": 42001})
    error = refused(await sign_in(browser, wecom, "chenjing"), 502, "INTERNAL")
    assert error["extensions"]["reason"] == "WECOM_UPSTREAM"
    assert len(wecom.calls_to(GETTOKEN)) == 2


async def test_a_token_near_its_expiry_is_fetched_before_wecom_refuses_it(
    client_for: ClientFactory, wecom: FakeWecom
) -> None:
    wecom.expires_in = 3  # refreshed halfway: after 1.5 s
    wecom.add("wangfang", SUPPORT_DEPARTMENT)
    browser = client_for(None)
    assert (await sign_in(browser, wecom, "wangfang")).status_code == 303
    await asyncio.sleep(3.1)  # WeCom's token has expired: cdp must not offer it
    assert (await sign_in(browser, wecom, "wangfang")).status_code == 303
    assert len(wecom.calls_to(GETTOKEN)) == 2
    tokens_sent = {params["access_token"] for params in wecom.calls_to("/cgi-bin/user/get")}
    assert len(tokens_sent) == 2
    assert len(wecom.calls_to("/cgi-bin/auth/getuserinfo")) == 2  # none refused and retried
