"""End to end in headless Chromium: in the member centre a person edits their address, views
and downloads their data (a one-use link), cancels their account, signs in again through
WeChat during the cooling-off and is offered to withdraw, and withdraws.

The screenshot goes to tests/artifacts/ (git-ignored): h5-privacy-centre-<backend>.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.devwechat.fake import USERINFO_APP_ID, FakeWechat, WechatUser
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING
from tests.wechat.browser import assert_trusted_only, headless, record_graphql

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
)
QUEUE = "query { erasureRequests { items { id status origin } } }"
ADDRESS = 'query($p: ID!) { profile(id: $p, purpose: "ticket 88") { address { city } } }'


@pytest.fixture
def cdp_server(settings: Settings) -> Iterator[LoopbackServer]:
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        yield server


async def staff(settings: Settings, url: str, role: Role, query: str, **variables: Any) -> Any:
    token = issue_token(settings, role=role, subject=f"{role.value}-e2e")
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {token}"}
    ) as client:
        body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


async def test_edit_view_download_cancel_and_withdraw_in_the_member_centre(
    chromium: str,
    cdp_server: LoopbackServer,
    settings: Settings,
    wechat: FakeWechat,
    backend: str,
    tmp_path: Path,
) -> None:
    wechat.browser_user = WechatUser(union_id="oUnIoNprivacy0000000000001")
    sign_in = f"{cdp_server.url}/auth/wechat/official-account/authorize?appId={USERINFO_APP_ID}"
    async with headless(chromium) as browser:
        context = await browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            user_agent=PHONE_UA,
            accept_downloads=True,
        )
        page = await context.new_page()
        failed: list[str] = []
        page.on("pageerror", lambda error: failed.append(str(error)))
        sent = record_graphql(page)
        await page.goto(sign_in)
        await page.wait_for_selector("body[data-privacy-ready=true]", timeout=15_000)
        assert await page.inner_text("#notice-version") == "会员隐私政策（2026-01 版）"
        profile_id = await page.evaluate(
            "() => JSON.parse(atob(sessionStorage.getItem('cdp.customerToken')"
            ".split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub"
        )

        # Edit: the address is saved on the server.
        await page.fill("#profile-name", "李雷")
        await page.fill("#address-province", "浙江省")
        await page.fill("#address-city", "杭州市")
        await page.fill("#address-district", "西湖区")
        await page.fill("#address-street", "文三路 90 号")
        await page.click("#profile-save")
        await page.wait_for_selector("body[data-profile-saved=true]", timeout=10_000)
        seen = await staff(settings, cdp_server.url, Role.SUPPORT, ADDRESS, p=profile_id)
        assert seen["profile"]["address"] == {"city": "杭州市"}

        # View: the page fetches the one-use link and shows what is held.
        await page.click("#view-data")
        await page.wait_for_selector("body[data-data-viewed=true]", timeout=10_000)
        assert "文三路 90 号" in await page.inner_text("#my-data")

        # Download: a JSON file; its link does not work a second time.
        async with page.expect_download(timeout=10_000) as waiting:
            await page.click("#download-data")
        download = await waiting.value
        saved = tmp_path / "my-data.json"
        await download.save_as(saved)
        document = json.loads(saved.read_text(encoding="utf-8"))
        assert document["profile"]["name"] == "李雷"
        async with httpx.AsyncClient() as anyone:
            assert (await anyone.get(download.url)).status_code == 404

        # Cancel: confirm, and the page shows the cooling-off.
        await page.click("#cancel-account")
        assert await page.is_disabled("#confirm-cancel")
        await page.check("#cancel-understood")
        await page.click("#confirm-cancel")
        await page.wait_for_selector("body[data-cancellation=COOLING_OFF]", timeout=10_000)
        queue = await staff(settings, cdp_server.url, Role.COMPLIANCE, QUEUE)
        assert [(r["status"], r["origin"]) for r in queue["erasureRequests"]["items"]] == [
            ("COOLING_OFF", "SELF")
        ]

        # Signing in again through WeChat during the cooling-off offers the withdrawal.
        again = await context.new_page()
        again.on("pageerror", lambda error: failed.append(str(error)))
        record_graphql(again, sent)
        await again.goto(sign_in)
        await again.wait_for_selector("body[data-cancellation=COOLING_OFF]", timeout=15_000)
        assert await again.is_visible("#withdraw-cancellation")
        assert "注销" in await again.inner_text("#cancellation-text")
        ARTIFACTS.mkdir(exist_ok=True)
        await again.screenshot(path=ARTIFACTS / f"h5-privacy-centre-{backend}.png", full_page=True)
        await again.click("#withdraw-cancellation")
        await again.wait_for_selector("body[data-cancellation=NONE]", timeout=10_000)
        assert await again.is_visible("#cancel-account")
        queue = await staff(settings, cdp_server.url, Role.COMPLIANCE, QUEUE)
        assert [r["status"] for r in queue["erasureRequests"]["items"]] == ["WITHDRAWN"]
        assert failed == []
        assert_trusted_only(sent)
        await context.close()


async def test_a_material_new_notice_is_shown_and_the_choices_made_again_under_it(
    chromium: str,
    cdp_server: LoopbackServer,
    settings: Settings,
    wechat: FakeWechat,
) -> None:
    from cdp.consent import notices
    from cdp.db import Database
    from tests.conftest import audited

    wechat.browser_user = WechatUser(union_id="oUnIoNprivacy0000000000002")
    sign_in = f"{cdp_server.url}/auth/wechat/official-account/authorize?appId={USERINFO_APP_ID}"
    async with headless(chromium) as browser:
        context = await browser.new_context(locale="zh-CN", user_agent=PHONE_UA)
        page = await context.new_page()
        sent = record_graphql(page)
        await page.goto(sign_in)
        await page.wait_for_selector("body[data-privacy-ready=true]", timeout=15_000)
        await page.click("input[data-purpose=MARKETING]")  # a choice under 2026-01
        await page.wait_for_selector("body[data-consent-saved='MARKETING:true']")
        assert await page.get_attribute("body", "data-reconsent") == "false"
        database = Database(settings)
        try:
            async with audited(database) as session:
                await notices.publish(
                    session=session,
                    version="2026-12",
                    title="会员隐私政策",
                    text="新增：与快递公司共享收货地址，仅用于配送。",
                    changes="新增与快递公司共享收货地址的说明。",
                    material=True,
                    effective_at=datetime.now(UTC) - timedelta(minutes=1),
                )
        finally:
            await database.dispose()
        again = await context.new_page()
        record_graphql(again, sent)
        await again.goto(sign_in)
        await again.wait_for_selector("body[data-reconsent=true]", timeout=15_000)
        assert "快递公司" in await again.inner_text("#reconsent-changes")
        assert "2026-12" in await again.inner_text("#notice-version")
        await again.click("#reconsent-accept")
        await again.wait_for_selector("body[data-reconsent=false]", timeout=10_000)
        assert await again.is_hidden("#reconsent")
        history = await again.inner_text("#consent-history")
        assert "2026-12 版" in history and "2026-01 版" in history
        assert_trusted_only(sent)
        await context.close()
