"""Website sign-in by phone and SMS code on both databases: a code sent through Tencent Cloud
SMS's API and typed back signs in the verified holder (or a new profile), codes are hashed,
single use, five minutes, a few tries; limits per phone and per address; the answers never
tell a known phone from an unknown one; the provider's failures coded."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from cdp.sms.models import SmsCode
from tests.conftest import TEST_KEYRING, ClientFactory, gql
from tests.support.audit_log import audit_rows
from tests.support.erasure_calls import APPROVE, officer, request_erasure
from tests.support.erasure_people import ok
from tests.support.people import MINI, link
from tests.support.phones import verify
from tests.support.tencent_sms import FakeTencentSms
from tests.support.wechat_signin import refused

CODE, SIGN_IN = "/auth/sms/code", "/auth/sms/sign-in"
PHONE, E164 = "13912345678", "+8613912345678"
ME = "{ me { id phone phoneVerified phoneSource } }"
LIMITED, UPSTREAM, BAD, INTERNAL = "SMS_RATE_LIMITED", "SMS_UPSTREAM", "BAD_USER_INPUT", "INTERNAL"


@pytest.fixture
def browser(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


async def send_code(client: httpx.AsyncClient, phone: str = PHONE) -> httpx.Response:
    return await client.post(CODE, json={"phone": phone})


async def sign_in(client: httpx.AsyncClient, code: str, phone: str = PHONE) -> httpx.Response:
    return await client.post(SIGN_IN, json={"phone": phone, "code": code})


async def signed_in(browser: httpx.AsyncClient, sms: FakeTencentSms, phone: str = PHONE) -> Any:
    assert (await send_code(browser, phone)).status_code == 202
    response = await sign_in(browser, sms.last_code(f"+86{phone}"), phone)
    assert response.status_code == 200, response.text
    return response.json()


async def me(client_for: ClientFactory, token: str) -> dict[str, Any]:
    client = client_for(None)
    client.headers["authorization"] = f"Bearer {token}"
    body = await gql(client, ME)
    assert "errors" not in body, body
    return body["data"]["me"]  # type: ignore[no-any-return]


async def age_codes(database: Database, seconds: int) -> None:
    """Move every code `seconds` into the past (as if that much time went by)."""
    async with database.transaction() as session:
        for row in await session.scalars(sa.select(SmsCode)):
            row.created_at -= timedelta(seconds=seconds)
            row.expires_at -= timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, database: Database, keystore: KeyStore
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
        yield client


def without_request_id(response: httpx.Response) -> Any:
    body = response.json()
    for error in body.get("errors", []):
        error["extensions"].pop("requestId")
    return response.status_code, body


async def test_a_code_sent_by_sms_and_typed_back_signs_in_a_new_profile_holding_the_phone(
    browser: httpx.AsyncClient, client_for: ClientFactory, sms: FakeTencentSms
) -> None:
    response = await send_code(browser, "+86 139-1234-5678")
    assert response.status_code == 202, response.text
    assert response.json() == {"expiresIn": 300, "resendAfter": 60}
    [(to, params)] = sms.sent
    assert to == E164 and len(params[0]) == 6 and params[0].isdigit() and params[1] == "5"
    signed = await sign_in(browser, params[0])
    assert signed.status_code == 200, signed.text
    assert signed.headers["cache-control"] == "no-store"
    body = signed.json()
    assert set(body) == {"token", "tokenType", "expiresIn", "profileId", "accountCancellation"}
    mine = await me(client_for, body["token"])
    assert mine == {
        "id": body["profileId"],
        "phone": PHONE,
        "phoneVerified": True,
        "phoneSource": "SMS",
    }


async def test_signing_in_again_reaches_the_same_profile(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    first = await signed_in(browser, sms)
    await age_codes(database, 120)
    assert (await signed_in(browser, sms))["profileId"] == first["profileId"]


async def test_the_verified_holder_signs_in_never_an_unverified_claimant(
    browser: httpx.AsyncClient,
    client_for: ClientFactory,
    sms: FakeTencentSms,
    database: Database,
    vault: Vault,
    settings: Settings,
) -> None:
    service = client_for(Role.SERVICE)
    owner = (await link(service, "MINI_PROGRAM", MINI, "oMini_sms_owner_000000000001"))["id"]
    claimant = (await link(service, "MINI_PROGRAM", MINI, "oMini_sms_claim_000000000002"))["id"]
    await verify(database, vault, settings, owner, PHONE)
    customer = client_for(Role.CUSTOMER, claimant)
    await gql(customer, f'mutation {{ updateMyProfile(input: {{phone: "{PHONE}"}}) {{ id }} }}')
    body = await signed_in(browser, sms)
    assert body["profileId"] == owner
    assert (await me(client_for, body["token"]))["phoneSource"] == "SMS"


async def test_an_unverified_claim_alone_gets_a_new_profile_that_holds_the_phone_verified(
    browser: httpx.AsyncClient, client_for: ClientFactory, sms: FakeTencentSms
) -> None:
    service = client_for(Role.SERVICE)
    claimant = (await link(service, "MINI_PROGRAM", MINI, "oMini_sms_claim_000000000003"))["id"]
    customer = client_for(Role.CUSTOMER, claimant)
    await gql(customer, f'mutation {{ updateMyProfile(input: {{phone: "{PHONE}"}}) {{ id }} }}')
    body = await signed_in(browser, sms)
    assert body["profileId"] != claimant
    query = f'{{ profile(phone: "{PHONE}", purpose: "ticket") {{ id phoneVerified }} }}'
    found = await gql(client_for(Role.SUPPORT), query)
    assert found["data"]["profile"] == {"id": body["profileId"], "phoneVerified": True}


async def test_a_wrong_code_answers_alike_for_a_known_and_an_unknown_phone(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    known, unknown = "13800001111", "13800002222"
    await signed_in(browser, sms, known)
    await age_codes(database, 120)
    without_codes = [
        without_request_id(await sign_in(browser, "000000", p)) for p in (known, unknown)
    ]
    for phone in (known, unknown):
        assert (await send_code(browser, phone)).status_code == 202
    wrong = {
        p: "000000" if sms.last_code(f"+86{p}") != "000000" else "111111" for p in (known, unknown)
    }
    with_codes = [without_request_id(await sign_in(browser, wrong[p], p)) for p in (known, unknown)]
    assert without_codes[0] == without_codes[1] == with_codes[0] == with_codes[1]
    assert with_codes[0][0] == 401


async def test_a_code_request_answers_alike_for_a_known_and_an_unknown_phone(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    known, unknown = "13800001111", "13800002222"
    await signed_in(browser, sms, known)
    await age_codes(database, 120)
    first = without_request_id(await send_code(browser, known))
    second = without_request_id(await send_code(browser, unknown))
    assert first == second == (202, {"expiresIn": 300, "resendAfter": 60})


async def test_a_code_works_once(browser: httpx.AsyncClient, sms: FakeTencentSms) -> None:
    await send_code(browser)
    code = sms.last_code(E164)
    assert (await sign_in(browser, code)).status_code == 200
    error = refused(await sign_in(browser, code), 401, "UNAUTHENTICATED")
    assert error["extensions"]["reason"] == "SMS_CODE_INVALID"


async def test_a_code_is_good_for_five_minutes_only(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    await send_code(browser)
    await age_codes(database, 301)
    refused(await sign_in(browser, sms.last_code(E164)), 401, "UNAUTHENTICATED")


async def test_five_wrong_codes_spend_the_code(
    browser: httpx.AsyncClient, sms: FakeTencentSms
) -> None:
    await send_code(browser)
    right = sms.last_code(E164)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        refused(await sign_in(browser, wrong), 401, "UNAUTHENTICATED")
    refused(await sign_in(browser, right), 401, "UNAUTHENTICATED")


async def test_a_newer_code_replaces_the_older_one(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    await send_code(browser)
    older = sms.last_code(E164)
    await age_codes(database, 61)
    await send_code(browser)
    newer = sms.last_code(E164)
    if older != newer:
        refused(await sign_in(browser, older), 401, "UNAUTHENTICATED")
    assert (await sign_in(browser, newer)).status_code == 200


async def test_codes_are_stored_as_an_hmac_never_the_digits(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    await send_code(browser)
    code = sms.last_code(E164)
    async with database.transaction() as session:
        [row] = (await session.scalars(sa.select(SmsCode))).all()
    assert len(row.code_mac) == 32 and code.encode() not in row.code_mac
    assert E164.encode() not in row.phone_bidx


async def test_a_phone_gets_one_code_a_minute_and_five_an_hour(
    settings: Settings, database: Database, keystore: KeyStore, sms: FakeTencentSms
) -> None:
    unlimited = settings.model_copy(update={"sms_codes_per_address_per_minute": 0})
    async with app_client(unlimited, database, keystore) as browser:
        assert (await send_code(browser)).status_code == 202
        again = await send_code(browser)
        error = refused(again, 429, "QUERY_TOO_COMPLEX")
        assert error["extensions"]["limit"] == "smsPerPhone"
        assert 50 <= int(again.headers["retry-after"]) <= 60
        for _ in range(4):
            await age_codes(database, 61)
            assert (await send_code(browser)).status_code == 202
        await age_codes(database, 61)
        error = refused(await send_code(browser), 429, "QUERY_TOO_COMPLEX")
        assert error["extensions"]["limit"] == "smsPerPhone"
    assert len(sms.sent) == 5


async def test_code_requests_from_one_address_are_rate_limited(
    settings: Settings, database: Database, keystore: KeyStore, sms: FakeTencentSms
) -> None:
    limited = settings.model_copy(update={"sms_codes_per_address_per_minute": 2})
    statuses = []
    async with app_client(limited, database, keystore) as client:
        for n in range(3):
            statuses.append((await send_code(client, f"1380000{n:04d}")).status_code)
    assert statuses == [202, 202, 429]
    assert len(sms.sent) == 2


@pytest.mark.parametrize(
    ("answer", "status", "code", "reason"),
    [
        ({"status": "LimitExceeded.PhoneNumberDailyLimit"}, 429, "QUERY_TOO_COMPLEX", LIMITED),
        ({"status": "InvalidParameterValue.IncorrectPhoneNumber"}, 400, BAD, "SMS_BAD_PHONE"),
        ({"error": "FailedOperation.InsufficientBalanceInSmsPackage"}, 502, INTERNAL, UPSTREAM),
        ({"error": "InternalError.Timeout"}, 503, "INTERNAL", "SMS_BUSY"),
        ({"http": 502}, 503, "INTERNAL", "SMS_BUSY"),
    ],
)
async def test_the_providers_failures_are_coded_and_a_failed_send_does_not_count(
    browser: httpx.AsyncClient,
    sms: FakeTencentSms,
    answer: dict[str, Any],
    status: int,
    code: str,
    reason: str,
) -> None:
    sms.script.append(answer)
    response = await send_code(browser)
    error = refused(response, status, code)
    assert error["extensions"]["reason"] == reason
    if status == 503:
        assert response.headers["retry-after"]
    assert (await send_code(browser)).status_code == 202  # the failed one was withdrawn


async def test_a_provider_slower_than_the_timeout_is_busy_and_its_code_withdrawn(
    settings: Settings, database: Database, keystore: KeyStore, sms: FakeTencentSms
) -> None:
    hurried = settings.model_copy(update={"sms_timeout_seconds": 0.5})
    sms.script.append({"delay": 2.0})
    async with app_client(hurried, database, keystore) as client:
        response = await send_code(client)
        error = refused(response, 503, "INTERNAL")
        assert error["extensions"]["reason"] == "SMS_BUSY"
        assert response.headers["retry-after"]
        assert (await send_code(client)).status_code == 202  # the failed one was withdrawn


async def test_malformed_phones_and_codes_are_bad_user_input(browser: httpx.AsyncClient) -> None:
    for body in ({"phone": "12345"}, {"phone": 13912345678}, {}, []):
        refused(await browser.post(CODE, json=body), 400, "BAD_USER_INPUT")
    for code in ("12345", "abcdef", "1234567"):
        error = refused(await sign_in(browser, code), 400, "BAD_USER_INPUT")
        assert error["extensions"]["field"] == "code"


async def test_without_an_sms_provider_the_routes_answer_not_found(
    settings: Settings, database: Database, keystore: KeyStore
) -> None:
    unconfigured = settings.model_copy(update={"sms_tencent": None})
    async with app_client(unconfigured, database, keystore) as client:
        refused(await send_code(client), 404, "NOT_FOUND")
        refused(await sign_in(client, "123456"), 404, "NOT_FOUND")


async def test_sign_ins_and_refusals_are_audited_without_the_phone(
    browser: httpx.AsyncClient, sms: FakeTencentSms, database: Database
) -> None:
    assert (await send_code(browser)).status_code == 202
    bad = await sign_in(browser, "000000" if sms.last_code(E164) != "000000" else "111111")
    ok = await sign_in(browser, sms.last_code(E164))
    refusals = await audit_rows(database, bad.headers["x-request-id"])
    assert [(r["action"], r["outcome"], r["actor_subject"]) for r in refusals] == [
        ("auth.sms", "unauthenticated", "sms")
    ]
    rows = await audit_rows(database, ok.headers["x-request-id"])
    assert [r["action"] for r in rows] == ["phone.verify", "auth.sms"]
    assert {r["actor_subject"] for r in rows} <= {"sms", ok.json()["profileId"]}
    assert PHONE not in str(refusals + rows) and "8613912345678" not in str(refusals + rows)


async def test_an_erased_persons_phone_is_suppressed_only_after_the_code_proves_it(
    browser: httpx.AsyncClient, client_for: ClientFactory, sms: FakeTencentSms, database: Database
) -> None:
    erased = (await signed_in(browser, sms))["profileId"]
    opened = await request_erasure(officer(client_for, "a"), erased, "DELETE")
    done = await ok(officer(client_for, "b"), APPROVE, {"requestId": opened["id"]})
    assert done["status"] == "COMPLETED", done
    await age_codes(database, 120)
    assert (await send_code(browser)).status_code == 202  # the code request tells nothing
    refused(await sign_in(browser, sms.last_code(E164)), 403, "SUPPRESSED")
