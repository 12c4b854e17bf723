"""Two compliance officers take an erasure from request to receipt in headless Chromium, on
both databases, over the documented demo people, each signed in with the page's own
development button in a browser context of their own. Officer A first exports 王芳 by
keyboard and downloads the JSON file, then requests the erasure of 陈思远 and is refused
her own approval: the button says why, and the server refuses it (CONFLICT, in words) when
the approval is forced. Officer B (the second officer's button) finds the request in the
queue as pending, beside an overdue one highlighted in words (and alone under the overdue
filter), each naming its person's profile id, approves it, and watches the steps complete
while the approval is still in flight (the polling, not the mutation's answer, shows them),
then reads the receipt with the verification scan passed. Asking again for the erased person
is refused as SUPPRESSED; a request left executing is polled, once a second, until the
officer leaves the desk; a long queue pages. From a support card, compliance's two links
open the desk's forms filled in for that person; support's card has neither."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.demo.known import KNOWN_PEOPLE
from cdp.demo.seed import seed_demo_data
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.profiles.models import Profile
from cdp.suppression.models import ErasureRequest, ErasureStatus
from tests.conftest import TEST_KEYRING, ClientFactory
from tests.support.console_documents import trusted_console
from tests.support.staff_desk import records_of
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
DOCS_SHOT = ROOT / "docs" / "console" / "compliance-requests.png"
WANG, CHEN = (next(p for p in KNOWN_PEOPLE if p.name == n) for n in ("王芳", "陈思远"))
# The page's development buttons: compliance, and the second compliance officer.
# Long enough for two polls of an executing request (one a second), or for one that ought not.
POLLS = 3.0
OFFICER_A, OFFICER_B = "development:dev-compliance", "development:dev-compliance-2"
EXPORT_PURPOSE = "工单 DSR-1025：本人申请查阅个人信息"
REASON = "工单 DSR-1024：本人申请删除（个人信息保护法第 47 条）"
FORCED = (
    "(id) => window.cdpConsole.gql('DeskApproveErasure', {input: {requestId: id}})"
    ".then(() => 'approved', (e) => e.code)"
)
REQUEST = "mutation($input: RequestErasureInput!) { requestErasure(input: $input) { id status } }"
DONE = "#dsr-steps li[data-step=COMPLETE][data-state=done]"


async def sign_in(page: Any, url: str, officer: str) -> None:
    """The page's own development button for this compliance officer, then the desk."""
    await page.goto(f"{url}/console/")
    await page.wait_for_selector("#signed-out:not([hidden])")
    forms = page.locator('form[action="/auth/staff/dev"]')
    second = "input[name=directoryId][value='dev-compliance-2']"
    if officer == OFFICER_A:
        form = forms.nth(2)  # 合规 compliance
    else:
        form = page.locator(f'form[action="/auth/staff/dev"]:has({second})')  # 第二位合规专员
    assert await form.locator("input[name=role]").get_attribute("value") == "compliance"
    await form.locator("button").click()
    await page.wait_for_selector("#nav a[data-desk=requests]")
    assert await page.inner_text("#person") == officer
    await page.click("#nav a[data-desk=requests]")
    await page.wait_for_selector("#desk-requests:not([hidden])")
    await settled(page)


async def request_erasure(page: Any, profile_id: str, mode: str) -> str:
    """Officer's form: the new request's id, once the page has opened it."""
    before = page.url
    await page.fill("#dsr-new-profile", profile_id)
    await page.check(f"#dsr-new input[name=mode][value={mode}]")
    await page.fill("#dsr-new-reason", REASON)
    await page.click("#dsr-new-go")
    await page.wait_for_url(lambda url: url != before and re.search(r"#/requests/[\w-]+$", url))
    made = str(page.url.rsplit("/", 1)[1])
    await page.wait_for_selector(f"#dsr-detail-body:not([hidden]) #dsr-facts :text('{made}')")
    return made


async def settled(page: Any) -> None:
    """Once the queue has its answer (the click that asked has set aria-busy)."""
    await page.wait_for_function("() => !document.getElementById('dsr-queue').ariaBusy")


async def test_two_officers_take_an_erasure_from_request_to_receipt(
    chromium: str,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
    client_for: ClientFactory,
    backend: str,
) -> None:
    from playwright.async_api import Route

    await seed_demo_data(
        database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=20
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    problems: list[str] = []
    finds: list[str] = []
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            size = {"width": 1280, "height": 800}
            a = await (await browser.new_context(viewport=size, accept_downloads=True)).new_page()
            b = await (await browser.new_context(viewport=size)).new_page()
            for page in (a, b):
                page.on("pageerror", lambda e: problems.append(str(e)))
                # The signed-out page's own /auth/staff/session answers 401: not a problem.
                page.on(
                    "console",
                    lambda m: (
                        problems.append(m.text)
                        if m.type == "error" and "status of 401" not in m.text
                        else None
                    ),
                )
            b.on(
                "request",
                lambda r: (
                    finds.append(r.post_data or "")
                    if r.url.endswith("/graphql") and "DeskErasureRequest" in (r.post_data or "")
                    else None
                ),
            )

            # Officer A: an empty queue, said so.
            await sign_in(a, server.url, OFFICER_A)
            assert await a.is_visible("#dsr-queue-empty")
            assert await a.locator("#dsr-queue tbody tr").count() == 0

            # A exports 王芳 by keyboard: the purpose is required, then Enter.
            await a.focus("#dsr-export-profile")
            await a.keyboard.type(WANG.public_id)
            await a.keyboard.press("Enter")
            assert "目的" in await a.inner_text("#dsr-export-status")
            assert await a.evaluate("document.activeElement.id") == "dsr-export-purpose"
            assert (
                await a.evaluate("getComputedStyle(document.activeElement).outlineWidth") == "3px"
            )
            await a.keyboard.type(EXPORT_PURPOSE)
            await a.keyboard.press("Enter")
            await a.wait_for_selector("#dsr-download:not([hidden])")
            assert await a.evaluate("document.activeElement.id") == "dsr-download"
            async with a.expect_download() as downloading:
                await a.keyboard.press("Enter")  # the focused link, by keyboard
            download = await downloading.value
            today = datetime.now(UTC).date().isoformat()
            assert download.suggested_filename == f"cdp-export-{WANG.public_id}-{today}.json"
            saved = Path(await download.path())
            exported = json.loads(saved.read_text(encoding="utf-8"))
            assert exported["format"] == "cdp.export/1"
            assert exported["profile"]["public_id"] == WANG.public_id
            assert exported["profile"]["name"] == WANG.name
            assert exported["profile"]["address"]["street"] == WANG.address.street
            assert {i["open_id"] for i in exported["identities"]} == set(WANG.open_ids.values())
            assert len(exported["orders"]) >= 1
            await a.screenshot(path=str(ARTIFACTS / "compliance-export-1280x800.png"))

            # A's form: not a profile, in words next to the form.
            await a.fill("#dsr-new-profile", "no-such-profile")
            await a.fill("#dsr-new-reason", REASON)
            await a.click("#dsr-new-go")
            await a.wait_for_selector("#dsr-new-status.problem")
            assert (await a.inner_text("#dsr-new-status")).startswith(("查无此记录", "输入有误"))
            assert await a.get_attribute("#dsr-new-profile", "aria-invalid") == "true"

            # A requests 陈思远's erasure, and an anonymization of 王芳 (made overdue below).
            chen = await request_erasure(a, CHEN.public_id, "DELETE")
            assert "待审批" in await a.inner_text("#dsr-facts")
            assert await a.is_disabled("#dsr-approve")
            why = await a.inner_text("#dsr-approve-why")
            assert "需要另一位合规专员审批" in why and "four eyes" in why
            assert await a.get_attribute("#dsr-approve", "aria-describedby") == "dsr-approve-why"
            # Forced past the button, the server refuses, and the page says so in words.
            assert await a.evaluate(FORCED, chen) == "CONFLICT"
            await a.evaluate(
                "() => { const b = document.getElementById('dsr-approve');"
                " b.disabled = false; b.click(); }"
            )
            await a.wait_for_selector("#dsr-approve-status.problem")
            refused = await a.inner_text("#dsr-approve-status")
            assert "服务端拒绝" in refused and "与当前状态冲突" in refused
            assert "different compliance officer" in refused
            assert await a.is_disabled("#dsr-approve")
            await a.locator("#dsr-detail").scroll_into_view_if_needed()
            await a.screenshot(path=str(ARTIFACTS / "compliance-four-eyes-1280x800.png"))

            wang = await request_erasure(a, WANG.public_id, "ANONYMIZE")
            async with database.transaction() as session:
                await session.execute(
                    sa.update(ErasureRequest)
                    .where(col(ErasureRequest.public_id) == wang)
                    .values(due_at=datetime.now(UTC) - timedelta(days=2))
                )

            # Officer B: both wait for approval; 王芳's is overdue, in words and a class.
            await sign_in(b, server.url, OFFICER_B)
            await b.click("#desk-requests .dsr-filters [data-status=PENDING]")
            await settled(b)
            await b.wait_for_selector(f"#dsr-queue tr[data-request='{chen}']")
            assert (
                await b.get_attribute("#desk-requests [data-status=PENDING]", "aria-pressed")
                == "true"
            )
            rows = b.locator("#dsr-queue tbody tr")
            assert await rows.count() == 2
            assert await rows.nth(0).get_attribute("data-request") == wang  # newest first
            late = b.locator(f"#dsr-queue tr[data-request='{wang}']")
            assert "overdue" in (await late.get_attribute("class") or "")
            assert "逾期" in await late.inner_text()
            on_time = b.locator(f"#dsr-queue tr[data-request='{chen}']")
            assert "overdue" not in (await on_time.get_attribute("class") or "")
            assert "逾期" not in await on_time.inner_text()
            assert (
                "待审批" in await on_time.inner_text() and OFFICER_A in await on_time.inner_text()
            )
            assert "1 overdue" in await b.inner_text("#dsr-queue-status")
            # Each row names its person by public id while the request is open.
            assert await on_time.locator(".dsr-person code").get_attribute("title") == (
                CHEN.public_id
            )
            assert await late.locator(".dsr-person code").get_attribute("title") == (WANG.public_id)

            # The overdue filter: 王芳's alone, that button pressed and no other.
            await b.click("#desk-requests .dsr-filters [data-overdue]")
            await settled(b)
            await b.wait_for_function(
                "() => document.querySelectorAll('#dsr-queue tbody tr').length === 1"
            )
            assert await rows.nth(0).get_attribute("data-request") == wang
            pressed = await b.eval_on_selector_all(
                "#desk-requests .dsr-filters [aria-pressed=true]", "l => l.length"
            )
            assert pressed == 1
            assert await b.get_attribute("#desk-requests [data-overdue]", "aria-pressed") == "true"
            await b.click("#desk-requests .dsr-filters [data-status=PENDING]")
            await settled(b)
            await b.wait_for_selector(f"#dsr-queue tr[data-request='{chen}']")

            # B opens 陈思远's request from the queue by keyboard.
            await on_time.locator("a").focus()
            await b.keyboard.press("Enter")
            await b.wait_for_url(re.compile(f"#/requests/{chen}$"))
            await b.wait_for_selector("#dsr-detail-body:not([hidden])")
            assert await b.is_enabled("#dsr-approve")
            assert "需要另一位" not in await b.inner_text("#dsr-approve-why")
            assert CHEN.public_id in await b.inner_text("#dsr-facts .dsr-person")
            states = await b.eval_on_selector_all(
                "#dsr-steps li", "l => l.map(i => i.dataset.state)"
            )
            assert states == ["done"] + ["waiting"] * 6

            # The approval's answer is held until the page has shown every step done:
            # the live list comes from polling while the approval is in flight.
            held: list[str] = []

            async def hold_the_approval(route: Route) -> None:
                if "DeskApproveErasure" not in (route.request.post_data or ""):
                    await route.continue_()
                    return
                answer = await route.fetch()
                await b.wait_for_selector(DONE, timeout=30_000)
                held.append(await b.inner_text("#dsr-approve-status"))
                await route.fulfill(response=answer)

            await b.route("**/graphql", hold_the_approval)
            await b.click("#dsr-approve")
            await b.wait_for_selector("#dsr-approve-status.ok", timeout=60_000)
            await b.unroute("**/graphql")
            assert held and "正在执行" in held[0], held
            states = await b.eval_on_selector_all(
                "#dsr-steps li", "l => l.map(i => i.dataset.state)"
            )
            assert states == ["done"] * 7
            assert "已完成" in await b.inner_text("#dsr-facts")
            assert OFFICER_B in await b.inner_text("#dsr-facts")
            # Completed, the public id is gone (suppressed): the surrogate id names it.
            person = await b.inner_text("#dsr-facts .dsr-person")
            assert CHEN.public_id not in person and "surrogate" in person

            # The receipt: counts per table and the verification scan, passed.
            receipt = await b.inner_text("#dsr-receipt")
            assert "清除 Purge" in receipt and "身份 identities" in receipt
            assert "销毁的数据密钥" in receipt
            scan = await b.inner_text("#dsr-receipt .dsr-scan.passed")
            assert "通过 passed" in scan
            checked = await b.locator("#dsr-receipt .dsr-checked li").all_inner_texts()
            assert "data_keys" in checked and "profiles.phone_bidx" in checked
            await b.click("#dsr-raw summary")
            raw = json.loads(await b.inner_text("#dsr-raw-json"))
            assert raw["verify"]["clean"] is True and raw["purge"]["profiles"] == 1
            await b.locator("#dsr-steps").scroll_into_view_if_needed()
            await b.screenshot(path=str(ARTIFACTS / "compliance-receipt-1280x800.png"))

            # Done: the poll has stopped.
            polled = len(finds)
            await asyncio.sleep(POLLS)
            assert len(finds) == polled, "the page still polls a completed request"

            # The queue, everything: 陈思远's completed, 王芳's overdue and pending.
            await b.click("#desk-requests .dsr-filters [data-status='']")
            await settled(b)
            await b.wait_for_selector(
                f"#dsr-queue tr[data-request='{chen}'][data-status=COMPLETED]"
            )
            done_row = b.locator(f"#dsr-queue tr[data-request='{chen}'] .dsr-person")
            assert (await done_row.inner_text()).startswith("#")
            assert await rows.count() == 2
            await b.evaluate("document.getElementById('requests-title').scrollIntoView()")
            await b.screenshot(path=str(ARTIFACTS / "compliance-requests-1280x800.png"))
            if os.environ.get("CDP_UPDATE_DOCS_SCREENSHOTS") == "1" and backend == "sqlite":
                # The README's tour picture, refreshed on purpose only.
                DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ARTIFACTS / "compliance-requests-1280x800.png", DOCS_SHOT)

            await b.set_viewport_size({"width": 768, "height": 1024})
            await b.screenshot(path=str(ARTIFACTS / "compliance-requests-768.png"), full_page=True)
            width = await b.evaluate("document.documentElement.scrollWidth")
            assert width <= 768, f"the page scrolls sideways at 768 ({width}px)"

            # The erased person cannot be asked for again: SUPPRESSED, in words.
            await a.goto(f"{server.url}/console/#/requests")
            await a.wait_for_selector("#desk-requests:not([hidden])")
            await a.fill("#dsr-new-profile", CHEN.public_id)
            await a.fill("#dsr-new-reason", REASON)
            await a.click("#dsr-new-go")
            await a.wait_for_selector("#dsr-new-status.problem")
            assert "屏蔽" in await a.inner_text("#dsr-new-status")

            # An approval left executing (its server stopped, say): B's page polls it,
            # and stops when B leaves the desk.
            async with database.transaction() as session:
                await session.execute(
                    sa.update(ErasureRequest)
                    .where(col(ErasureRequest.public_id) == wang)
                    .values(
                        status=ErasureStatus.EXECUTING,
                        approved_by="development:officer-c",
                        approved_at=datetime.now(UTC),
                    )
                )
            await b.set_viewport_size(size)
            await b.click(f"#dsr-queue tr[data-request='{wang}'] a")
            await b.wait_for_selector(f"#dsr-facts :text('{wang}')")
            assert "执行中" in await b.inner_text("#dsr-facts")
            assert "逾期" in await b.inner_text("#dsr-facts")
            assert "继续执行" in await b.inner_text("#dsr-approve")
            running = b.locator("#dsr-steps li[data-state=running]")
            assert await running.get_attribute("data-step") == "COLLECT"
            await b.locator("#dsr-steps").scroll_into_view_if_needed()
            await b.screenshot(path=str(ARTIFACTS / "compliance-executing-1280x800.png"))
            polled = len(finds)
            await asyncio.sleep(POLLS)
            assert len(finds) > polled + 1, "an executing request is not polled"
            await b.click("#nav a[data-desk=support]")
            await b.wait_for_selector("#desk-requests", state="hidden")
            await asyncio.sleep(0.1)
            polled = len(finds)
            await asyncio.sleep(POLLS)
            assert len(finds) == polled, "the page polls a desk it has left"

            # A queue longer than a page (10) pages with its "more" button.
            async with database.transaction() as session:
                others = (
                    await session.scalars(
                        sa.select(col(Profile.public_id))
                        .where(col(Profile.public_id).not_in([WANG.public_id]))
                        .order_by(col(Profile.id))
                        .limit(10)
                    )
                ).all()
            officer_c = client_for(Role.COMPLIANCE, subject="officer-c")
            for other in others:
                given = {"profileId": other, "mode": "DELETE", "reason": REASON}
                made = await officer_c.post(
                    "/graphql", json={"query": REQUEST, "variables": {"input": given}}
                )
                assert made.json()["data"]["requestErasure"]["status"] == "PENDING", made.text
            await b.click("#nav a[data-desk=requests]")
            await b.wait_for_selector("#desk-requests:not([hidden])")
            await settled(b)
            assert await rows.count() == 10
            await b.click("#dsr-queue-more")
            await settled(b)
            assert await rows.count() == 12
            assert await b.is_hidden("#dsr-queue-more")
            assert await b.locator("#dsr-queue tr.overdue").count() == 1

    assert problems == [], problems
    approvals = [
        (r.actor_subject, r.outcome) for r in await records_of(database, "erasure.approve")
    ]
    # A's two forced approvals refused and recorded; B's the one that went through.
    assert sorted(approvals) == [
        (OFFICER_A, "conflict"),
        (OFFICER_A, "conflict"),
        (OFFICER_B, "ok"),
    ], approvals
    exports = await records_of(database, "export")
    assert [e.purpose for e in exports] == [EXPORT_PURPOSE]


async def look_up(page: Any, profile_id: str) -> None:
    """The support desk's lookup of one person by member id, for a ticket and a reason."""
    await page.click("#nav a[data-desk=support]")
    await page.wait_for_selector("#desk-support:not([hidden])")
    await page.select_option("#key-kind", "id")
    await page.fill("#key-value", profile_id)
    await page.fill("#ticket", "DSR-1026")
    await page.fill("#reason", "本人申请删除")
    await page.click("#lookup-go")
    await page.wait_for_selector("#card:not([hidden]) .contact")


async def test_compliance_opens_the_erasure_desks_forms_from_a_support_card_and_support_cannot(
    chromium: str,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
) -> None:
    await seed_demo_data(
        database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=20
    )
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    problems: list[str] = []
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            size = {"width": 1280, "height": 800}
            officer = await (await browser.new_context(viewport=size)).new_page()
            agent = await (await browser.new_context(viewport=size)).new_page()
            for page in (officer, agent):
                page.on("pageerror", lambda e: problems.append(str(e)))

            # Compliance: 王芳's card has both links, to the desk's forms for her.
            await sign_in(officer, server.url, OFFICER_A)
            await look_up(officer, WANG.public_id)
            links = officer.locator("#card a[href^='#/requests/']")
            assert await links.all_inner_texts() == [
                "导出此人数据 export",
                "申请删除 request erasure",
            ]
            for n in range(2):
                href = await links.nth(n).get_attribute("href")
                assert href == f"#/requests/new/{WANG.public_id}"
            for name in ("导出此人数据", "申请删除"):
                await officer.click("#nav a[data-desk=support]")
                await officer.click(f"#card a:has-text('{name}')")
                await officer.wait_for_url(re.compile(f"#/requests/new/{WANG.public_id}$"))
                await officer.wait_for_selector("#desk-requests:not([hidden])")
                for field in ("#dsr-new-profile", "#dsr-export-profile"):
                    assert await officer.input_value(field) == WANG.public_id, (name, field)
                assert await officer.is_hidden("#dsr-detail")
                focused = await officer.evaluate("document.activeElement.id")
                assert focused == "dsr-new-reason", name
                await officer.fill("#dsr-new-profile", "")
                await officer.fill("#dsr-export-profile", "")
            # The filled-in form requests her erasure: the request names her.
            await officer.click("#nav a[data-desk=support]")
            await officer.click("#card a:has-text('申请删除')")
            await officer.wait_for_selector("#desk-requests:not([hidden])")
            await officer.keyboard.type(REASON)
            await officer.keyboard.press("Enter")
            await officer.wait_for_url(re.compile(r"#/requests/(?!new/)[\w-]+$"))
            await officer.wait_for_selector("#dsr-detail-body:not([hidden])")
            assert WANG.public_id in await officer.inner_text("#dsr-facts .dsr-person")

            # Support: the same card, and neither link.
            await agent.goto(f"{server.url}/console/")
            await agent.wait_for_selector("#signed-out:not([hidden])")
            forms = agent.locator('form[action="/auth/staff/dev"]')
            assert await forms.first.locator("input[name=role]").get_attribute("value") == (
                "support"
            )
            await forms.first.locator("button").click()
            await agent.wait_for_selector("#desk-support:not([hidden])")
            await look_up(agent, CHEN.public_id)
            assert CHEN.public_id in await agent.inner_text("#card")
            assert await agent.locator("#card a[href^='#/requests/']").count() == 0
            card = await agent.inner_text("#card")
            assert "导出此人数据" not in card and "申请删除" not in card
    assert problems == [], problems
