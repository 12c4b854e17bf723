"""GraphiQL renders in headless Chromium under its 'self'-only policy: no file is refused, no
request leaves cdp, and a query typed into it is answered."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from cdp.app import create_app
from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow


async def test_graphiql_renders_and_answers_with_nothing_from_another_origin(
    chromium: str, settings: Settings
) -> None:
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        origin = urlsplit(server.url).netloc
        async with headless(chromium) as browser:
            page = await browser.new_page()
            problems: list[str] = []
            requested: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(f"{server.url}/graphql")
            await page.wait_for_selector(".graphiql-container", timeout=20_000)
            await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
            async with page.expect_response(lambda r: r.request.method == "POST") as posted:
                await page.click(".graphiql-execute-button")
            response = await posted.value
            body = await response.json()
    # The default query asks for `me` with the empty token of the Headers tab: refused, coded.
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    # The only complaints: the requests GraphiQL makes before a token is pasted (introspection).
    refused = [p for p in problems if "status of 401 (Unauthorized)" not in p]
    assert refused == [], refused
    assert {urlsplit(url).netloc for url in requested if url.startswith("http")} == {origin}
