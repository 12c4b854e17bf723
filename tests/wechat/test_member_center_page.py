"""End to end in headless Chromium: a customer signs in through the official account's OAuth
flow (the fake WeChat's consent page), the member center at /h5/ shows their points, and
switching a consent off changes what `canContact` answers on the server.

The screenshot goes to tests/artifacts/ (git-ignored): h5-member-center-<backend>.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role, issue_token
from cdp.config import Settings
from cdp.devwechat.fake import MINI_APP_ID, USERINFO_APP_ID, FakeWechat, WechatUser
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from tests.conftest import TEST_KEYRING, ClientFactory
from tests.wechat.browser import assert_trusted_only, record_graphql

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CAN_CONTACT = """query($p: ID!) {
  canContact(profileId: $p, purpose: ACTIVITY_NOTIFICATIONS, channel: OFFICIAL_ACCOUNT) {
    allowed reason } }"""
FEED = """mutation($p: ID!, $until: DateTime!) {
  earnPoints(input: {profileId: $p, points: 1288, idempotencyKey: "order-20261122000123",
                     reason: "消费积分", channel: MINI_PROGRAM}) { balanceAfter }
  spendPoints(input: {profileId: $p, points: 300, idempotencyKey: "redeem-20261123-01",
                      reason: "积分兑换：拿铁券", channel: OFFICIAL_ACCOUNT}) { balanceAfter }
  issueCoupon(input: {profileId: $p, title: "满50减10 饮品券", discountFen: 1000,
                      minSpendFen: 5000, validUntil: $until, idempotencyKey: "coupon-1"}) { id }
  recordOrder(input: {profileId: $p, channel: MINI_PROGRAM, externalId: "20261122000123",
    status: PAID, entry: "from=article&id=123",
    items: [{sku: "LATTE-L", name: "拿铁 大杯", quantity: 2, unitPriceFen: 3200}]}) { id }
}"""


@pytest.fixture
def cdp_server(settings: Settings) -> Iterator[LoopbackServer]:
    """cdp itself on a loopback port, so the browser reaches it over real HTTP."""
    app = create_app(settings, None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        yield server


@pytest.fixture
async def service(
    settings: Settings, cdp_server: LoopbackServer
) -> AsyncIterator[httpx.AsyncClient]:
    token = issue_token(settings, role=Role.SERVICE, subject="order-service")
    async with httpx.AsyncClient(
        base_url=cdp_server.url, headers={"authorization": f"Bearer {token}"}
    ) as client:
        yield client


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def test_member_center_shows_points_and_a_consent_switched_off_stops_contact(
    chromium: str,
    cdp_server: LoopbackServer,
    service: httpx.AsyncClient,
    wechat: FakeWechat,
    backend: str,
) -> None:
    from playwright.async_api import async_playwright

    # The person first used the mini-program, where they ordered and earned points.
    user = WechatUser(union_id="oUnIoNh5page000000000000001")
    async with httpx.AsyncClient(base_url=cdp_server.url) as anonymous:
        signed_in = await anonymous.post(
            "/auth/wechat/mini-program",
            json={"appId": MINI_APP_ID, "code": wechat.code_for(MINI_APP_ID, user)},
        )
    profile_id = signed_in.json()["profileId"]
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await graphql(service, FEED, {"p": profile_id, "until": until})
    before = await graphql(service, CAN_CONTACT, {"p": profile_id})
    assert before["canContact"] == {"allowed": True, "reason": "DEFAULT"}

    # Now they open the official account's member-center link in WeChat's browser.
    wechat.browser_user = user
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            page = await browser.new_page(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                locale="zh-CN",
                user_agent=(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
                ),
            )
            failed: list[str] = []
            page.on("pageerror", lambda error: failed.append(str(error)))
            sent = record_graphql(page)
            await page.goto(
                f"{cdp_server.url}/auth/wechat/official-account/authorize?appId={USERINFO_APP_ID}"
            )
            await page.wait_for_selector("body[data-ready=true]", timeout=15_000)
            assert (
                page.url == f"{cdp_server.url}/h5/?appId={USERINFO_APP_ID}"
            )  # the token left the URL
            assert await page.inner_text("#points-balance") == "988"
            assert await page.inner_text("#tier-label") == "普通会员"
            assert "满50减10 饮品券" in await page.inner_text("#coupons")
            assert "拿铁 大杯 ×2" in await page.inner_text("#orders")
            assert "积分兑换：拿铁券" in await page.inner_text("#ledger")

            switch = page.locator("input[data-purpose=ACTIVITY_NOTIFICATIONS]")
            assert await switch.is_checked()
            await switch.click()
            await page.wait_for_selector(
                "body[data-consent-saved='ACTIVITY_NOTIFICATIONS:false']", timeout=10_000
            )
            assert not await page.locator("input[data-purpose=ACTIVITY_NOTIFICATIONS]").is_checked()
            await page.wait_for_timeout(300)  # let the switch's animation settle
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(
                path=ARTIFACTS / f"h5-member-center-{backend}.png", full_page=True
            )
            assert failed == []
            assert_trusted_only(sent)
        finally:
            await browser.close()

    after = await graphql(service, CAN_CONTACT, {"p": profile_id})
    assert after["canContact"] == {"allowed": False, "reason": "OPTED_OUT"}


async def test_the_page_is_served_with_a_strict_policy_and_no_build_step(
    client_for: ClientFactory,
) -> None:
    client = client_for(None)
    page = await client.get("/h5/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "会员中心" in page.text and 'src="app.js"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    script = await client.get("/h5/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SwitchConsent" in script.text and "innerHTML" not in script.text
    assert "documentId" in script.text and "mutation SwitchConsent" not in script.text
    assert (await client.get("/h5/app.css")).status_code == 200
    assert (await client.get("/h5/../cdp/config.py")).status_code == 404
    assert (await client.get("/h5/secrets.json")).status_code == 404
    moved = await client.get("/h5?appId=wx1a2b3c4d5e6f7a8b")
    assert moved.status_code == 308 and moved.headers["location"] == "/h5/?appId=wx1a2b3c4d5e6f7a8b"
