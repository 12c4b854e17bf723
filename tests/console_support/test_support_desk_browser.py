"""The support desk in headless Chromium, on both databases, over the documented demo people:
support signs in with the page's development button, finds 张小梅 by phone for a ticket and a
reason, and sees her as the server shows support (138****5678, 张*); her full phone and UnionID
reach neither the page nor any response it received; the purpose is in the audit log; the
server refuses the compliance data to the session; and a revoked session's next search
returns the page to sign-in saying so. Compliance opens the support desk too and is told a
miss, the miss cap and the server's other errors in words; an analyst is offered neither."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.demo.known import KNOWN_PEOPLE
from cdp.demo.seed import seed_demo_data
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.staff.sessions import revoke
from tests.conftest import TEST_KEYRING, ClientFactory, audited, make_settings
from tests.support.console_documents import sent_by_id, trusted_console
from tests.support.staff_desk import records_of
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
DOCS_SHOT = ROOT / "docs" / "console" / "support-desk.png"
PHONE, UNION_ID = "13812345678", "oUnIoN1234567890abcdefghijklm"
HER = next(p.public_id for p in KNOWN_PEOPLE if p.phone == PHONE)
PURPOSE = "工单 T-1234: 修改收货地址"
EARN = (
    "mutation($n: String!, $id: ID!) { earnPoints(input: {profileId: $id, points: 5, "
    'idempotencyKey: $n, reason: "客服补偿", channel: MINI_PROGRAM}) { points } }'
)
# A trusted document of the console sent by the page's own `gql`, and a document's text posted
# by hand with the session's anti-CSRF token: each answered with its code and reason.
REFUSED = (
    "([name, variables]) => window.cdpConsole.gql(name, variables)"
    ".then(() => 'answered', (e) => `${e.code} ${e.extensions.reason}`)"
)
BY_HAND = """(query) => fetch("/graphql", {method: "POST", headers: {"content-type":
  "application/json", "X-CDP-CSRF": document.querySelector('input[name="csrf"]').value},
  body: JSON.stringify({query})}).then(async (r) => {
    const e = (await r.json()).errors[0].extensions;
    return `${r.status} ${e.code} ${e.reason}`; })"""


async def test_support_finds_a_demo_customer_by_phone_and_sees_only_what_support_may_see(
    chromium: str,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
    client_for: ClientFactory,
    backend: str,
) -> None:
    from playwright.async_api import Response

    await seed_demo_data(
        database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=20
    )
    # A ledger longer than a page (10), to page through.
    service = client_for(Role.SERVICE)
    for n in range(12):
        earned = await service.post(
            "/graphql", json={"query": EARN, "variables": {"n": f"t{n}", "id": HER}}
        )
        assert earned.json()["data"]["earnPoints"]["points"] == 5, earned.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    responses: list[Response] = []
    bodies: list[str] = []
    graphql_posts: list[str] = []
    problems: list[str] = []
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("response", lambda r: responses.append(r))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    graphql_posts.append(r.post_data or "") if r.url.endswith("/graphql") else None
                ),
            )
            await page.goto(f"{server.url}/console/")
            await page.wait_for_selector("#signed-out:not([hidden])")
            # The page's own development button for support (the first of them).
            await page.locator('form[action="/auth/staff/dev"]').first.locator("button").click()
            await page.wait_for_selector("#desk-support:not([hidden])")
            assert page.url.endswith("/console/#/support")
            nav = await page.inner_text("#nav")
            assert "客服工作台" in nav and "合规工作台" not in nav and "数据看板" not in nav

            # No purpose, no request: the form refuses and says what is missing.
            await page.fill("#key-value", "138 1234 5678")
            await page.click("#lookup-go")
            assert "工单号" in await page.inner_text("#lookup-status")
            assert await page.evaluate("document.activeElement.id") == "ticket"
            await page.fill("#ticket", "T-1234")
            await page.click("#lookup-go")
            assert "原因" in await page.inner_text("#lookup-status")
            assert graphql_posts == []

            # By keyboard: the reason, then Enter submits.
            await page.focus("#reason")
            await page.keyboard.type("修改收货地址")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#card:not([hidden])")
            await page.wait_for_selector("#card .contact")
            card = await page.inner_text("#card")
            assert "138****5678" in card and "张*" in card
            assert "广东省 深圳市" in card and "南山区" not in card
            assert "积分流水" in card and "订单" in card and "授权" in card
            # The spend behind the tier, and canContact for the usual pairs, both asked
            # within the one audited lookup.
            assert "近 12 个月已付款消费 ¥" in card
            assert await page.locator("#card ul.contact li").count() == 5
            assert "可以联系" in card or "不可联系" in card
            await page.locator("#lookup").scroll_into_view_if_needed()
            await page.evaluate("document.getElementById('support-title').scrollIntoView()")
            await page.screenshot(path=str(ARTIFACTS / "support-desk-1280x800.png"))
            if os.environ.get("CDP_UPDATE_DOCS_SCREENSHOTS") == "1" and backend == "sqlite":
                # The README's tour picture, refreshed on purpose only: a run of the suite
                # leaves the working tree as it found it.
                DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ARTIFACTS / "support-desk-1280x800.png", DOCS_SHOT)

            # A long list pages with its "more" button.
            more = page.locator("#card button.more:visible")
            assert await more.count() == 1, "her ledger is the one list longer than a page"
            ledger = page.locator("#card .table-wrap:has(button[data-list=ledger]) tbody tr")
            assert await ledger.count() == 10
            await more.first.click()
            await page.wait_for_function(
                "() => !document.querySelector('#card button[data-list=ledger]:not([hidden])')"
            )
            assert await ledger.count() > 10

            await page.set_viewport_size({"width": 768, "height": 1024})
            await page.screenshot(path=str(ARTIFACTS / "support-desk-768.png"), full_page=True)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 768, f"the page scrolls sideways at 768 ({width}px)"

            # The other keys: her member id, and an OpenID with the app it belongs to.
            for kind, value, app_id in (
                ("id", HER, None),
                ("openId", "oAbCd1234567890abcdefghijklm", "wx8f3c2a1b5d6e7f90"),
            ):
                await page.select_option("#key-kind", kind)
                assert await page.is_visible("#app-id") == (kind == "openId")
                await page.fill("#key-value", value)
                if app_id:
                    await page.fill("#app-id", app_id)
                await page.click("#lookup-go")
                await page.wait_for_selector("#card:not([hidden])")
                assert "138****5678" in await page.inner_text("#card"), kind

            # Hidden is not refused: the server refuses compliance's documents to support,
            # and (trusted documents only) any document's text from the session.
            sent_by_the_page = len(graphql_posts)
            for name, variables in (
                ("DeskErasureQueue", {"overdue": False, "first": 1}),
                ("AuditVerify", {}),
            ):
                refused = await page.evaluate(REFUSED, [name, variables])
                assert refused == "FORBIDDEN DOCUMENT_ROLE", name
            for query in (
                "{ auditEvents(first: 1) { items { action } } }",
                # The root canContact stays the service role's: by id, with no purpose.
                f'{{ canContact(profileId: "{HER}", purpose: MARKETING, channel: SMS) '
                "{ allowed } }",
            ):
                refused = await page.evaluate(BY_HAND, query)
                assert refused == "403 FORBIDDEN TRUSTED_DOCUMENTS_ONLY", query
            sent_by_id(graphql_posts[:sent_by_the_page])
            del graphql_posts[sent_by_the_page:]

            html = await page.evaluate("document.documentElement.outerHTML")
            # Revoked elsewhere: the next search returns the page to sign-in, saying so.
            [sign_in] = await records_of(database, "staff.sign_in")
            async with audited(database) as session:
                await revoke(session=session, by="test", public_id=sign_in.detail["session"])
            await page.click("#lookup-go")
            await page.wait_for_selector("#signed-out:not([hidden])")
            assert "会话已被撤销" in await page.inner_text("#why")
            assert await page.is_hidden("#desk-support")
            html_after = await page.evaluate("document.documentElement.outerHTML")
            for response in responses:
                try:
                    bodies.append((await response.body()).decode("utf-8", "replace"))
                except Exception:  # a redirect has no body to read
                    bodies.append("")

    assert problems == [], problems
    # The revoked session's search, too, went by id.
    sent_by_id(graphql_posts)
    for dom in (html, html_after):
        assert PHONE not in dom and UNION_ID not in dom
    received = [r for r, body in zip(responses, bodies, strict=True) if body]
    assert any("/graphql" in r.url for r in received)
    for response, body in zip(responses, bodies, strict=True):
        assert PHONE not in body, response.url
        assert UNION_ID not in body, response.url
    origin = urlsplit(server.url).netloc
    assert {urlsplit(r.url).netloc for r in responses} == {origin}
    # The read of her masked fields is audited with the purpose the form composed.
    reads: list[Any] = await records_of(database, "pii.read")
    assert PURPOSE in {record.purpose for record in reads}, backend


def answer(status: int, headers: dict[str, str], body: str) -> Callable[[Any], Awaitable[None]]:
    """A route handler answering every request with this response."""

    async def handle(route: Any) -> None:
        await route.fulfill(
            status=status, headers=headers, body=body, content_type="application/json"
        )

    return handle


async def test_compliance_opens_the_support_desk_and_is_told_plainly_of_a_miss_and_the_cap(
    chromium: str, database_url: str, database: Database
) -> None:
    settings = make_settings(database_url, lookup_miss_limit=1)
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page(viewport={"width": 768, "height": 1024})
            await page.goto(f"{server.url}/console/")
            await page.wait_for_selector("#signed-out:not([hidden])")
            # The third development button: compliance.
            await page.locator('form[action="/auth/staff/dev"]').nth(2).locator("button").click()
            await page.wait_for_selector("#desk-support:not([hidden])")
            nav = await page.inner_text("#nav")
            assert "客服工作台" in nav and "审计日志" in nav and "数据看板" not in nav
            await page.click("#nav a[data-desk=audit]")
            await page.wait_for_selector("#desk-audit:not([hidden])")
            assert page.url.endswith("#/audit")
            assert await page.is_hidden("#desk-support")
            await page.click("#nav a[data-desk=support]")
            await page.wait_for_selector("#desk-support:not([hidden])")

            # Not a phone number: the server's BAD_USER_INPUT, in words, with its field.
            await page.fill("#key-value", "12")
            await page.fill("#ticket", "T-9")
            await page.fill("#reason", "核对来电")
            await page.click("#lookup-go")
            await page.wait_for_selector("#lookup-status:has-text('输入有误')")
            assert "phone" in await page.inner_text("#lookup-status")

            await page.fill("#key-value", "+86 139-0000-0001")
            await page.fill("#ticket", "T-9")
            await page.fill("#reason", "核对来电")
            await page.click("#lookup-go")
            await page.wait_for_selector("#lookup-status:has-text('查无此人')")
            assert await page.is_enabled("#lookup-go")
            assert await page.is_hidden("#card")
            await page.click("#lookup-go")
            await page.wait_for_selector("#lookup-status:has-text('上限')")
            words = await page.inner_text("#lookup-status")
            assert "秒后可重试" in words
            await page.screenshot(path=str(ARTIFACTS / "support-desk-cap-768.png"))

            # The database down (503 with Retry-After), an internal error with its id:
            # the page's words for what the server would send.
            for status, retry, words in ((503, "7", "7 秒后重试"), (500, None, "内部错误")):
                ext = {"code": "INTERNAL", "requestId": "req-42"}
                body = json.dumps({"errors": [{"message": "x", "extensions": ext}]})
                headers = {"retry-after": retry} if retry else {}
                await page.route("**/graphql", answer(status, headers, body))
                await page.click("#lookup-go")
                await page.wait_for_selector(f"#lookup-status:has-text('{words}')")
                assert "req-42" in await page.inner_text("#lookup-status")
                await page.unroute("**/graphql")


async def test_an_analyst_is_offered_the_dashboard_only_and_not_the_support_desk(
    chromium: str, settings: Settings, database: Database
) -> None:
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(f"{server.url}/console/#/support")
            await page.wait_for_selector("#signed-out:not([hidden])")
            dev = page.locator('form[action="/auth/staff/dev"]')
            await dev.nth(1).locator("button").click()  # 数据分析 analyst
            await page.wait_for_selector("#desk-analytics:not([hidden])")
            nav = (await page.inner_text("#nav")).split()
            assert nav == ["数据看板", "Analyst", "dashboard"]
            assert await page.is_hidden("#desk-support")
            await page.goto(f"{server.url}/console/#/support")
            await page.wait_for_selector("#desk-analytics:not([hidden])")
            assert page.url.endswith("#/analytics")
            assert await page.is_hidden("#desk-support")
