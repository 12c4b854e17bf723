"""The analyst dashboard in headless Chromium, on both databases, over a seeded month
(dashboard_seed.py, minimum group size 5): an analyst signs in with the page's development
button and sees every measure drawn on a canvas with a table whose numbers are the API's; a
group under 5 is drawn grey and hatched at a placeholder height, marked in its table, its
tooltip saying why; the conversion window and the month reload what they change; a month
not yet released says so; a bad range is refused in words, by the page or by the server; and
the page asks nothing of any origin but cdp's."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cdp.app import create_app
from cdp.auth import Role
from cdp.config import Settings
from cdp.db import Database
from cdp.demo.seed import seed_demo_data
from cdp.devwechat.loopback import LoopbackServer
from cdp.keys.source import KeyringSource
from cdp.keys.store import KeyStore
from cdp.keys.vault import Vault
from tests.conftest import TEST_KEYRING, ClientFactory, make_settings
from tests.console_analytics.dashboard_seed import (
    K,
    month_back,
    released_month,
    seed_a_month,
    today,
)
from tests.support.analytics_measures import ClientAt, everything, measure
from tests.support.console_documents import sent_by_id, trusted_console
from tests.wechat.browser import headless

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
DOCS_SHOT = ROOT / "docs" / "console" / "analyst-dashboard.png"
DEMO_PEOPLE = 300
CHARTS = (
    "membersByTier",
    "membersByFirstChannel",
    "tagCounts",
    "consentOptInRates",
    "ordersBySource",
    "conversionByChannel",
    "repurchaseRate",
    "retention",
)
CARDS = 20  # the eight breakdowns, then the trends and month breakdowns of analytics_trends.js
SETTLED = """() => {
  const cards = [...document.querySelectorAll('.chart-card')];
  return cards.length === 20
    && cards.every((c) => c.dataset.state && c.dataset.state !== 'loading');
}"""
# Each row of a chart's table: its key and the numbers of its cells, null where suppressed.
TABLE = """(name) => [...document.querySelectorAll(`#chart-${name} tbody tr`)].map((tr) => [
  tr.dataset.key,
  [...tr.querySelectorAll('td[data-value]')].map((td) =>
    td.dataset.suppressed === 'true' ? null : Number(td.dataset.value)),
])"""
OPTION = """(name) => {
  const box = document.querySelector(`#chart-${name} .chart`);
  return echarts.getInstanceByDom(box).getOption().series.map((s) => s.data);
}"""
SHOW_TIP = """([name, index]) => echarts.getInstanceByDom(
  document.querySelector(`#chart-${name} .chart`)
).dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: index })"""
STATES = """() => Object.fromEntries([...document.querySelectorAll('.chart-card')].map(
  (c) => [c.dataset.measure, c.dataset.state]))"""


def drawn(states: dict[str, str]) -> set[str]:
    """The states of the breakdowns' cards (the trends have their own test)."""
    return {states[name] for name in CHARTS}


def rate(cell: dict[str, Any]) -> float | None:
    return None if cell["suppressed"] else cell["rate"]


def rows_of(name: str, value: Any) -> list[list[Any]]:
    """The rows the dashboard's table shows for a measure as the API answers it."""
    if name in ("membersByTier", "membersByFirstChannel", "tagCounts"):
        rows = [[c["key"], [c["count"]]] for c in value["cells"]]
        return rows if name == "tagCounts" else [*rows, ["total", [value["total"]]]]
    if name == "consentOptInRates":
        purposes = list(dict.fromkeys(c["key"] for c in value))
        return [[p, [rate(c) for c in value if c["key"] == p]] for p in purposes]
    if name == "ordersBySource":
        rows = [
            [f"{c['source'] or ''}|{c['channel']}", [c["orders"], c["revenueFen"], c["buyers"]]]
            for c in value["cells"]
        ]
        return [*rows, ["total", [value["totalOrders"], value["totalRevenueFen"]]]]
    if name == "retention":
        return [["day7", [rate(value["day7"])]], ["day30", [rate(value["day30"])]]]
    if name == "repurchaseRate":
        return [[value["key"], [rate(value)]]]
    return [[c["key"], [rate(c)]] for c in value]


async def tables_match_the_api(page: Any, api: httpx.AsyncClient, start: str, end: str) -> None:
    answers = await everything(api, start, end)
    assert answers["minimumGroupSize"] == K
    for name in CHARTS:
        assert await page.evaluate(TABLE, name) == rows_of(name, answers[name]), name


async def test_an_analyst_sees_every_measure_drawn_and_a_small_group_drawn_as_suppressed(
    chromium: str,
    database_url: str,
    database: Database,
    vault: Vault,
    client_at: ClientAt,
) -> None:
    await seed_a_month(database, vault)
    api = client_at(Role.ANALYST, k=K)
    settings = make_settings(database_url, analytics_min_group_size=K)
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    graphql: list[str] = []
    problems: list[str] = []
    start, end = released_month(today())
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page(
                viewport={"width": 1280, "height": 800}, timezone_id="Asia/Shanghai"
            )
            page.on("request", lambda r: requested.append(r.url))
            page.on(
                "request",
                lambda r: graphql.append(r.post_data or "") if r.url.endswith("/graphql") else 0,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.add_init_script(
                "window.refused = []; document.addEventListener('securitypolicyviolation',"
                " (e) => window.refused.push(e.effectiveDirective + ' ' + e.blockedURI));"
            )
            await page.goto(f"{server.url}/console/")
            await page.wait_for_selector("#signed-out:not([hidden])")  # the session's 401
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
            dev = page.locator('form[action="/auth/staff/dev"]')
            await dev.nth(1).locator("button").click()  # 数据分析 analyst
            await page.wait_for_selector("#desk-analytics:not([hidden])")
            await page.wait_for_function(SETTLED)

            # Opened on the latest released month, every chart drawn.
            assert await page.input_value("#analytics-from") == start.isoformat()
            assert await page.input_value("#analytics-to") == end.isoformat()
            assert page.url.endswith("#/analytics")
            assert await page.inner_text("#analytics-min-group") == str(K)
            assert drawn(await page.evaluate(STATES)) == {"drawn"}
            for name in CHARTS:
                canvas = page.locator(f"#chart-{name} .chart canvas")
                assert await canvas.count() >= 1, name
                assert (await canvas.first.bounding_box() or {}).get("height", 0) > 200
                assert await page.evaluate(OPTION, name), name
            await tables_match_the_api(page, api, start.isoformat(), end.isoformat())
            # The trends and the month's breakdowns by series: settled, none in error; the 27
            # new members have no birthday given, and were all last seen 8-30 days before
            # the month's end.
            states = await page.evaluate(STATES)
            trends = {n: v for n, v in states.items() if n not in CHARTS}
            assert len(trends) == CARDS - len(CHARTS)
            assert set(trends.values()) <= {"drawn", "empty"}, trends
            assert await page.evaluate(TABLE, "monthAgeBands") == [["(none)", [27]]]
            lapsed = dict(await page.evaluate(TABLE, "monthLapsed"))
            assert lapsed["8-30"] == [27] and lapsed["0-7"] == [None], lapsed
            tiers = await page.inner_text("#chart-membersByTier table")
            assert "15 人" in tiers and "27 人" in tiers
            orders = await page.inner_text("#chart-ordersBySource table")
            # 7 x ¥1,000 from articles; in all 7 x ¥1,000 + 5 x (¥5,000 + ¥38) + 2 x ¥10.
            assert "¥7,000.00" in orders and "¥32,210.00" in orders and "文章 article" in orders

            # Web (2 people) is hidden, and video with it: grey, hatched, not zero.
            first = await page.evaluate(TABLE, "membersByFirstChannel")
            assert first == [
                ["MINI_PROGRAM", [12]],
                ["OFFICIAL_ACCOUNT", [7]],
                ["CHANNELS", [None]],
                ["WEB", [None]],
                ["total", [27]],
            ]
            web = page.locator("#chart-membersByFirstChannel tr[data-key=WEB] td")
            assert await web.inner_text() == f"已隐藏（少于 {K} 人） hidden"
            [bars] = await page.evaluate(OPTION, "membersByFirstChannel")
            by_name = {bar["name"]: bar for bar in bars}
            mini, hidden = by_name["小程序"], by_name["网页"]
            assert mini["value"] == 12 and not mini["suppressed"]
            assert "decal" not in (mini.get("itemStyle") or {})
            assert hidden["suppressed"] is True and 0 < hidden["value"] < 12
            assert hidden["itemStyle"]["color"] == "#d0d7de"
            assert hidden["itemStyle"]["decal"]["dashArrayY"], hidden
            assert hidden["label"]["formatter"] == "已隐藏"
            assert by_name["视频号"]["suppressed"] is True
            status = await page.inner_text("#chart-membersByFirstChannel .chart-status")
            assert f"2 个分组已隐藏以保护隐私（少于 {K} 人" in status
            await page.evaluate(SHOW_TIP, ["membersByFirstChannel", 3])
            tip = page.locator("#chart-membersByFirstChannel .chart-tip")
            await tip.wait_for()
            words = await tip.inner_text()
            assert "网页" in words and f"少于 {K} 人，已隐藏以保护隐私" in words, words
            await page.locator("#chart-membersByFirstChannel").scroll_into_view_if_needed()
            await page.screenshot(path=str(ARTIFACTS / "analyst-dashboard-tooltip.png"))
            await page.evaluate("() => window.scrollTo(0, 0)")
            await page.screenshot(path=str(ARTIFACTS / "analyst-dashboard-1280x800.png"))
            await page.screenshot(
                path=str(ARTIFACTS / "analyst-dashboard-full.png"), full_page=True
            )

            # The conversion window: the VIPs bought 10 days in, so within 7 days the mini
            # program converted nobody (hidden: fewer than 5 did).
            asked = len(graphql)
            await page.fill("#analytics-days", "0")
            await page.press("#analytics-days", "Enter")
            words = await page.inner_text("#chart-conversionByChannel .chart-status")
            assert "天数须为 1 至 365 的整数" in words and len(graphql) == asked
            await page.fill("#analytics-days", "7")
            await page.press("#analytics-days", "Enter")
            await page.wait_for_function(SETTLED)
            assert len(graphql) == asked + 1 and '"days":7' in graphql[-1]
            week = await measure(
                api, "conversionByChannel", start.isoformat(), end.isoformat(), days=7
            )
            assert await page.evaluate(TABLE, "conversionByChannel") == rows_of(
                "conversionByChannel", week
            )
            assert rows_of("conversionByChannel", week)[0] == ["MINI_PROGRAM", [None]]
            await page.fill("#analytics-days", "30")
            await page.press("#analytics-days", "Enter")
            await page.wait_for_function(SETTLED)

            # By keyboard: Tab from the apply button to the first preset, focus visible, Tab
            # on to three months ago and Enter: every chart reloads, for a month with nobody
            # new (released: it is older than the seeded one).
            await page.focus("#analytics-apply")
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "() => [document.activeElement.dataset.preset,"
                " getComputedStyle(document.activeElement).outlineStyle]"
            )
            assert focused[0] == "released" and focused[1] != "none", focused
            for _ in range(3):
                await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.dataset.preset") == "month3"
            asked = len(graphql)
            await page.keyboard.press("Enter")
            await page.wait_for_function(SETTLED)
            assert len(graphql) == asked + CARDS
            older, older_end = month_back(today(), 3)
            if older == start:  # the seeded month is three months back: go one further
                older, older_end = month_back(today(), 4)
                await page.fill("#analytics-from", older.isoformat())
                await page.fill("#analytics-to", older_end.isoformat())
                asked = len(graphql)
                await page.click("#analytics-apply")
                await page.wait_for_function(SETTLED)
            assert all(older.isoformat() in body for body in graphql[asked:])
            assert page.url.endswith(f"#/analytics/{older}/{older_end}")
            await tables_match_the_api(page, api, older.isoformat(), older_end.isoformat())
            states = await page.evaluate(STATES)
            assert states["tagCounts"] == states["ordersBySource"] == "empty", states
            assert "没有数据" in await page.inner_text("#chart-tagCounts .chart-status")
            assert "全部分组少于" in await page.inner_text("#chart-membersByTier .chart-status")

            # Last month is over, but its conversion and retention wait 30 days more: those
            # cards say so, the others answer.
            await page.click("[data-preset=month1]")
            await page.wait_for_function(SETTLED)
            states = await page.evaluate(STATES)
            assert states["conversionByChannel"] == states["retention"] == "pending", states
            assert "尚未发布" in await page.inner_text("#chart-retention .chart-status")
            assert states["tagCounts"] == "empty", states

            # Bad ranges: refused by the page in words (nothing asked), or by the server.
            asked = len(graphql)
            await page.fill("#analytics-from", end.isoformat())
            await page.fill("#analytics-to", (end - timedelta(days=1)).isoformat())
            await page.click("#analytics-apply")
            assert "结束日期不能早于开始日期" in await page.inner_text("#analytics-status")
            assert await page.get_attribute("#analytics-to", "aria-invalid") == "true"
            assert await page.evaluate("document.activeElement.id") == "analytics-to"
            await page.fill("#analytics-from", "2000-01-01")
            await page.fill("#analytics-to", end.isoformat())
            await page.click("#analytics-apply")
            assert "同一个自然月" in await page.inner_text("#analytics-status")
            assert len(graphql) == asked
            await page.fill("#analytics-from", "1969-12-01")
            await page.fill("#analytics-to", "1969-12-31")
            await page.click("#analytics-apply")
            await page.wait_for_function(SETTLED)
            words = await page.inner_text("#analytics-status")
            assert "查询范围有误" in words and "输入有误" in words and "from" in words, words
            assert set((await page.evaluate(STATES)).values()) == {"error"}
            assert "输入有误" in await page.inner_text("#chart-retention .chart-status")
            assert await page.get_attribute("#analytics-from", "aria-invalid") == "true"

            # Back to the month; on a tablet, one chart a row, nothing wider than the page.
            await page.click("[data-preset=released]")
            await page.wait_for_function(SETTLED)
            assert drawn(await page.evaluate(STATES)) == {"drawn"}
            await page.set_viewport_size({"width": 768, "height": 1024})
            await page.wait_for_timeout(300)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 768, f"the page scrolls sideways at 768 ({width}px)"
            for name in CHARTS:
                card = await page.locator(f"#chart-{name}").bounding_box()
                canvas = await page.locator(f"#chart-{name} .chart canvas").bounding_box()
                assert card and canvas and canvas["width"] <= card["width"], name
                assert canvas["width"] > 600, (name, canvas)  # grown to the one column
            await page.screenshot(path=str(ARTIFACTS / "analyst-dashboard-768.png"), full_page=True)
            refused = await page.evaluate("window.refused")

    assert problems == [] and refused == [], (problems, refused)
    origin = urlsplit(server.url).netloc
    assert {urlsplit(url).netloc for url in requested} == {origin}, requested
    assert any("/console/vendor/echarts@" in url for url in requested)
    # Every measure was asked for by its trusted document's id, none by text.
    sent_by_id(graphql)
    assert len({json.loads(body)["documentId"] for body in graphql}) == CARDS


async def test_the_dashboard_draws_a_year_of_the_demo_brand(
    chromium: str,
    settings: Settings,
    database: Database,
    keystore: KeyStore,
    client_for: ClientFactory,
    backend: str,
) -> None:
    """The demo data (`cdp demo-data`) two months ago, at the default minimum group size:
    every chart drawn, its numbers the API's; the README's picture."""

    await seed_demo_data(
        database, KeyringSource.fixed(TEST_KEYRING), keystore=keystore, profiles=DEMO_PEOPLE
    )
    start, end = month_back(today(), 2)
    app = create_app(trusted_console(settings), None, KeyringSource.fixed(TEST_KEYRING))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with LoopbackServer(app) as server:
        async with headless(chromium) as browser:
            page = await browser.new_page(
                viewport={"width": 1280, "height": 800}, timezone_id="Asia/Shanghai"
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{server.url}/console/")
            await page.wait_for_selector("#signed-out:not([hidden])")
            await page.locator('form[action="/auth/staff/dev"]').nth(1).locator("button").click()
            await page.wait_for_selector("#desk-analytics:not([hidden])")
            # Signing in lands on #/analytics: two months ago is a preset away.
            await page.click("[data-preset=month2]")
            await page.wait_for_function(SETTLED)
            assert await page.input_value("#analytics-from") == start.isoformat()
            # The range chosen is in the address: reloading the page keeps it.
            assert page.url.endswith(f"#/analytics/{start}/{end}")
            await page.reload()
            await page.wait_for_selector("#desk-analytics:not([hidden])")
            await page.wait_for_function(SETTLED)
            assert await page.input_value("#analytics-from") == start.isoformat()
            assert await page.get_attribute("[data-preset=month2]", "aria-pressed") == "true"
            assert drawn(await page.evaluate(STATES)) == {"drawn"}
            analyst = client_for(Role.ANALYST)
            answers = await everything(analyst, start.isoformat(), end.isoformat())
            for name in CHARTS:
                assert await page.evaluate(TABLE, name) == rows_of(name, answers[name]), name
            # The picture: the desk from its title, a hidden tier's tooltip showing.
            keys = [row[0] for row in rows_of("membersByTier", answers["membersByTier"])]
            tier = [c["key"] for c in answers["membersByTier"]["cells"] if c["suppressed"]]
            if tier:
                await page.evaluate(SHOW_TIP, ["membersByTier", keys.index(tier[0])])
                await page.locator("#chart-membersByTier .chart-tip").wait_for()
            await page.evaluate("document.getElementById('analytics-title').scrollIntoView()")
            await page.screenshot(path=str(ARTIFACTS / "analyst-dashboard-demo-1280x800.png"))
            await page.screenshot(
                path=str(ARTIFACTS / "analyst-dashboard-demo-full.png"), full_page=True
            )
            if os.environ.get("CDP_UPDATE_DOCS_SCREENSHOTS") == "1" and backend == "sqlite":
                # The README's tour picture, refreshed on purpose only: a run of the suite
                # leaves the working tree as it found it.
                DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ARTIFACTS / "analyst-dashboard-demo-1280x800.png", DOCS_SHOT)
    assert problems == [], problems
