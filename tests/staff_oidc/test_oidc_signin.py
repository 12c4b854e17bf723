"""Staff sign-in through a real OpenID provider (oidc-provider on loopback), on both
databases: the session it opens, PKCE, state and nonce really checked, role mapping and the
refusal of an unmapped person, a cancelled sign-in, and nothing secret in a log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.staff.models import SignInAttempt, StaffSession
from cdp.staff.oidc_routes import code_challenge, refresh_purpose
from cdp.staff.sealed import open_credential
from tests.conftest import TEST_KEYRING, ClientFactory, make_settings
from tests.support.audit_log import audit_rows
from tests.support.oidc_provider import APP_BASE, OidcProvider, StaffBrowser, oidc_settings


@pytest.fixture
def settings(database_url: str, oidc_provider: OidcProvider) -> Settings:
    return oidc_settings(database_url, oidc_provider.issuer)


@pytest.fixture
async def browser(
    client_for: ClientFactory, oidc_provider: OidcProvider
) -> AsyncIterator[StaffBrowser]:
    browser = StaffBrowser(client_for(None), oidc_provider)
    yield browser
    await browser.aclose()


async def sessions_of(database: Database, sub: str) -> list[StaffSession]:
    async with database.transaction() as session:
        query = sa.select(StaffSession).where(col(StaffSession.directory_id) == sub)
        return list((await session.execute(query)).scalars())


def refused(response: httpx.Response, status: int, code: str, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["reason"] == reason, error
    return error  # type: ignore[no-any-return]


async def sign_ins(database: Database) -> list[dict[str, Any]]:
    return [row for row in await audit_rows(database) if row["action"] == "staff.sign_in"]


async def test_support_person_signs_in_and_lands_on_the_console(
    browser: StaffBrowser, database: Database
) -> None:
    response = await browser.sign_in("staff-support")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"
    [set_cookie] = [
        v for v in response.headers.get_list("set-cookie") if v.startswith("cdp_staff=")
    ]
    cookie = SimpleCookie(set_cookie)["cdp_staff"]
    assert cookie["httponly"] and cookie["samesite"].lower() == "strict" and cookie["path"] == "/"
    [row] = await sessions_of(database, "staff-support")
    assert (row.provider.value, row.roles, row.role) == ("oidc", "support", "support")
    assert row.token_hash not in set_cookie
    # The refresh token is kept sealed for this person, and opens to a working token.
    assert row.provider_grant is not None
    refresh_token = open_credential(
        TEST_KEYRING, refresh_purpose("staff-support"), row.provider_grant
    )
    assert refresh_token and refresh_token not in row.provider_grant
    [audited] = await sign_ins(database)
    assert (audited["actor_subject"], audited["outcome"]) == ("oidc:staff-support", "ok")


async def test_authorize_sends_pkce_s256_state_nonce_and_the_scopes_for_groups_and_refresh(
    browser: StaffBrowser, database: Database
) -> None:
    query = parse_qs(urlsplit(await browser.authorize()).query)
    params = {key: values[0] for key, values in query.items()}
    async with database.transaction() as session:
        [attempt] = (await session.execute(sa.select(SignInAttempt))).scalars()
    assert attempt.code_verifier and attempt.nonce
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == code_challenge(attempt.code_verifier)
    assert attempt.code_verifier not in str(query)  # only its hash leaves cdp
    assert params["nonce"] == attempt.nonce
    assert params["scope"].split() == ["openid", "groups", "offline_access"]
    assert params["prompt"] == "consent"
    assert params["redirect_uri"] == "http://cdp.test/auth/staff/oidc/callback"
    assert params["state"] and params["response_type"] == "code"


async def test_person_in_two_mapped_groups_holds_both_roles_and_chooses_one_later(
    browser: StaffBrowser, database: Database
) -> None:
    response = await browser.sign_in("staff-both")
    assert response.status_code == 303, response.text
    [row] = await sessions_of(database, "staff-both")
    assert (row.roles, row.role) == ("support,compliance", None)


async def test_unmapped_person_is_refused_and_audited_by_directory_id(
    browser: StaffBrowser, database: Database
) -> None:
    response = await browser.sign_in("staff-unmapped")
    refused(response, 403, "FORBIDDEN", "UNMAPPED")
    assert "cdp_staff=" not in response.headers.get("set-cookie", "")
    assert await sessions_of(database, "staff-unmapped") == []
    [audited] = await sign_ins(database)
    assert (audited["actor_subject"], audited["outcome"]) == ("oidc:staff-unmapped", "forbidden")
    assert audited["detail"]["reason"] == "UNMAPPED"


async def test_groups_come_from_userinfo_when_the_id_token_has_none(
    browser: StaffBrowser, database: Database, oidc_provider: OidcProvider
) -> None:
    oidc_provider.set_account("staff-userinfo", groups=["cdp-compliance"], userinfoOnly=True)
    response = await browser.sign_in("staff-userinfo")
    assert response.status_code == 303, response.text
    [row] = await sessions_of(database, "staff-userinfo")
    assert row.roles == "compliance"


async def test_a_replayed_callback_is_refused(browser: StaffBrowser, database: Database) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support")
    assert (await browser.callback(callback)).status_code == 303
    # The state cookie is gone with the first use; put it back as an attacker would.
    state = parse_qs(urlsplit(callback).query)["state"][0]
    browser.app.cookies.set("cdp_staff_state", state, path="/auth/staff/oidc/callback")
    refused(await browser.callback(callback), 403, "FORBIDDEN", "STATE")
    assert len(await sessions_of(database, "staff-support")) == 1


async def test_a_callback_with_a_forged_state_or_in_another_browser_is_refused(
    browser: StaffBrowser, client_for: ClientFactory, database: Database
) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    other = client_for(None)  # a login CSRF: the victim's browser has no state cookie
    parts = urlsplit(callback)
    refused(await other.get(f"{parts.path}?{parts.query}"), 403, "FORBIDDEN", "STATE")
    forged = callback.replace(state, state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
    browser.app.cookies.set("cdp_staff_state", forged.split("state=")[1].split("&")[0])
    refused(await browser.callback(forged), 403, "FORBIDDEN", "STATE")
    assert await sessions_of(database, "staff-support") == []


async def set_attempt(database: Database, **values: str) -> None:
    async with database.transaction() as session:
        await session.execute(sa.update(SignInAttempt).values(**values))


async def test_the_provider_refuses_a_code_exchanged_without_its_pkce_verifier(
    browser: StaffBrowser, database: Database
) -> None:
    url = await browser.authorize()
    await set_attempt(database, code_verifier="x" * 43)  # not the verifier of the challenge
    response = await browser.callback(await browser.approve(url, "staff-support"))
    refused(response, 401, "UNAUTHENTICATED", "CODE_INVALID")
    assert await sessions_of(database, "staff-support") == []


async def test_an_id_token_with_another_nonce_is_refused(
    browser: StaffBrowser, database: Database
) -> None:
    url = await browser.authorize()
    await set_attempt(database, nonce="n" * 43)  # as if the code came from another attempt
    response = await browser.callback(await browser.approve(url, "staff-support"))
    error = refused(response, 401, "UNAUTHENTICATED", "ID_TOKEN_INVALID")
    assert error["extensions"]["field"] == "nonce"
    [audited] = await sign_ins(database)
    assert audited["outcome"] == "unauthenticated"
    assert audited["detail"] == {"reason": "ID_TOKEN_INVALID", "field": "nonce", "provider": "oidc"}


async def test_a_person_who_cancels_at_the_provider_is_refused_and_audited(
    browser: StaffBrowser, database: Database
) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support", cancel=True)
    assert "error=access_denied" in callback
    error = refused(await browser.callback(callback), 403, "FORBIDDEN", "PROVIDER_DENIED")
    assert error["extensions"]["providerError"] == "access_denied"
    [audited] = await sign_ins(database)
    assert (audited["actor_subject"], audited["outcome"]) == ("oidc:?", "forbidden")


async def test_a_key_rotation_at_the_provider_costs_one_jwks_fetch(
    browser: StaffBrowser, oidc_provider: OidcProvider, database: Database
) -> None:
    before = oidc_provider.jwks_fetches()
    assert (await browser.sign_in("staff-support")).status_code == 303
    assert (await browser.sign_in("staff-support")).status_code == 303
    assert oidc_provider.jwks_fetches() == before + 1  # cached for the second sign-in
    oidc_provider.rotate_keys()
    assert (await browser.sign_in("staff-support")).status_code == 303
    assert oidc_provider.jwks_fetches() == before + 2  # the new kid: fetched once more
    assert len(await sessions_of(database, "staff-support")) == 3


async def test_no_code_token_or_secret_reaches_a_log_line_or_the_audit_log(
    browser: StaffBrowser, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    signed_in = await browser.approve(await browser.authorize(), "staff-support")
    assert (await browser.callback(signed_in)).status_code == 303
    [row] = await sessions_of(database, "staff-support")
    assert row.provider_grant is not None
    refresh_token = open_credential(
        TEST_KEYRING, refresh_purpose("staff-support"), row.provider_grant
    )
    url = await browser.authorize()
    await set_attempt(database, nonce="n" * 43)
    refused_callback = await browser.approve(url, "staff-support")
    refused(await browser.callback(refused_callback), 401, "UNAUTHENTICATED", "ID_TOKEN_INVALID")
    # cdp's own lines and its HTTP client's (the database driver's debug lines echo SQL).
    ours = [r for r in caplog.records if r.name.startswith(("cdp", "httpx", "httpcore"))]
    assert {"cdp.request", "cdp.staff.oidc"} <= {r.name for r in ours}
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in ours)
    audit = str(await audit_rows(database))
    codes = [parse_qs(urlsplit(url).query)["code"][0] for url in (signed_in, refused_callback)]
    secrets = [*codes, refresh_token, "n" * 43, "cdp-staff-test-secret-0123456789abcdef"]
    for secret in secrets:
        assert secret and secret not in logged and secret not in audit


async def test_without_an_issuer_the_oidc_routes_answer_not_found(
    database_url: str, database: Database, keystore: KeyStore
) -> None:
    app = create_app(
        make_settings(database_url), database, KeyringSource.fixed(TEST_KEYRING), keystore
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_BASE) as c:
        for path in ("/auth/staff/oidc/authorize", "/auth/staff/oidc/callback?state=x&code=y"):
            refused(await c.get(path), 404, "NOT_FOUND", "NOT_CONFIGURED")


async def test_a_callback_naming_another_issuer_is_refused_as_a_mix_up(
    browser: StaffBrowser, database: Database
) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support")
    assert "iss=" in callback  # RFC 9207, which oidc-provider implements
    mixed_up = callback.replace("iss=", "iss=https%3A%2F%2Fevil.example&was=")
    error = refused(await browser.callback(mixed_up), 502, "INTERNAL", "PROVIDER_ANSWER")
    assert error["extensions"]["field"] == "iss"
    assert await sessions_of(database, "staff-support") == []
