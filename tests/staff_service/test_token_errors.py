"""`POST /auth/token` refuses every malformed request as RFC 6749 §5.2 says (`error`,
`error_description`, and cdp's coded error beside them), never with a 5xx; it is
rate-limited per address and answers a database outage with 503."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import cdp.staff.token_endpoint
from cdp.app import create_app
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.staff.service_accounts import ClientCredentials
from tests.conftest import TEST_KEYRING, ClientFactory, error_codes, make_settings
from tests.staff_service import FORM, GRANT, basic, created, token_by_basic

CODES = {
    "invalid_request": "BAD_USER_INPUT",
    "invalid_client": "UNAUTHENTICATED",
    "unsupported_grant_type": "BAD_USER_INPUT",
    "invalid_scope": "BAD_USER_INPUT",
    "slow_down": "QUERY_TOO_COMPLEX",
}


def assert_token_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    assert error_codes(body) == [CODES[error]]
    assert body["errors"][0]["message"] == body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in body
    return body


@pytest.fixture
async def client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(None)


@pytest.fixture
async def account(database: Database) -> ClientCredentials:
    return await created(database, "orders")


def post(client: httpx.AsyncClient, content: bytes | str, **headers: str) -> Any:
    return client.post("/auth/token", content=content, headers={**FORM, **headers})


async def test_a_body_that_is_not_form_urlencoded_is_an_invalid_request(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    auth = basic(account.client_id, account.client_secret)
    json_body = await client.post("/auth/token", json=GRANT, headers=auth)
    assert_token_error(json_body, 400, "invalid_request")
    for content_type in ("text/plain", "", "application/x-www-form-urlencoded; charset=latin-1"):
        sent = await client.post(
            "/auth/token",
            content="grant_type=client_credentials",
            headers={"content-type": content_type, **auth},
        )
        assert_token_error(sent, 400, "invalid_request")
    utf8 = await client.post(
        "/auth/token",
        content="grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8", **auth},
    )
    assert utf8.status_code == 200


async def test_an_oversized_body_is_refused_without_reading_it_all(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    auth = basic(account.client_id, account.client_secret)
    padding = "grant_type=client_credentials&pad=" + "x" * 5000
    assert_token_error(await post(client, padding, **auth), 400, "invalid_request")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"grant_type=client_credentials&pad="
        for _ in range(100):
            yield b"x" * 1000

    streamed = await client.post("/auth/token", content=chunks(), headers={**FORM, **auth})
    assert_token_error(streamed, 400, "invalid_request")


@pytest.mark.parametrize(
    "content",
    [
        "",
        "grant_type=",
        "scope=cdp",
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=cdp&scope=cdp",
        "grant_type=client_credentials&x=%ff",
        "grant_type=client_credentials&" + "&".join(f"p{n}=1" for n in range(40)),
    ],
)
async def test_missing_repeated_or_undecodable_parameters_are_invalid_requests(
    client: httpx.AsyncClient, account: ClientCredentials, content: str
) -> None:
    auth = basic(account.client_id, account.client_secret)
    assert_token_error(await post(client, content, **auth), 400, "invalid_request")


async def test_bytes_that_are_not_ascii_are_an_invalid_request(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    auth = basic(account.client_id, account.client_secret)
    raw = "grant_type=client_credentials&名=值".encode()
    assert_token_error(await post(client, raw, **auth), 400, "invalid_request")


async def test_a_grant_other_than_client_credentials_is_unsupported(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    auth = basic(account.client_id, account.client_secret)
    for grant in ("password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"):
        response = await post(client, f"grant_type={grant}", **auth)
        assert_token_error(response, 400, "unsupported_grant_type")


async def test_a_scope_other_than_cdp_is_invalid(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    for scope in ("admin", "cdp admin", "openid", "cdp+cdp"):
        response = await token_by_basic(client, account, scope=scope)
        assert_token_error(response, 400, "invalid_scope")
    for scope in ("cdp", ""):
        assert (await token_by_basic(client, account, scope=scope)).status_code == 200


async def test_basic_and_body_credentials_together_are_an_invalid_request(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    auth = basic(account.client_id, account.client_secret)
    for extra in (f"client_secret={account.client_secret}", f"client_id={account.client_id}"):
        response = await post(client, f"grant_type=client_credentials&{extra}", **auth)
        assert_token_error(response, 400, "invalid_request")


async def test_no_client_authentication_or_another_scheme_is_an_invalid_client(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    cases: list[tuple[str, dict[str, str]]] = [
        ("grant_type=client_credentials", {}),
        ("grant_type=client_credentials", {"authorization": "Bearer cdpsa_abc"}),
        (f"grant_type=client_credentials&client_id={account.client_id}", {}),
        (f"grant_type=client_credentials&client_secret={account.client_secret}", {}),
        (f"grant_type=client_credentials&client_id={'x' * 300}&client_secret=y", {}),
    ]
    for content, headers in cases:
        response = await post(client, content, **headers)
        assert_token_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == 'Basic realm="cdp"'


async def test_unreadable_basic_credentials_are_an_invalid_request(
    client: httpx.AsyncClient,
) -> None:
    no_colon = base64.b64encode(b"cdpsvc_only").decode()
    not_utf8 = base64.b64encode(b"\xff\xfe:\xff").decode()
    bad_escape = base64.b64encode(b"cdpsvc_x:%ff").decode()
    for value in ("Basic !!!not-base64", f"Basic {no_colon}", f"Basic {not_utf8}"):
        response = await post(client, "grant_type=client_credentials", authorization=value)
        assert_token_error(response, 400, "invalid_request")
    escaped = await post(
        client, "grant_type=client_credentials", authorization=f"Basic {bad_escape}"
    )
    assert_token_error(escaped, 400, "invalid_request")


async def test_basic_credentials_are_form_urlencoded_before_base64(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    # RFC 6749 §2.3.1: a client may percent-encode any character of its id and secret.
    encoded = "".join(f"%{ord(ch):02X}" for ch in account.client_id)
    pair = f"{encoded}:{account.client_secret}".encode()
    auth = "Basic " + base64.b64encode(pair).decode()
    response = await post(client, "grant_type=client_credentials", authorization=auth)
    assert response.status_code == 200, response.text


async def test_arbitrary_bodies_and_headers_never_get_a_5xx(
    client: httpx.AsyncClient, account: ClientCredentials
) -> None:
    rng = random.Random(18)
    alphabet = b"=&%+:;abcdefgh_ \x00\xff\xc3\xa9grant_type=client_credentials"
    for _ in range(60):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        header = base64.b64encode(bytes(rng.randrange(256) for _ in range(20))).decode()
        for headers in ({}, {"authorization": f"Basic {header}"}):
            response = await post(client, body, **headers)
            assert response.status_code in (400, 401), response.text
            assert response.json()["error"] in CODES


async def test_only_post_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/token", params=GRANT)
    assert response.status_code == 405
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


async def test_token_requests_are_rate_limited_per_address(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_per_minute=2)
    database = Database(settings)
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cdp.test") as client:
            for _ in range(2):
                response = await post(client, "grant_type=client_credentials")
                assert response.status_code == 401
            limited = await post(client, "grant_type=client_credentials")
            body = assert_token_error(limited, 429, "slow_down")
            assert int(limited.headers["retry-after"]) >= 1
            assert body["errors"][0]["extensions"]["limit"] == "rate"
    finally:
        await database.dispose()


async def test_a_database_outage_is_a_503_with_retry_after(
    client: httpx.AsyncClient, account: ClientCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_down(**_: Any) -> None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(cdp.staff.token_endpoint, "issue_token", database_down)
    response = await token_by_basic(client, account)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert error_codes(response.json()) == ["INTERNAL"]
