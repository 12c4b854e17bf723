"""The console's page in headless Chromium under its policy, on both databases: a developer
signs in with two roles, chooses one, sees who they are and in which role, and signs out;
no file or script is refused and no request leaves cdp."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import Database
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.staff.models import SessionEnd
from tests.conftest import TEST_KEYRING
from tests.support.console_documents import trusted_console
from tests.support.staff_desk import records_of, session_row
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow


async def test_a_developer_signs_in_chooses_a_role_and_signs_out_in_the_console(
    chromium: str, settings: Settings, database: Database
) -> None:
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page()
            problems: list[str] = []
            requested: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(f"{server.url}/console/")
            await page.wait_for_selector("#signed-out:not([hidden])")
            assert "请先登录" in await page.inner_text("#why")
            await page.click("text=support + compliance")
            await page.wait_for_selector("#choose:not([hidden])")
            assert await page.inner_text("#person") == "development:dev-support-compliance"
            assert "未选择" in await page.inner_text("#role")
            await page.click("#role-buttons button[value=compliance]")
            await page.wait_for_selector("#signed-in:not([hidden])")
            assert "compliance" in await page.inner_text("#role")
            assert await page.is_hidden("#choose")
            cookies = await page.context.cookies()
            [cookie] = [c for c in cookies if c["name"] == "cdp_staff"]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            await page.click("#sign-out button")
            await page.wait_for_selector("#signed-out:not([hidden])")
            assert not [c for c in await page.context.cookies() if c["name"] == "cdp_staff"]
    # The one complaint: the page's first read of the session, before signing in (401).
    refused = [p for p in problems if "status of 401 (Unauthorized)" not in p]
    assert refused == [], refused
    origin = urlsplit(server.url).netloc
    assert {urlsplit(url).netloc for url in requested if url.startswith("http")} == {origin}
    [sign_in] = await records_of(database, "staff.sign_in")
    session_id = sign_in.detail["session"]
    row = await session_row(database, session_id)
    assert (row.role, row.ended_reason) == ("compliance", SessionEnd.SIGNED_OUT)
    assert [r.outcome for r in await records_of(database, "staff.role")] == ["ok"]
