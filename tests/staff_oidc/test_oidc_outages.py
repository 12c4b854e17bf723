"""When the OpenID provider is down, slow or answers nonsense: 503 with Retry-After for the
first two, 502 coded for the last, never a 500; the discovery document is cached, and a failed
fetch is not (the next sign-in asks again)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.staff.oidc import OidcClient, OidcError, OidcFailure
from cdp.staff.oidc_outcomes import failure_of_oidc
from cdp.staff.oidc_routes import OidcSignIn
from tests.conftest import TEST_KEYRING
from tests.support.oidc_provider import APP_BASE, OidcProvider, StaffBrowser, oidc_settings


class Switchable(httpx.AsyncBaseTransport):
    """The real network to the provider, until a test cuts it or scripts an answer."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.down = False
        self.answer: httpx.Response | None = None
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.answer is not None:
            return self.answer
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def settings(database_url: str, oidc_provider: OidcProvider) -> Settings:
    return oidc_settings(database_url, oidc_provider.issuer)


@pytest.fixture
def network() -> Switchable:
    return Switchable()


@pytest.fixture
async def browser(
    settings: Settings, database: Database, oidc_provider: OidcProvider, network: Switchable
) -> AsyncIterator[StaffBrowser]:
    """A browser at an app of the OIDC routes alone, whose way to the provider can be cut."""
    client = OidcClient(settings, transport=network)
    oidc = OidcSignIn(settings, database, KeyringSource.fixed(TEST_KEYRING), client)
    app = Starlette(routes=oidc.routes())
    transport = httpx.ASGITransport(app=app)
    browser = StaffBrowser(httpx.AsyncClient(transport=transport, base_url=APP_BASE), oidc_provider)
    yield browser
    await browser.aclose()
    await browser.app.aclose()
    await oidc.aclose()


def unavailable(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["reason"] == reason


async def test_a_provider_that_is_down_at_authorize_answers_503_with_retry_after(
    database_url: str, database: Database, keystore: KeyStore, unused_port: int
) -> None:
    settings = oidc_settings(database_url, f"http://127.0.0.1:{unused_port}")
    app = create_app(settings, database, KeyringSource.fixed(TEST_KEYRING), keystore)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_BASE) as c:
        unavailable(await c.get("/auth/staff/oidc/authorize"), "PROVIDER_UNAVAILABLE")


async def test_a_provider_that_goes_down_before_the_callback_answers_503_with_retry_after(
    browser: StaffBrowser, network: Switchable
) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support")
    network.down = True
    unavailable(await browser.callback(callback), "PROVIDER_UNAVAILABLE")


async def test_a_provider_answering_503_is_unavailable_and_one_answering_html_is_a_502(
    browser: StaffBrowser, network: Switchable
) -> None:
    callback = await browser.approve(await browser.authorize(), "staff-support")
    network.answer = httpx.Response(503, text="<html>maintenance</html>")
    unavailable(await browser.callback(callback), "PROVIDER_UNAVAILABLE")
    network.answer = None
    callback = await browser.approve(await browser.authorize(), "staff-support")
    network.answer = httpx.Response(200, text="<html>a captive portal</html>")
    response = await browser.callback(callback)
    assert response.status_code == 502, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["reason"] == "PROVIDER_ANSWER"


async def test_discovery_is_cached_and_a_failed_fetch_is_not(
    settings: Settings, network: Switchable
) -> None:
    client = OidcClient(settings, transport=network)
    try:
        network.down = True
        with pytest.raises(OidcError) as raised:
            await client.discovery()
        assert raised.value.failure is OidcFailure.UNAVAILABLE
        network.down = False
        first = await client.discovery()
        assert await client.discovery() is first
        fetches = [p for p in network.paths if p.endswith("/openid-configuration")]
        assert len(fetches) == 2  # the failed one, then one for both answers
    finally:
        await client.aclose()


@pytest.fixture
def silent_provider() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_a_provider_that_does_not_answer_in_time_is_a_503(
    database_url: str, silent_provider: str
) -> None:
    client = OidcClient(oidc_settings(database_url, silent_provider), timeout=0.3)
    try:
        with pytest.raises(OidcError) as raised:
            await client.discovery()
    finally:
        await client.aclose()
    assert raised.value.failure is OidcFailure.TIMEOUT
    failed = failure_of_oidc(raised.value)
    assert (failed.status, failed.extensions["retryAfter"]) == (503, 5)


async def test_a_discovery_document_naming_another_issuer_is_refused(
    settings: Settings, network: Switchable
) -> None:
    network.answer = httpx.Response(
        200, json={"issuer": "https://evil.example", "authorization_endpoint": "https://e/a"}
    )
    client = OidcClient(settings, transport=network)
    try:
        with pytest.raises(OidcError) as raised:
            await client.discovery()
    finally:
        await client.aclose()
    assert (raised.value.failure, raised.value.check) == (OidcFailure.ANSWER, "issuer")
    assert failure_of_oidc(raised.value).status == 502
