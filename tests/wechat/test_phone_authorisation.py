"""A mini-program's phone authorisation on both databases: the getPhoneNumber code exchanged
with the app's stable token (cached in the database, shared, refreshed), the watermark
checked, the phone set verified (source WECHAT), WeChat's errors coded, and auditing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database, utcnow
from cdp.devwechat.fake import MINI_APP_ID, OA_APP_ID, FakeWechat, WechatUser
from cdp.devwechat.fake_phone import PHONE_NUMBER, STABLE_TOKEN
from cdp.keys.source import KeyringSource
from cdp.wechat.app_tokens import AppTokens, WechatAppToken
from cdp.wechat.client import WechatClient
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.audit_log import audit_rows
from tests.support.wechat_signin import mini_sign_in, refused

PHONE_ROUTE = "/auth/wechat/mini-program/phone"
PHONE = "13912345678"
ME = "{ me { id phone phoneVerified phoneSource } }"


async def signed_in(client_for: ClientFactory, wechat: FakeWechat, n: int = 1) -> httpx.AsyncClient:
    """A client carrying the token a mini-program sign-in gave person `n`."""
    client = client_for(None)
    user = WechatUser(union_id=f"oUnIoNphone{n:017d}")
    response = await mini_sign_in(client, wechat.code_for(MINI_APP_ID, user))
    assert response.status_code == 200, response.text
    client.headers["authorization"] = f"Bearer {response.json()['token']}"
    return client


async def authorise(
    client: httpx.AsyncClient, code: str, app_id: str = MINI_APP_ID
) -> httpx.Response:
    return await client.post(PHONE_ROUTE, json={"appId": app_id, "code": code})


async def me(client: httpx.AsyncClient) -> dict[str, Any]:
    body = await gql(client, ME)
    assert "errors" not in body, body
    return body["data"]["me"]  # type: ignore[no-any-return]


async def test_phone_authorisation_sets_a_verified_wechat_phone_on_the_customer(
    client_for: ClientFactory, wechat: FakeWechat, database: Database
) -> None:
    customer = await signed_in(client_for, wechat)
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    mine = await me(customer)
    assert body == {
        "profileId": mine["id"],
        "phone": PHONE,
        "phoneVerified": True,
        "phoneSource": "WECHAT",
        "merged": False,
    }
    assert mine == {
        "id": mine["id"],
        "phone": PHONE,
        "phoneVerified": True,
        "phoneSource": "WECHAT",
    }
    rows = await audit_rows(database, response.headers["x-request-id"])
    assert [(r["action"], r["outcome"], r["actor_role"]) for r in rows] == [
        ("phone.verify", "ok", "customer")
    ]
    assert PHONE not in str(rows)


async def test_support_finds_the_authorised_phone_verified(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    query = 'query { profile(phone: "13912345678", purpose: "ticket") { id phoneVerified } }'
    found = await gql(client_for(Role.SUPPORT), query)
    assert found["data"]["profile"] == {"id": (await me(customer))["id"], "phoneVerified": True}


async def test_the_app_token_is_asked_for_once_and_kept_in_the_database(
    client_for: ClientFactory, wechat: FakeWechat, database: Database
) -> None:
    customer = await signed_in(client_for, wechat)
    for _ in range(3):
        response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
        assert response.status_code == 200, response.text
    assert len(wechat.calls_to(STABLE_TOKEN)) == 1
    async with database.transaction() as session:
        row = await session.get(WechatAppToken, MINI_APP_ID)
    assert row is not None and wechat.phone.tokens[MINI_APP_ID] not in row.sealed_token


async def test_workers_share_the_token_and_refresh_it_before_it_expires(
    settings: Settings, database: Database, wechat: FakeWechat
) -> None:
    app = settings.wechat_apps[MINI_APP_ID]
    now = [utcnow()]
    client = WechatClient(settings)

    def clock() -> datetime:
        return now[0]

    try:
        first = AppTokens(database, KeyringSource.fixed(TEST_KEYRING), client, clock=clock)
        second = AppTokens(database, KeyringSource.fixed(TEST_KEYRING), client, clock=clock)
        token = await first.current(MINI_APP_ID, app)
        assert await second.current(MINI_APP_ID, app) == token  # read from the database
        assert len(wechat.calls_to(STABLE_TOKEN)) == 1
        now[0] += timedelta(seconds=7200 - 299)  # within five minutes of expiry
        wechat.phone.revoke_tokens()  # WeChat hands out a new one at refresh
        fresh = await second.current(MINI_APP_ID, app)
        assert fresh != token and len(wechat.calls_to(STABLE_TOKEN)) == 2
        assert await first.current(MINI_APP_ID, app) == fresh  # the other worker's, shared
        assert len(wechat.calls_to(STABLE_TOKEN)) == 2
    finally:
        await client.aclose()


async def test_a_token_wechat_no_longer_accepts_is_replaced_once(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    assert (await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))).status_code == 200
    wechat.phone.revoke_tokens()
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, "13800001111"))
    assert response.status_code == 200, response.text
    assert len(wechat.calls_to(STABLE_TOKEN)) == 2
    assert (await me(customer))["phone"] == "13800001111"


async def test_a_watermark_naming_another_app_is_refused_and_nothing_is_set(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    code = wechat.phone.code_for(MINI_APP_ID, PHONE, watermark_app_id=OA_APP_ID)
    error = refused(await authorise(customer, code), 502, "INTERNAL")
    assert error["extensions"]["reason"] == "WECHAT_WATERMARK"
    assert (await me(customer))["phone"] is None


@pytest.mark.parametrize(
    ("errcode", "status", "code", "reason"),
    [
        (1400001, 403, "FORBIDDEN", "WECHAT_QUOTA_EXHAUSTED"),
        (40029, 400, "BAD_USER_INPUT", "WECHAT_CODE_INVALID"),
        (45011, 429, "QUERY_TOO_COMPLEX", "WECHAT_RATE_LIMITED"),
    ],
)
async def test_each_wechat_refusal_is_a_coded_error(
    client_for: ClientFactory,
    wechat: FakeWechat,
    database: Database,
    errcode: int,
    status: int,
    code: str,
    reason: str,
) -> None:
    customer = await signed_in(client_for, wechat)
    wechat.then(PHONE_NUMBER, {"errcode": errcode})
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    error = refused(response, status, code)
    assert error["extensions"]["reason"] == reason and error["extensions"]["errcode"] == errcode
    assert (await me(customer))["phone"] is None
    if code != "BAD_USER_INPUT":
        rows = await audit_rows(database, response.headers["x-request-id"])
        assert [(r["action"], r["outcome"]) for r in rows] == [("phone.verify", code.lower())]


async def test_a_code_from_nowhere_and_a_used_code_are_bad_user_input(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    refused(await authorise(customer, "p-nobody"), 400, "BAD_USER_INPUT")
    code = wechat.phone.code_for(MINI_APP_ID, PHONE)
    assert (await authorise(customer, code)).status_code == 200
    error = refused(await authorise(customer, code), 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "code"


async def test_wechat_busy_on_every_try_is_503_with_retry_after(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    wechat.then(PHONE_NUMBER, *[{"errcode": -1}] * 5)
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    error = refused(response, 503, "INTERNAL")
    assert error["extensions"]["reason"] == "WECHAT_BUSY" and response.headers["retry-after"]


async def test_busy_then_success_sets_the_phone(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    wechat.then(PHONE_NUMBER, {"errcode": -1})
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    assert response.status_code == 200, response.text


async def test_a_wechat_timeout_is_503_with_retry_after(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    wechat.then(PHONE_NUMBER, {"delay": 4.0})
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    error = refused(response, 503, "INTERNAL")
    assert error["extensions"]["reason"] == "WECHAT_TIMEOUT" and response.headers["retry-after"]


async def test_a_stable_token_refusal_is_coded_and_never_a_500(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    wechat.then(STABLE_TOKEN, {"errcode": 40125})
    response = await authorise(customer, wechat.phone.code_for(MINI_APP_ID, PHONE))
    refused(response, 502, "INTERNAL")


async def test_without_a_customer_token_the_route_refuses_before_wechat_is_asked(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    code = wechat.phone.code_for(MINI_APP_ID, PHONE)
    refused(await authorise(client_for(None), code), 401, "UNAUTHENTICATED")
    refused(await authorise(client_for(Role.SUPPORT), code), 403, "FORBIDDEN")
    assert wechat.calls_to(PHONE_NUMBER) == []


async def test_an_app_that_is_not_a_mini_program_is_bad_user_input(
    client_for: ClientFactory, wechat: FakeWechat
) -> None:
    customer = await signed_in(client_for, wechat)
    code = wechat.phone.code_for(OA_APP_ID, PHONE)
    error = refused(await authorise(customer, code, OA_APP_ID), 400, "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "appId"


async def test_a_phone_verified_on_another_profile_is_kept_for_review(
    client_for: ClientFactory, wechat: FakeWechat, database: Database
) -> None:
    first, second = await signed_in(client_for, wechat, 1), await signed_in(client_for, wechat, 2)
    assert (await authorise(first, wechat.phone.code_for(MINI_APP_ID, PHONE))).status_code == 200
    response = await authorise(second, wechat.phone.code_for(MINI_APP_ID, PHONE))
    error = refused(response, 409, "CONFLICT")
    assert error["extensions"]["reason"] == "IDENTITY_REVIEW" and error["extensions"]["reviewId"]
    assert (await me(second))["phone"] is None
    reviews = await gql(
        client_for(Role.COMPLIANCE), "{ identityReviews(first: 5) { items { id rule } } }"
    )
    assert reviews["data"]["identityReviews"]["items"] == [
        {"id": error["extensions"]["reviewId"], "rule": "phone"}
    ]
    async with database.transaction() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(WechatAppToken)) == 1
