"""In headless Chromium (both databases): a person's own cancellation (注销账号) shows on the
erasure desk as cooling off, with no approval to give; an officer holds it with a legal
reason, which the page then shows, and releases it again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING
from tests.support.console_documents import trusted_console
from tests.support.people import MINI, link
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow

CANCEL = "mutation { cancelMyAccount(input: {confirm: true}) { id } }"
LEGAL = "诉讼保全：案号 (2026) 浙0106民初 1234 号"


async def cancelled_account(url: str, settings: Settings) -> str:
    service = issue_token(settings, role=Role.SERVICE, subject="order-service")
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {service}"}
    ) as client:
        profile = await link(client, "MINI_PROGRAM", MINI, "oMiNidesk00000000000000001")
    token = issue_token(settings, role=Role.CUSTOMER, subject=profile["id"])
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {token}"}
    ) as customer:
        body = (await customer.post("/graphql", json={"query": CANCEL})).json()
    return str(body["data"]["cancelMyAccount"]["id"])


async def open_request(page: Any, url: str, request_id: str) -> None:
    await page.goto(f"{url}/console/")
    await page.wait_for_selector("#signed-out:not([hidden])")
    form = page.locator('form[action="/auth/staff/dev"]').nth(2)  # 合规 compliance
    assert await form.locator("input[name=role]").get_attribute("value") == "compliance"
    await form.locator("button").click()
    await page.wait_for_selector("#nav a[data-desk=requests]")
    await page.goto(f"{url}/console/#/requests/{request_id}")
    await page.wait_for_selector(f"#dsr-detail-body:not([hidden]) #dsr-facts :text('{request_id}')")


async def test_an_officer_holds_a_cancellation_for_a_legal_reason_and_releases_it(
    chromium: str, settings: Settings
) -> None:
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    problems: list[str] = []
    with LoopbackServer(app) as server:
        request_id = await cancelled_account(server.url, settings)
        async with headless(chromium) as browser:
            page = await (
                await browser.new_context(viewport={"width": 1280, "height": 800})
            ).new_page()
            page.on("pageerror", lambda e: problems.append(str(e)))
            await open_request(page, server.url, request_id)
            facts = await page.inner_text("#dsr-facts")
            assert "冷静期" in facts and "本人注销账号" in facts
            assert await page.is_hidden("#dsr-approve")
            assert "无需审批" in await page.inner_text("#dsr-approve-why")
            assert await page.is_visible("#dsr-hold-button")
            await page.click("#dsr-hold-button")  # no reason: refused in words
            assert "原因" in await page.inner_text("#dsr-hold-status")
            await page.fill("#dsr-hold-reason", LEGAL)
            await page.click("#dsr-hold-button")
            await page.wait_for_selector("#dsr-facts :text('已暂缓')")
            assert LEGAL in await page.inner_text("#dsr-facts")
            assert await page.is_visible("#dsr-release-button")
            await page.fill("#dsr-hold-reason", "保全已解除")
            await page.click("#dsr-release-button")
            await page.wait_for_selector("#dsr-facts :text('冷静期')")
    assert problems == []
